// Where the engine keeps KV snapshots of synced contexts (the user's cache folder, never the workspace), what
// identifies the model they were made with, a look at a snapshot's token ids before loading it, and the folder's
// size cap (least recently used snapshots go first).
import { createHash } from 'node:crypto';
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  utimesSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import {
  commonPrefixLength,
  progressOf,
  type ContextSession,
  type PrefillProgress,
} from '../answer/context-session';
import { HipError, toHipError } from '../errors';
import { CONFIG_FILE } from '../model/config';
import type { LoadedModel } from '../model/load';
import { parseSize } from '../size';
import type { Logger } from './log';

/** Bumped whenever what the engine puts in a snapshot changes meaning (the prompt format, say). */
export const SNAPSHOT_VERSION = 1;
/** How often a snapshot load reports its progress. */
const RESTORE_PROGRESS_MS = 100;
/** Set to a folder to keep snapshots there (tests), or to 'off' to keep none. */
export const SNAPSHOT_DIR_ENV = 'HIPCODE_SNAPSHOT_DIR';
/** Cap on the snapshot folder's size, e.g. 64G; beyond it the least recently used snapshots are deleted. */
export const SNAPSHOT_MAX_BYTES_ENV = 'HIPCODE_SNAPSHOT_MAX_SIZE';
/** Default cap: room for two million-token contexts of a 7B model (about 57 GB each). */
export const DEFAULT_SNAPSHOT_MAX_BYTES = 128 * 2 ** 30;
/** Milliseconds without live updates before the updated context is saved (a burst of edits saves once). */
export const SNAPSHOT_DELAY_ENV = 'HIPCODE_SNAPSHOT_DELAY_MS';
export const DEFAULT_SNAPSHOT_DELAY_MS = 10_000;

/** The quiet time after live updates before a save, from $HIPCODE_SNAPSHOT_DELAY_MS, else the default. */
export function snapshotDelayMs(env: NodeJS.ProcessEnv = process.env): number {
  const text = env[SNAPSHOT_DELAY_ENV];
  if (text === undefined || text === '') return DEFAULT_SNAPSHOT_DELAY_MS;
  if (!/^\d+$/.test(text)) {
    throw new HipError(
      'E_INVALID_ARGUMENT',
      `${SNAPSHOT_DELAY_ENV} must be a whole number of milliseconds such as 10000, got '${text}'`,
    );
  }
  return Number(text);
}

/** The folder's cap from $HIPCODE_SNAPSHOT_MAX_SIZE (a size such as 64G), else the default. */
export function snapshotMaxBytes(env: NodeJS.ProcessEnv = process.env): number {
  const text = env[SNAPSHOT_MAX_BYTES_ENV];
  if (!text) return DEFAULT_SNAPSHOT_MAX_BYTES;
  const bytes = parseSize(text);
  if (bytes === undefined) {
    throw new HipError(
      'E_INVALID_ARGUMENT',
      `${SNAPSHOT_MAX_BYTES_ENV} must be a size such as 64G or 512M, got '${text}'`,
    );
  }
  return bytes;
}

/**
 * Deletes the least recently used snapshots (by modification time; a restore touches its file) until the folder's
 * snapshots take at most `maxBytes`; `keep` (the one just written) is never deleted. Returns the deleted paths.
 */
export function pruneSnapshots(dir: string, maxBytes: number, keep: string): string[] {
  const files = readdirSync(dir)
    .filter((name) => name.endsWith('.kv'))
    .map((name) => {
      const path = join(dir, name);
      const { size, mtimeMs } = statSync(path);
      return { path, size, mtimeMs };
    })
    .sort((a, b) => b.mtimeMs - a.mtimeMs || (a.path < b.path ? -1 : 1));
  let total = files.reduce((sum, file) => sum + file.size, 0);
  const deleted: string[] = [];
  for (const file of files.reverse()) {
    if (total <= maxBytes) break;
    if (file.path === keep) continue;
    rmSync(file.path, { force: true });
    total -= file.size;
    deleted.push(file.path);
  }
  return deleted;
}

/** The snapshot folder: $HIPCODE_SNAPSHOT_DIR, else $XDG_CACHE_HOME/hipcode/snapshots, else ~/.cache/…; undefined when off. */
export function snapshotDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const chosen = env[SNAPSHOT_DIR_ENV];
  if (chosen === 'off') return undefined;
  if (chosen) return resolve(chosen);
  const cache = env.XDG_CACHE_HOME ? resolve(env.XDG_CACHE_HOME) : join(homedir(), '.cache');
  return join(cache, 'hipcode', 'snapshots');
}

function sha256(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * What a snapshot must have been made with to be loaded: the engine's snapshot version, the backend and its KV
 * dtype, config.json's content and every weight file's name, size and modification time.
 */
export function snapshotFingerprint(model: LoadedModel): string {
  const weights = model.checkpoint.files.map((file) => {
    const stat = statSync(file);
    return [basename(file), stat.size, stat.mtimeMs];
  });
  const config = sha256(readFileSync(join(model.dir, CONFIG_FILE)));
  const identity = sha256(JSON.stringify({ config, weights }));
  return `hipcode-kv-${SNAPSHOT_VERSION} ${model.native.backend} ${model.native.kvDtype} ${identity}`;
}

// The header's fixed part (native/core/snapshot.h): magic, version, dtype, five u64 sizes, fingerprint length.
const MAGIC = 'HIPCSNAP';
const FIXED_HEADER_BYTES = 8 + 4 + 4 + 8 * 5 + 4;
const TOKENS_OFFSET = 40;
const FINGERPRINT_BYTES_OFFSET = 56;

/** Reads `length` bytes at `position`; undefined when the file is shorter. */
function readAt(fd: number, length: number, position: number): Buffer | undefined {
  const buffer = Buffer.alloc(length);
  return readSync(fd, buffer, 0, length, position) === length ? buffer : undefined;
}

/** The snapshots of one model in one folder, one per set of workspace roots. */
export class Snapshots {
  /** The ids each file was last saved with or restored from here: saving them again would write the same file. */
  private readonly known = new Map<string, readonly number[]>();

  constructor(
    readonly dir: string,
    readonly fingerprint: string,
    readonly maxBytes: number = DEFAULT_SNAPSHOT_MAX_BYTES,
    readonly delayMs: number = DEFAULT_SNAPSHOT_DELAY_MS,
  ) {}

  /**
   * Loads the part of the snapshot of `roots` that `prefix` starts with into `session` (the rest of the file is not
   * read) when that is more than the session holds of `prefix`, and returns how many tokens it restored. A bad
   * snapshot is logged, deleted and ignored (0); E_CANCELLED is thrown.
   */
  async restore(
    session: ContextSession,
    roots: readonly string[],
    prefix: readonly number[],
    signal: AbortSignal,
    log: Logger,
    onProgress?: (progress: PrefillProgress) => void,
  ): Promise<number> {
    const path = this.pathFor(roots);
    const saved = this.peekIds(path);
    const offered = saved ? commonPrefixLength(saved, prefix) : 0;
    if (!saved || offered <= commonPrefixLength(session.held, prefix)) return 0;
    const started = performance.now();
    const report = () =>
      onProgress?.(progressOf(session.snapshotTokens, offered, (performance.now() - started) / 1000));
    const ticker = setInterval(report, RESTORE_PROGRESS_MS);
    try {
      await session.loadSnapshot(path, this.fingerprint, offered, signal);
      report();
    } catch (error) {
      const e = toHipError(error);
      if (e.code === 'E_CANCELLED') throw e;
      log.warn(`snapshot ignored${e.code === 'E_SNAPSHOT' ? ' and deleted' : ''}: [${e.code}] ${e.message}`);
      if (e.code === 'E_SNAPSHOT') this.discard(path);
      return 0;
    } finally {
      clearInterval(ticker);
    }
    this.known.set(path, saved);
    const now = new Date();
    utimesSync(path, now, now);
    const seconds = (performance.now() - started) / 1000;
    log.info(
      `snapshot: restored ${offered} of the context's ${prefix.length} tokens from ${path} ` +
        `(${saved.length} saved) in ${seconds.toFixed(2)} s`,
    );
    return offered;
  }

  /** Saves `prefix` (which `session` holds) as the snapshot of `roots`, unless the file already holds just that. */
  async save(
    session: ContextSession,
    roots: readonly string[],
    prefix: readonly number[],
    signal: AbortSignal,
    log: Logger,
  ): Promise<void> {
    const path = this.pathFor(roots);
    const last = this.known.get(path);
    if (last && last.length === prefix.length && commonPrefixLength(last, prefix) === prefix.length) return;
    const started = performance.now();
    await session.saveSnapshot(path, this.fingerprint, prefix.length, signal);
    this.known.set(path, prefix);
    const seconds = (performance.now() - started) / 1000;
    log.info(`snapshot: saved ${prefix.length} tokens to ${path} in ${seconds.toFixed(2)} s`);
    for (const deleted of pruneSnapshots(this.dir, this.maxBytes, path)) {
      log.info(`snapshot: deleted ${deleted}, the least recently used, to stay under ${this.maxBytes} bytes`);
    }
  }

  /** The snapshot folder for `model`, created, with temporaries of dead writers removed; undefined when off. */
  static open(model: LoadedModel, env: NodeJS.ProcessEnv = process.env): Snapshots | undefined {
    const dir = snapshotDir(env);
    if (!dir) return undefined;
    mkdirSync(dir, { recursive: true });
    removeOrphans(dir);
    return new Snapshots(dir, snapshotFingerprint(model), snapshotMaxBytes(env), snapshotDelayMs(env));
  }

  /** The file of the context of `roots` (in any order) with this model: a new save replaces the last one. */
  pathFor(roots: readonly string[]): string {
    const key = JSON.stringify([[...roots].map((root) => resolve(root)).sort(), this.fingerprint]);
    return join(this.dir, `${sha256(key).slice(0, 32)}.kv`);
  }

  /**
   * The token ids a snapshot holds, read from its header without checking the rest (the load checks it all);
   * undefined for a missing file, another fingerprint or anything unreadable.
   */
  peekIds(path: string): number[] | undefined {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch {
      return undefined;
    }
    try {
      const fixed = readAt(fd, FIXED_HEADER_BYTES, 0);
      if (!fixed || fixed.toString('latin1', 0, 8) !== MAGIC) return undefined;
      const tokens = Number(fixed.readBigUInt64LE(TOKENS_OFFSET));
      const fingerprintBytes = fixed.readUInt32LE(FINGERPRINT_BYTES_OFFSET);
      const fingerprint = readAt(fd, fingerprintBytes, FIXED_HEADER_BYTES);
      if (fingerprint?.toString('utf8') !== this.fingerprint) return undefined;
      if (tokens > statSync(path).size / 4) return undefined;
      const ids = readAt(fd, 4 * tokens, FIXED_HEADER_BYTES + fingerprintBytes);
      return ids ? Array.from({ length: tokens }, (_, i) => ids.readInt32LE(4 * i)) : undefined;
    } finally {
      closeSync(fd);
    }
  }

  /** Deletes a snapshot (a bad one, reported). */
  discard(path: string): void {
    rmSync(path, { force: true });
  }
}

/** Removes `*.kv.tmp-<pid>-<n>` files whose writer process no longer exists (killed mid-write). */
function removeOrphans(dir: string): void {
  for (const name of readdirSync(dir)) {
    const pid = /\.tmp-(\d+)-\d+$/.exec(name)?.[1];
    if (pid && !processAlive(Number(pid))) rmSync(join(dir, name), { force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
