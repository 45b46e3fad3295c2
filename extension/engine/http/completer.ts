// Generates chat completions on the served model. It keeps one KV session between requests: a prompt that shares
// a prefix with what the session holds (the last prompt and its completion) prefills only the rest, in chunks, so
// a client that goes away during a long prefill cancels it within a chunk.
import { randomInt } from 'node:crypto';
import { tokensPerSecond } from '../answer/stream';
import { toHipError } from '../errors';
import { generateTokens } from '../generate';
import { ContextSession } from '../answer/context-session';
import type { NativeModel, SamplingParams } from '../native';
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

function timingsOf(prefilled: number, generated: number, first: number, total: number): AskTimings {
  return {
    firstTokenSeconds: first,
    prefillTokensPerSecond: tokensPerSecond(prefilled, first),
    decodeTokensPerSecond: tokensPerSecond(generated - 1, total - first),
    totalSeconds: total,
  };
}

export class Completer {
  private session: ContextSession | undefined;

  constructor(
    private readonly model: NativeModel,
    private readonly tokenizer: TextTokenizer,
    /** Tokens a session holds at most: the model's context. */
    private readonly capacity: number,
  ) {}

  /**
   * The session a request runs in: the kept one; for a request that fixes the sampling seed, a fork of it seeded
   * with that seed (what the kept one holds is reused, the sampling is a fresh session's with that seed), which
   * is kept in its place once the request succeeds. A fresh kept session when none is kept yet.
   */
  private open(options: CompletionOptions): ContextSession {
    const seed = options.seed !== undefined && options.sampling.temperature > 0 ? options.seed : undefined;
    if (!this.session) {
      this.session = new ContextSession(
        this.model.createSession({ maxTokens: this.capacity, seed: seed ?? randomInt(2 ** 47) }),
        this.capacity,
      );
      return this.session;
    }
    if (seed === undefined) return this.session;
    return this.session.fork({ maxTokens: this.capacity, seed });
  }

  /** Generates the completion of `prompt` (ids with the generation prompt), streaming its final text. */
  async complete(prompt: readonly number[], options: CompletionOptions): Promise<Completion> {
    const session = this.open(options);
    try {
      const completion = await this.run(session, prompt, options);
      this.keep(session);
      return completion;
    } catch (error) {
      if (session !== this.session) session.dispose();
      else if (toHipError(error).code !== 'E_CANCELLED') this.close();
      throw error;
    }
  }

  /** Keeps `session` (a seeded fork) in place of the kept one. */
  private keep(session: ContextSession): void {
    if (session === this.session) return;
    this.session?.dispose();
    this.session = session;
  }

  private async run(
    session: ContextSession,
    prompt: readonly number[],
    options: CompletionOptions,
  ): Promise<Completion> {
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
    // All but the last prompt token go in by chunks; the last one's step samples the first token.
    const cached = (await session.prefill(prompt.slice(0, -1), { signal: options.signal })).reused;
    for await (const id of generateTokens(session, prompt.slice(-1), generation)) {
      if (ids.push(id) === 1) first = (performance.now() - start) / 1000;
      if (this.tokenizer.stopIds.has(id)) break;
      emit(stops.push(detokenizer.push(id)));
      if (stops.stopped) break;
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
  }
}
