// Generates an answer over a prompt and streams its text as it becomes final, timing the prefill and the decode.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { generateTokens } from '../generate';
import type { NativeModel, NativeSession, SamplingParams } from '../native';
import type { AskTimings } from '../protocol';
import { Detokenizer } from '../text/detokenizer';
import type { TextTokenizer } from '../text/tokenizer';

export interface StreamOptions {
  maxTokens: number;
  sampling: SamplingParams;
  seed: number;
  signal?: AbortSignal;
  /** Each piece of final text, in order (stop tokens print nothing). */
  onText: (text: string) => void | Promise<void>;
  /** Called once, when the first token arrives (the prefill is done). */
  onFirstToken?: (seconds: number) => void;
  /** performance.now() when the prefill began, if it began before this call (default: now). */
  startedAt?: number;
  /** Tokens prefilled for this answer, for the prefill rate (default: the prompt's length). */
  prefillTokens?: number;
}

export interface StreamedAnswer {
  answer: string;
  /** Tokens generated, a stop token that ended the answer included. */
  generated: number;
  timings: AskTimings;
}

export function tokensPerSecond(tokens: number, seconds: number): number {
  return seconds > 0 ? Math.round((tokens / seconds) * 10) / 10 : 0;
}

/** Generates over `prompt` in a fresh session sized to it (disposed at the end). */
export async function streamAnswer(
  model: NativeModel,
  tokenizer: TextTokenizer,
  prompt: readonly number[],
  options: StreamOptions,
): Promise<StreamedAnswer> {
  const session = model.createSession({ maxTokens: prompt.length + options.maxTokens, seed: options.seed });
  try {
    return await streamOnSession(session, tokenizer, prompt, options);
  } finally {
    session.dispose();
  }
}

/**
 * Generates in `session` after feeding it `input` (the whole prompt, or only what the session does not hold yet,
 * at least one token); the session keeps the prompt and the answer. options.seed is the session's business.
 */
export async function streamOnSession(
  session: NativeSession,
  tokenizer: TextTokenizer,
  input: readonly number[],
  options: StreamOptions,
): Promise<StreamedAnswer> {
  const detokenizer = new Detokenizer((ids) => tokenizer.decode(ids));
  const start = options.startedAt ?? performance.now();
  let first = 0;
  let generated = 0;
  let answer = '';
  const emit = async (text: string) => {
    answer += text;
    if (text) await options.onText(text);
  };
  const generation = { ...options, stopIds: tokenizer.stopIds };
  for await (const id of generateTokens(session, input, generation)) {
    if (generated++ === 0) {
      first = (performance.now() - start) / 1000;
      options.onFirstToken?.(first);
    }
    // A turn of the event loop per token, so that a cancel request is read before the next step.
    await nextTurn();
    if (!tokenizer.stopIds.has(id)) await emit(detokenizer.push(id));
  }
  await emit(detokenizer.flush());
  const total = (performance.now() - start) / 1000;
  const timings: AskTimings = {
    firstTokenSeconds: first,
    prefillTokensPerSecond: tokensPerSecond(options.prefillTokens ?? input.length, first),
    decodeTokensPerSecond: tokensPerSecond(generated - 1, total - first),
    totalSeconds: total,
  };
  return { answer, generated, timings };
}
