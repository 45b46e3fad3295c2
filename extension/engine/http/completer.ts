// Generates chat completions on the served model. It keeps one KV session between requests: a prompt that shares
// a prefix with what the session holds (the last prompt and its completion) prefills only the rest.
import { randomInt } from 'node:crypto';
import { tokensPerSecond } from '../answer/stream';
import { toHipError } from '../errors';
import { generateTokens } from '../generate';
import type { NativeModel, NativeSession, SamplingParams } from '../native';
import type { AskTimings } from '../protocol';
import { Detokenizer } from '../text/detokenizer';
import type { TextTokenizer } from '../text/tokenizer';
import { StopMatcher } from './stop-strings';

export type FinishReason = 'stop' | 'length';

export interface CompletionOptions {
  maxTokens: number;
  sampling: SamplingParams;
  /** A fixed seed gives sampling a fresh session seeded with it; absent, a kept session's RNG goes on. */
  seed?: number;
  stop: readonly string[];
  signal: AbortSignal;
  /** Each piece of final text, in order. */
  onText: (text: string) => void;
}

export interface Completion {
  text: string;
  /** Tokens generated, an end-of-turn token that ended the completion included. */
  completionTokens: number;
  /** Prompt tokens whose KV was kept from the previous request instead of prefilled again. */
  cachedTokens: number;
  finishReason: FinishReason;
  timings: AskTimings;
}

function commonPrefix(a: readonly number[], b: readonly number[]): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

function timingsOf(prefilled: number, generated: number, first: number, total: number): AskTimings {
  return {
    firstTokenSeconds: first,
    prefillTokensPerSecond: tokensPerSecond(prefilled, first),
    decodeTokensPerSecond: tokensPerSecond(generated - 1, total - first),
    totalSeconds: total,
  };
}

export class Completer {
  private session: NativeSession | undefined;
  /** The tokens the session's KV cache holds, in order. */
  private held: number[] = [];

  constructor(
    private readonly model: NativeModel,
    private readonly tokenizer: TextTokenizer,
    /** Tokens a session holds at most: the model's context. */
    private readonly capacity: number,
  ) {}

  /** Prepares the session for `prompt`; returns how many of its first tokens the session already holds. */
  private open(prompt: readonly number[], options: CompletionOptions): number {
    const seeded = options.seed !== undefined && options.sampling.temperature > 0;
    if (this.session && !seeded) {
      // At least one prompt token goes in, so that the step has logits to sample from.
      const kept = Math.min(commonPrefix(this.held, prompt), prompt.length - 1);
      this.session.truncate(kept);
      this.held.length = kept;
      return kept;
    }
    this.close();
    this.session = this.model.createSession({
      maxTokens: this.capacity,
      seed: options.seed ?? randomInt(2 ** 47),
    });
    return 0;
  }

  /** Generates the completion of `prompt` (ids with the generation prompt), streaming its final text. */
  async complete(prompt: readonly number[], options: CompletionOptions): Promise<Completion> {
    const cached = this.open(prompt, options);
    const session = this.session as NativeSession;
    const detokenizer = new Detokenizer((ids) => this.tokenizer.decode(ids));
    const stops = new StopMatcher(options.stop);
    const ids: number[] = [];
    let text = '';
    const emit = (piece: string) => {
      text += piece;
      if (piece) options.onText(piece);
    };
    const start = performance.now();
    let first = 0;
    const generation = { ...options, stopIds: this.tokenizer.stopIds };
    try {
      for await (const id of generateTokens(session, prompt.slice(cached), generation)) {
        if (ids.push(id) === 1) first = (performance.now() - start) / 1000;
        if (this.tokenizer.stopIds.has(id)) break;
        emit(stops.push(detokenizer.push(id)));
        if (stops.stopped) break;
      }
    } catch (error) {
      if (toHipError(error).code !== 'E_CANCELLED') this.close();
      throw error;
    } finally {
      this.held = [...prompt, ...ids].slice(0, this.session?.length ?? 0);
    }
    const ended = ids.length > 0 && this.tokenizer.stopIds.has(ids[ids.length - 1]);
    if (!stops.stopped) emit(stops.push(detokenizer.flush()) + stops.flush());
    const total = (performance.now() - start) / 1000;
    return {
      text,
      completionTokens: ids.length,
      cachedTokens: cached,
      finishReason: ended || stops.stopped ? 'stop' : 'length',
      timings: timingsOf(prompt.length - cached, ids.length, first, total),
    };
  }

  /** Disposes the kept session (the model stays). */
  close(): void {
    this.session?.dispose();
    this.session = undefined;
    this.held = [];
  }
}
