// A persistent native session that keeps its KV cache between prompts: prefix reuse and chunked, cancellable prefill.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { HipError } from '../errors';
import type { LogitsMode, NativeSession, SamplingParams, SessionOptions } from '../native';

/** Seconds one prefill chunk should take: a cancel waits for the chunk in flight, so well under 200 ms. */
export const CHUNK_TARGET_SECONDS = 0.05;
export const FIRST_CHUNK_TOKENS = 256;
export const MIN_CHUNK_TOKENS = 16;
export const MAX_CHUNK_TOKENS = 8192;
/** A chunk grows at most this many times over the last one (attention gets slower as the context grows). */
const MAX_CHUNK_GROWTH = 2;

export interface PrefillProgress {
  /** Tokens of this prefill done so far (reused ones not counted). */
  done: number;
  /** Tokens this prefill has to run. */
  total: number;
  tokensPerSecond: number;
  etaSeconds: number;
}

export interface PrefillOptions {
  signal?: AbortSignal;
  /** Called after every chunk. */
  onProgress?: (progress: PrefillProgress) => void;
}

export interface PrefillResult {
  /** Tokens already held that the target starts with (not run again). */
  reused: number;
  /** Tokens run now. */
  prefilled: number;
  seconds: number;
}

/** Length of the longest common prefix of two id lists. */
export function commonPrefixLength(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/**
 * Chunks of at least this many tokens end at a multiple of it (in positions): whole HiP query blocks (64 rows by
 * default) then attend sparsely whichever chunk they fall in, so the context's K/V does not depend on the chunks.
 */
export const CHUNK_ALIGN_TOKENS = 64;

/** The next chunk size from the last chunk's measured rate, aiming at CHUNK_TARGET_SECONDS per chunk. */
export function nextChunkTokens(last: number, seconds: number): number {
  const grown = Math.min(MAX_CHUNK_TOKENS, last * MAX_CHUNK_GROWTH);
  if (seconds <= 0) return grown;
  const aimed = Math.round((last / seconds) * CHUNK_TARGET_SECONDS);
  return Math.max(MIN_CHUNK_TOKENS, Math.min(grown, aimed));
}

/** Where a chunk of about `tokens` from position `at` ends: at a multiple of CHUNK_ALIGN_TOKENS when it can. */
export function chunkEnd(at: number, tokens: number, end: number): number {
  const aligned = Math.floor((at + tokens) / CHUNK_ALIGN_TOKENS) * CHUNK_ALIGN_TOKENS;
  return Math.min(end, aligned > at ? aligned : at + tokens);
}

/**
 * Wraps a native session and mirrors the ids its KV cache holds, so that a new prompt only runs past its common
 * prefix with what is held. Usable wherever a NativeSession is (generateTokens feeds it through step()).
 */
export class ContextSession implements NativeSession {
  private readonly ids: number[] = [];
  private chunk = FIRST_CHUNK_TOKENS;

  constructor(
    private readonly native: NativeSession,
    /** The session's capacity in tokens. */
    readonly capacity: number,
  ) {}

  get length(): number {
    return this.native.length;
  }

  get snapshotTokens(): number {
    return this.native.snapshotTokens;
  }

  /** The ids the KV cache holds, in order. */
  get held(): readonly number[] {
    return this.ids;
  }

  forward(ids: Int32Array, logits: LogitsMode): Promise<Float32Array> {
    return this.tracked(ids, () => this.native.forward(ids, logits));
  }

  step(ids: Int32Array, sampling: SamplingParams): Promise<number> {
    return this.tracked(ids, () => this.native.step(ids, sampling));
  }

  truncate(length: number): void {
    this.native.truncate(length);
    this.ids.length = length;
  }

  /**
   * A session holding what this one holds, on the same KV pages (NativeSession.fork): what it runs next never
   * changes this one, and the reverse. For a question and its answer on top of the context.
   */
  fork(options: SessionOptions): ContextSession {
    const forked = new ContextSession(this.native.fork(options), options.maxTokens);
    for (const id of this.ids) forked.ids.push(id);
    forked.chunk = this.chunk;
    return forked;
  }

  /** Saves the K/V and ids of positions [0, tokens) (NativeSession.saveSnapshot); `signal` cancels between chunks. */
  saveSnapshot(path: string, fingerprint: string, tokens: number, signal?: AbortSignal): Promise<void> {
    return this.cancellable(signal, () => this.native.saveSnapshot(path, fingerprint, tokens));
  }

  /**
   * Replaces what the session holds with the first `tokens` positions (all when undefined) of the snapshot at
   * `path` (NativeSession.loadSnapshot); `signal` cancels it between chunks. On failure the mirror follows what
   * the cache holds.
   */
  async loadSnapshot(
    path: string,
    fingerprint: string,
    tokens?: number,
    signal?: AbortSignal,
  ): Promise<Int32Array> {
    try {
      const ids = await this.cancellable(signal, () => this.native.loadSnapshot(path, fingerprint, tokens));
      this.ids.length = 0;
      for (const id of ids) this.ids.push(id);
      return ids;
    } catch (error) {
      this.resync();
      throw error;
    }
  }

  cancelSnapshot(): void {
    this.native.cancelSnapshot();
  }

  dispose(): void {
    this.native.dispose();
    this.ids.length = 0;
  }

  /** Runs a snapshot call that `signal` cancels (E_CANCELLED) through cancelSnapshot. */
  private async cancellable<T>(signal: AbortSignal | undefined, call: () => Promise<T>): Promise<T> {
    if (signal?.aborted) throw new HipError('E_CANCELLED', 'the snapshot was cancelled');
    const onAbort = () => this.native.cancelSnapshot();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await call();
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Runs a call that appends `ids`; on failure the mirror follows what the cache really holds. */
  private async tracked<T>(ids: Int32Array, call: () => Promise<T>): Promise<T> {
    try {
      const result = await call();
      for (const id of ids) this.ids.push(id);
      return result;
    } catch (error) {
      this.resync();
      throw error;
    }
  }

  private resync(): void {
    const length = this.native.length;
    if (length > this.ids.length) this.native.truncate(this.ids.length);
    else this.ids.length = length;
  }

  /**
   * Makes the cache hold exactly `target`: keeps the common prefix, drops the rest, runs the remainder in chunks
   * of about CHUNK_TARGET_SECONDS each with a turn of the event loop between them, so a cancel (E_CANCELLED) is
   * seen within a chunk. A cancelled prefill keeps the chunks it finished.
   */
  async prefill(target: readonly number[], options: PrefillOptions = {}): Promise<PrefillResult> {
    const reused = commonPrefixLength(this.ids, target);
    if (reused < this.ids.length) this.truncate(reused);
    const ids = Int32Array.from(target);
    const total = target.length - reused;
    const started = performance.now();
    for (let at = reused; at < target.length;) {
      if (options.signal?.aborted) throw new HipError('E_CANCELLED', 'the prefill was cancelled');
      const n = chunkEnd(at, this.chunk, target.length) - at;
      const chunkStart = performance.now();
      await this.forward(ids.subarray(at, at + n), 'none');
      this.chunk = nextChunkTokens(n, (performance.now() - chunkStart) / 1000);
      at += n;
      options.onProgress?.(progressOf(at - reused, total, (performance.now() - started) / 1000));
      await nextTurn();
    }
    return { reused, prefilled: total, seconds: (performance.now() - started) / 1000 };
  }
}

/** Progress of `done` of `total` tokens after `seconds`, with the rate and the time left at that rate. */
export function progressOf(done: number, total: number, seconds: number): PrefillProgress {
  const rate = seconds > 0 ? done / seconds : 0;
  const etaSeconds = rate > 0 ? (total - done) / rate : 0;
  return {
    done,
    total,
    tokensPerSecond: Math.round(rate * 10) / 10,
    etaSeconds: Math.round(etaSeconds * 10) / 10,
  };
}
