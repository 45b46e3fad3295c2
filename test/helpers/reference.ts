// Independent references for the engine's answers: the prompt rendered here from the chat template and the
// tokenizer, and the answer of a fresh native session prefilled in one pass.
import { SYSTEM_PROMPT } from '../../extension/engine/answer/prompt';
import { streamAnswer } from '../../extension/engine/answer/stream';
import { GREEDY } from '../../extension/engine/generate';
import type { LoadedModel } from '../../extension/engine/model/load';
import { loadChatTemplate, type ChatMessage } from '../../extension/engine/text/chat-template';
import type { TextTokenizer } from '../../extension/engine/text/tokenizer';
import { buildContext, contextText, type WorkspaceContext } from '../../extension/engine/workspace';

export interface ReferenceOptions {
  /** Editor buffers by absolute path. */
  buffers?: ReadonlyMap<string, string>;
  /** Earlier turns, oldest first. */
  history?: { question: string; answer: string }[];
}

function tokenizerOf(model: LoadedModel): TextTokenizer {
  if (!model.tokenizer) throw new Error('the reference model was loaded without its tokenizer');
  return model.tokenizer;
}

/** The context buildContext makes of `root` with the model's tokenizer. */
export function referenceContext(
  model: LoadedModel,
  root: string,
  budget: number,
  buffers?: ReadonlyMap<string, string>,
): Promise<WorkspaceContext> {
  const tokenizer = tokenizerOf(model);
  const tokenize = (text: string) => tokenizer.encode(text, { addSpecialTokens: false });
  return buildContext({ roots: [root], budget, tokenize, buffers });
}

/** The messages of a question: system, the context with the first question, then the turns in order. */
export function referenceMessages(
  context: string,
  question: string,
  history: ReferenceOptions['history'] = [],
) {
  const questions = [...history.map((turn) => turn.question), question];
  const messages: ChatMessage[] = [
    { role: 'system', content: SYSTEM_PROMPT },
    { role: 'user', content: `${context}\nQuestion: ${questions[0]}` },
  ];
  history.forEach((turn, i) => {
    messages.push({ role: 'assistant', content: turn.answer }, { role: 'user', content: questions[i + 1] });
  });
  return messages;
}

/** The prompt ids of a question over `root`. */
export async function referencePrompt(
  model: LoadedModel,
  root: string,
  budget: number,
  question: string,
  options: ReferenceOptions = {},
): Promise<number[]> {
  const tokenizer = tokenizerOf(model);
  const context = await referenceContext(model, root, budget, options.buffers);
  const template = loadChatTemplate(model.dir, tokenizer.config, tokenizer.specialTokens);
  const text = template.render(referenceMessages(contextText(context), question, options.history));
  return tokenizer.encode(text, { addSpecialTokens: false });
}

/** The answer of a fresh session prefilled in one pass (greedy unless a temperature is given). */
export async function referenceAnswer(
  model: LoadedModel,
  ids: number[],
  maxTokens: number,
  temperature = 0,
  seed = 0,
): Promise<string> {
  const run = await streamAnswer(model.native, tokenizerOf(model), ids, {
    maxTokens,
    sampling: { ...GREEDY, temperature },
    seed,
    onText: () => undefined,
  });
  return run.answer;
}
