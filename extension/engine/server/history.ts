// The conversation of an ask: its earlier turns validated, and the oldest dropped when they do not fit.
import type { ContextPrompt } from '../answer/context-prompt';
import { BOUNDARY_MARGIN, type ChatTurn } from '../answer/prompt';
import { HipError } from '../errors';

function invalid(message: string): HipError {
  return new HipError('E_INVALID_ARGUMENT', message);
}

/** AskParams.history checked field by field (absent = no earlier turns). */
export function historyParam(value: unknown): ChatTurn[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value))
    throw invalid(`history must be an array of {question, answer}, got ${typeof value}`);
  return value.map((turn: unknown, i) => {
    const { question, answer } = (typeof turn === 'object' && turn !== null ? turn : {}) as Partial<ChatTurn>;
    if (typeof question !== 'string' || question.trim() === '') {
      throw invalid(`history[${i}].question must be a non-empty string`);
    }
    if (typeof answer !== 'string') throw invalid(`history[${i}].answer must be a string`);
    return { question, answer };
  });
}

export interface FittedPrompt {
  ids: number[];
  /** Oldest turns left out so that the prompt and `reserve` answer tokens fit. */
  dropped: number;
}

export interface FitOptions {
  prompt: ContextPrompt;
  contextTokens: number;
  question: string;
  history: readonly ChatTurn[];
  /** Answer tokens to keep room for. */
  reserve: number;
  modelContext: number;
}

/**
 * The prompt with as many of the latest turns as fit with `reserve` answer tokens; the context and the question
 * are never dropped. Turns are first counted without the context (cheap), then the whole prompt is checked.
 */
export function fitHistory(options: FitOptions): FittedPrompt {
  const { prompt, question, history, reserve, modelContext } = options;
  const room = modelContext - reserve - options.contextTokens - BOUNDARY_MARGIN;
  let dropped = 0;
  while (dropped < history.length && prompt.overhead(question, history.slice(dropped)) > room) dropped++;
  for (;;) {
    const ids = prompt.encode(question, history.slice(dropped));
    if (ids.length + reserve <= modelContext || dropped === history.length) return { ids, dropped };
    dropped++;
  }
}
