// ContextSession over a recording stand-in session: prefix reuse, chunk sizing, cancels, and a mirror that stays
// true to the cache when a call fails.
import assert from 'node:assert/strict';
import {
  CHUNK_TARGET_SECONDS,
  commonPrefixLength,
  ContextSession,
  CHUNK_ALIGN_TOKENS,
  chunkEnd,
  FIRST_CHUNK_TOKENS,
  MAX_CHUNK_TOKENS,
  MIN_CHUNK_TOKENS,
  nextChunkTokens,
} from '../../extension/engine/answer/context-session';
import { HipError } from '../../extension/engine/errors';
import type { NativeSession } from '../../extension/engine/native';

/** A session that holds ids like the addon (length, truncate) and records every forward's size. */
class RecordingSession implements NativeSession {
  readonly cache: number[] = [];
  readonly chunks: number[] = [];
  failNext = false;

  get length(): number {
    return this.cache.length;
  }

  /** Positions the last snapshot load copied (all at once here). */
  snapshotTokens = 0;

  forward(ids: Int32Array): Promise<Float32Array> {
    if (this.failNext) {
      this.failNext = false;
      return Promise.reject(new HipError('E_OUT_OF_MEMORY', 'no pages left'));
    }
    this.chunks.push(ids.length);
    this.cache.push(...ids);
    return Promise.resolve(new Float32Array(0));
  }

  async step(ids: Int32Array): Promise<number> {
    await this.forward(ids);
    return 1;
  }

  truncate(length: number): void {
    this.cache.length = length;
  }

  fork(): RecordingSession {
    const forked = new RecordingSession();
    forked.cache.push(...this.cache);
    return forked;
  }

  /** Snapshots by path; a save or load waits for `release` when set, and rejects once cancelSnapshot was called. */
  readonly snapshots = new Map<string, number[]>();
  cancels = 0;
  release: Promise<void> | undefined;

  async saveSnapshot(path: string, _fingerprint: string, tokens: number): Promise<void> {
    await this.release;
    if (this.cancels > 0) throw new HipError('E_CANCELLED', 'cancelled');
    this.snapshots.set(path, this.cache.slice(0, tokens));
  }

  async loadSnapshot(path: string): Promise<Int32Array> {
    await this.release;
    const ids = this.snapshots.get(path);
    if (!ids) throw new HipError('E_SNAPSHOT', `snapshot ${path}: cannot open`);
    this.cache.splice(0, this.cache.length, ...ids);
    this.snapshotTokens = ids.length;
    return Int32Array.from(ids);
  }

  cancelSnapshot(): void {
    this.cancels++;
  }

  dispose(): void {
    this.cache.length = 0;
  }
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe('context session', () => {
  it('commonPrefixLength compares ids', () => {
    assert.equal(commonPrefixLength([1, 2, 3], [1, 2, 4]), 2);
    assert.equal(commonPrefixLength([1, 2], [1, 2, 3]), 2);
    assert.equal(commonPrefixLength([], [1]), 0);
    assert.equal(commonPrefixLength([5], [1]), 0);
  });

  it('sizes chunks to the target time from the last rate, growing at most 2x, within bounds', () => {
    assert.equal(nextChunkTokens(256, 0), 512);
    assert.equal(nextChunkTokens(1000, CHUNK_TARGET_SECONDS), 1000);
    assert.equal(nextChunkTokens(1000, CHUNK_TARGET_SECONDS * 4), 250);
    assert.equal(nextChunkTokens(1000, CHUNK_TARGET_SECONDS / 10), 2000);
    assert.equal(nextChunkTokens(100, 100), MIN_CHUNK_TOKENS);
    assert.equal(nextChunkTokens(MAX_CHUNK_TOKENS, 0), MAX_CHUNK_TOKENS);
  });

  it('ends chunks at multiples of 64 positions when they can, whatever position they start at', () => {
    assert.equal(CHUNK_ALIGN_TOKENS, 64);
    assert.equal(chunkEnd(0, 1000, 5000), 960);
    assert.equal(chunkEnd(1000, 500, 5000), 1472);
    assert.equal(chunkEnd(1000, 30, 5000), 1024);
    assert.equal(chunkEnd(1000, 20, 5000), 1020); // no multiple of 64 within the chunk
    assert.equal(chunkEnd(1000, 500, 1200), 1200); // the target ends first
  });

  it('prefills in chunks, then runs only past the common prefix of what it holds', async () => {
    const native = new RecordingSession();
    const session = new ContextSession(native, 100_000);
    const first = await session.prefill(range(0, 3000));
    assert.deepEqual(first, { reused: 0, prefilled: 3000, seconds: first.seconds });
    assert.equal(native.chunks[0], FIRST_CHUNK_TOKENS);
    assert.ok(native.chunks.length > 1);
    assert.deepEqual(native.cache, range(0, 3000));
    native.chunks.length = 0;
    const target = [...range(0, 2000), 7, 8, 9];
    const second = await session.prefill(target);
    assert.equal(second.reused, 2000);
    assert.equal(second.prefilled, 3);
    assert.deepEqual(native.chunks, [3]);
    assert.deepEqual(native.cache, target);
    assert.deepEqual(session.held, target);
  });

  it('a fork starts from what the session holds; prefilling it runs only past that and leaves the session', async () => {
    const native = new RecordingSession();
    const session = new ContextSession(native, 100_000);
    await session.prefill(range(0, 500));
    const fork = session.fork({ maxTokens: 600, seed: 1 });
    assert.equal(fork.capacity, 600);
    assert.deepEqual(fork.held, range(0, 500));
    const result = await fork.prefill([...range(0, 400), 7, 8]);
    assert.deepEqual([result.reused, result.prefilled], [400, 2]);
    assert.deepEqual(fork.held, [...range(0, 400), 7, 8]);
    assert.deepEqual(session.held, range(0, 500));
    assert.deepEqual(native.cache, range(0, 500));
  });

  it('a cancel stops between chunks and keeps the finished ones; a failed chunk leaves a true mirror', async () => {
    const native = new RecordingSession();
    const session = new ContextSession(native, 100_000);
    const controller = new AbortController();
    const done: number[] = [];
    const cancelled = session.prefill(range(0, 5000), {
      signal: controller.signal,
      onProgress: (p) => {
        done.push(p.done);
        if (done.length === 2) controller.abort();
      },
    });
    await assert.rejects(cancelled, { code: 'E_CANCELLED' });
    assert.equal(done.length, 2);
    assert.equal(native.length, done[1]);
    assert.deepEqual(session.held, range(0, done[1]));
    native.failNext = true;
    await assert.rejects(session.prefill(range(0, 5000)), { code: 'E_OUT_OF_MEMORY' });
    assert.deepEqual(session.held, native.cache);
    const resumed = await session.prefill(range(0, 5000));
    assert.equal(resumed.reused, done[1]);
    assert.deepEqual(native.cache, range(0, 5000));
  });

  it('a loaded snapshot replaces the mirror; a failed load keeps it; an abort cancels a save in flight', async () => {
    const native = new RecordingSession();
    const session = new ContextSession(native, 1000);
    await session.prefill(range(0, 50));
    await session.saveSnapshot('/snap', 'f', 40);
    assert.deepEqual(native.snapshots.get('/snap'), range(0, 40));
    await session.prefill([7, 8, 9]);
    await assert.rejects(session.loadSnapshot('/missing', 'f'), { code: 'E_SNAPSHOT' });
    assert.deepEqual(session.held, [7, 8, 9]);
    assert.deepEqual([...(await session.loadSnapshot('/snap', 'f'))], range(0, 40));
    assert.deepEqual(session.held, range(0, 40));
    const result = await session.prefill(range(0, 45));
    assert.deepEqual([result.reused, result.prefilled], [40, 5]);

    let release!: () => void;
    native.release = new Promise<void>((resolve) => (release = resolve));
    const abort = new AbortController();
    const saving = session.saveSnapshot('/other', 'f', 45, abort.signal);
    abort.abort();
    release();
    await assert.rejects(saving, { code: 'E_CANCELLED' });
    assert.equal(native.cancels, 1);
    await assert.rejects(session.saveSnapshot('/other', 'f', 45, abort.signal), { code: 'E_CANCELLED' });
    assert.equal(native.snapshots.has('/other'), false);
  });
});
