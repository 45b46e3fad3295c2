// Prompt ids of questions over one workspace context, joined from the files' own ids instead of tokenizing the
// whole context again for every question (checked once against the whole prompt's encoding).
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

function sameIds(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

export class ContextPrompt {
  readonly joinable: boolean;
  private text: string | undefined;

  /**
   * `joinable`: whether the ids of the text before the context, of each file block, and of the last block with
   * the text after it join into the ids of the whole prompt. Undefined = check it now (one encode of the whole
   * prompt); an update of a checked context passes the checked value: every join is of the same kind.
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

  private contextText(): string {
    this.text ??= this.blocks.map((block) => block.text).join('');
    return this.text;
  }

  private whole(question: string, history?: readonly ChatTurn[]): number[] {
    return this.prompt.encode(this.contextText(), question, history);
  }

  /** Joined ids, or undefined when the template does not show the context once, as given. */
  private join(question: string, history?: readonly ChatTurn[]): number[] | undefined {
    const last = this.blocks.at(-1);
    if (last === undefined) return undefined;
    const parts = this.prompt.render(PLACEHOLDER, question, history).split(PLACEHOLDER);
    if (parts.length !== 2) return undefined;
    const ids = this.prompt.tokenize(parts[0]);
    for (const block of this.blocks.slice(0, -1)) for (const id of block.ids) ids.push(id);
    for (const id of this.prompt.tokenize(last.text + parts[1])) ids.push(id);
    return ids;
  }

  private checkJoin(): boolean {
    const joined = this.join(CHECK_QUESTION);
    return joined !== undefined && sameIds(joined, this.whole(CHECK_QUESTION));
  }
}
