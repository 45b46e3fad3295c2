// The prompt of a workspace question: a system prompt asking for `path:line` citations, then context + question.
import { HipError } from '../errors';
import type { ChatTurn } from '../protocol';
import type { ChatMessage } from '../text/chat-template';
import { loadChatTemplate } from '../text/chat-template';
import type { TextTokenizer } from '../text/tokenizer';

export type { ChatTurn };

/** Kept short: it is paid for in every prompt, and small models have small contexts. The files come in
 * `<file path="…" language="…">` blocks before the question. */
export const SYSTEM_PROMPT =
  'Answer from the workspace files given only. Cite path:line for every claim. If they lack the answer, say so.';

/** The user message: the rendered workspace context, then the question. */
export function userMessage(contextText: string, question: string): string {
  return `${contextText}\nQuestion: ${question}`;
}

/**
 * The messages of a workspace question: the system prompt, then the context with the conversation's first
 * question (so the context stays a prefix of every turn's prompt), then the earlier answers and questions
 * alternating, oldest first, ending with `question`.
 */
export function askMessages(
  contextText: string,
  question: string,
  history: readonly ChatTurn[] = [],
): ChatMessage[] {
  if (question.trim() === '') {
    throw new HipError('E_INVALID_ARGUMENT', 'the question is empty; ask something about the workspace');
  }
  const questions = [...history.map((turn) => turn.question), question];
  const messages: ChatMessage[] = [
    { role: 'system', content: SYSTEM_PROMPT },
    { role: 'user', content: userMessage(contextText, questions[0]) },
  ];
  history.forEach((turn, i) => {
    messages.push({ role: 'assistant', content: turn.answer }, { role: 'user', content: questions[i + 1] });
  });
  return messages;
}

/** A renderer of workspace questions into prompt ids with the model's chat template. */
export interface AskPrompt {
  /** The prompt ids of `question` over `contextText` after `history`, with the generation prompt. */
  encode(contextText: string, question: string, history?: readonly ChatTurn[]): number[];
  /** Tokens the prompt takes beyond the context (system prompt, template, history, question). */
  overhead(question: string, history?: readonly ChatTurn[]): number;
  /** The prompt's text (what encode tokenizes). */
  render(contextText: string, question: string, history?: readonly ChatTurn[]): string;
  /** Tokenizes prompt text as encode does (no special tokens added: the template holds them). */
  tokenize(text: string): number[];
}

/** Builds the prompt renderer of the model in `dir` (E_TEMPLATE when it has no chat template). */
export function askPrompt(dir: string, tokenizer: TextTokenizer): AskPrompt {
  const template = loadChatTemplate(dir, tokenizer.config, tokenizer.specialTokens);
  const render = (contextText: string, question: string, history?: readonly ChatTurn[]): string =>
    template.render(askMessages(contextText, question, history), true);
  const tokenize = (text: string): number[] => tokenizer.encode(text, { addSpecialTokens: false });
  const encode = (contextText: string, question: string, history?: readonly ChatTurn[]): number[] =>
    tokenize(render(contextText, question, history));
  return { encode, overhead: (question, history) => encode('', question, history).length, render, tokenize };
}

/** Tokens kept free where the context meets the template (the prompt is encoded as one text). */
export const BOUNDARY_MARGIN = 8;
const DEFAULT_ANSWER_TOKENS = 512;

/** Default answer length: 512 tokens, at most a quarter of the model's context (at least 1). */
export function defaultAnswerTokens(modelContext: number): number {
  return Math.max(1, Math.min(DEFAULT_ANSWER_TOKENS, Math.floor(modelContext / 4)));
}
