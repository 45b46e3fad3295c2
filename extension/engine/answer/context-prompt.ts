// Prompt ids of questions over one workspace context, joined from the files' own ids instead of tokenizing the
// whole context again for every question (checked on a sample of the blocks against encoding them whole).
import type { AskPrompt, ChatTurn } from './prompt';

/** A rendered file of the context: its block and the block's ids. */
export interface ContextBlock {
  text: string;
  ids: readonly number[];
}

/** Stands for the context while the template renders; never tokenized. */
const PLACEHOLDER = '\u0000hipcode-context\u0000';

/** The question the join is checked with. */
const CHECK_QUESTION = '?';

/** Blocks the join is checked on: the first, the last and some between; every seam of the prompt is of a kind
 * these have (before the first block, between two blocks, the last block with the text after it), and checking
 * them all would tokenize the whole context again on the event loop (seconds at a million tokens). */
const CHECK_BLOCKS = 8;

/** Up to `count` blocks spread evenly over `blocks`, the first and the last included, in order. */
function sample<T>(blocks: readonly T[], count: number): T[] {
  if (blocks.length <= count) return [...blocks];
  const step = (blocks.length - 1) / (count - 1);
  return Array.from({ length: count }, (_, i) => blocks[Math.round(i * step)]);
}

function sameIds(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

export class ContextPrompt {
  readonly joinable: boolean;
  private text: string | undefined;

  /**
   * `joinable`: whether the ids of the text before the context, of each file block, and of the last block with
   * the text after it join into the ids of the whole prompt. Undefined = check it now, on a sample of the blocks;
   * an update of a checked context passes the checked value: its seams are of the same kinds.
   */
  constructor(
    private readonly prompt: AskPrompt,
    private readonly blocks: readonly ContextBlock[],
    joinable?: boolean,
  ) {
    this.joinable = joinable ?? this.checkJoin();
  }

  /** The prompt ids of `question` after `history` (the same as AskPrompt.encode over the context text). */
  encode(question: string, history?: readonly ChatTurn[]): number[] {
    return (this.joinable && this.join(question, history)) || this.whole(question, history);
  }

  /** Tokens the prompt takes beyond the context. */
  overhead(question: string, history?: readonly ChatTurn[]): number {
    return this.prompt.overhead(question, history);
  }

  private whole(question: string, history?: readonly ChatTurn[]): number[] {
    this.text ??= textOf(this.blocks);
    return this.prompt.encode(this.text, question, history);
  }

  private join(question: string, history?: readonly ChatTurn[]): number[] | undefined {
    return joinIds(this.prompt, this.blocks, question, history);
  }

  private checkJoin(): boolean {
    const blocks = sample(this.blocks, CHECK_BLOCKS);
    const joined = joinIds(this.prompt, blocks, CHECK_QUESTION);
    return joined !== undefined && sameIds(joined, this.prompt.encode(textOf(blocks), CHECK_QUESTION));
  }
}

function textOf(blocks: readonly ContextBlock[]): string {
  return blocks.map((block) => block.text).join('');
}

/** The prompt ids joined from the blocks' ids, or undefined when the template does not show the context once. */
function joinIds(
  prompt: AskPrompt,
  blocks: readonly ContextBlock[],
  question: string,
  history?: readonly ChatTurn[],
): number[] | undefined {
  const last = blocks.at(-1);
  if (last === undefined) return undefined;
  const parts = prompt.render(PLACEHOLDER, question, history).split(PLACEHOLDER);
  if (parts.length !== 2) return undefined;
  const ids = prompt.tokenize(parts[0]);
  for (const block of blocks.slice(0, -1)) for (const id of block.ids) ids.push(id);
  for (const id of prompt.tokenize(last.text + parts[1])) ids.push(id);
  return ids;
}
