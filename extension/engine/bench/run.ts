// Runs the engine benchmark on a synthetic model: prefill throughput and per-token decode latency at a context,
// then what an edit and a restart cost there (the context's tail prefilled again; a snapshot saved and loaded),
// timed on the host around each awaited call (what a caller of the engine sees), after a warm-up.
import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { rmSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { GREEDY } from '../generate';
import {
  loadAddon,
  type AttentionMode,
  type BackendName,
  type HipSpec,
  type KvDtype,
  type NativeModel,
  type NativeSession,
  type NativeSyntheticModelSpec,
} from '../native';
import { BENCH_GEOMETRIES, parameterCount } from './geometries';

export interface BenchOptions {
  geometry: string;
  backend: BackendName;
  device: number;
  threads: number;
  gpuKvBudget: number;
  /** Bytes of pinned host memory for KV pages beyond the GPU budget (0 = none, undefined = automatic). */
  hostKvBudget?: number;
  kvDtype: KvDtype | 'auto';
  prefillTokens: number;
  contextTokens: number;
  decodeSteps: number;
  repeats: number;
  seed: number;
  attention: AttentionMode;
  hip?: HipSpec;
  /** Decode steps compared against a dense copy of the model after the context (0 = none; hip/auto only). */
  fidelitySteps: number;
  /** Tokens at the end of the context prefilled again, then one token decoded (0 = none): an edit near the end. */
  editTokens: number;
  /** Tokens of a question prefilled in a fork of the context, then its first token decoded (0 = none), as an ask. */
  questionTokens: number;
  /** Where the context's snapshot is saved, loaded into a fresh session and deleted (undefined = none). */
  snapshotDir: string | undefined;
}

/** The model's logits against the same weights with dense attention, both fed the dense model's greedy
 * tokens after the same random context. */
export interface Fidelity {
  context: number;
  steps: number;
  /** Relative L2 distance of the logits, per step. */
  relL2All: number[];
  maxRelL2: number;
  meanRelL2: number;
  /** Steps whose greedy token equals dense's. */
  top1Agreement: number;
}

export interface BenchResult {
  engine: 'hipcode';
  backend: BackendName;
  device: string;
  /** The engine's git commit (HIPCODE_COMMIT, else `git rev-parse`), or 'unknown'. */
  commit: string;
  date: string;
  geometry: string;
  attention: AttentionMode;
  /** How the KV cache kept its rows. */
  kvDtype: KvDtype;
  /**
   * Bytes the KV cache holds in each tier at the end (NativeModel.kvMemory): on CUDA what it reserved when the model
   * was made, on the CPU the pages made for the runs' largest sessions.
   */
  kvMemory: { gpuBytes: number; hostBytes: number };
  params: number;
  setupSeconds: number;
  prefill: { tokens: number; ms: number; msAll: number[]; tokensPerSecond: number } | null;
  decode: {
    context: number;
    steps: number;
    msPerToken: number;
    /** Mean over the steps (with HiP: the mask refresh schedule averaged in). */
    msMean: number;
    p10: number;
    p90: number;
    msAll: number[];
  } | null;
  fidelity: Fidelity | null;
  /** The context prefilled into the session that decode, edit and snapshot use, and its first token decoded. */
  ingest: { tokens: number; seconds: number; tokensPerSecond: number } | null;
  /** A question of `tokens` prefilled in a fork of the context and its first token decoded: an ask's first token. */
  question: { tokens: number; seconds: number } | null;
  /** The context's last `tokens` prefilled again and one token decoded after them. */
  edit: { tokens: number; seconds: number } | null;
  /**
   * The context saved as a snapshot file of `bytes`, then loaded into a fresh session (`loadSeconds`) and one token
   * decoded after it (`readySeconds` in all), in `dir`. The load reads the file just written: the page cache may
   * hold it (a tmpfs folder such as /dev/shm always does).
   */
  snapshot: {
    dir: string;
    tokens: number;
    bytes: number;
    saveSeconds: number;
    loadSeconds: number;
    readySeconds: number;
  } | null;
  /**
   * The most device memory in use after any phase (ingest, question, decode, edit, the end; the engine's pools
   * keep their peak, but a session's HiP masks go with its truncation or disposal), GPU only.
   */
  gpuMemoryUsedBytes: number | null;
  /** The process's peak resident host memory (weights mapped on the CPU backend, KV pages, activations). */
  peakHostMemoryBytes: number;
}

const WARMUP_TOKENS = 512;
/** The context is ingested in chunks of this many tokens (as the engine's sync does), its progress on stderr. */
const INGEST_CHUNK_TOKENS = 32768;
const WARMUP_STEPS = 4;

export function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const position = (sorted.length - 1) * q;
  const low = Math.floor(position);
  const high = Math.ceil(position);
  return sorted[low] + (sorted[high] - sorted[low]) * (position - low);
}

function randomIds(count: number, vocab: number): Int32Array {
  return Int32Array.from({ length: count }, () => randomInt(vocab));
}

async function timed(run: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await run();
  return performance.now() - start;
}

async function warmUp(model: NativeModel, vocab: number, options: BenchOptions): Promise<void> {
  const session = model.createSession({ maxTokens: WARMUP_TOKENS + WARMUP_STEPS + 1, seed: options.seed });
  try {
    await session.forward(randomIds(WARMUP_TOKENS, vocab), 'last');
    for (let step = 0; step < WARMUP_STEPS; step++) await session.step(randomIds(1, vocab), GREEDY);
  } finally {
    session.dispose();
  }
}

async function benchPrefill(model: NativeModel, vocab: number, options: BenchOptions) {
  const msAll: number[] = [];
  for (let repeat = 0; repeat < options.repeats; repeat++) {
    const session = model.createSession({ maxTokens: options.prefillTokens, seed: options.seed });
    try {
      const ids = randomIds(options.prefillTokens, vocab);
      msAll.push(await timed(() => session.forward(ids, 'last')));
    } finally {
      session.dispose();
    }
  }
  const ms = quantile(msAll, 0.5);
  return { tokens: options.prefillTokens, ms, msAll, tokensPerSecond: (options.prefillTokens / ms) * 1000 };
}

/** A session holding `options.contextTokens` random tokens with room for the decode steps after them, timed. */
async function contextSession(model: NativeModel, vocab: number, options: BenchOptions) {
  const session = model.createSession({
    maxTokens: options.contextTokens + WARMUP_STEPS + options.decodeSteps + 2,
    seed: options.seed,
  });
  const ids = randomIds(options.contextTokens, vocab);
  let next = 0;
  const started = performance.now();
  const ms = await timed(async () => {
    for (let at = 0; at < ids.length; at += INGEST_CHUNK_TOKENS) {
      const chunk = ids.subarray(at, at + INGEST_CHUNK_TOKENS);
      if (at + chunk.length < ids.length) await session.forward(chunk, 'none');
      else next = await session.step(chunk, GREEDY);
      if (ids.length > INGEST_CHUNK_TOKENS) {
        const seconds = ((performance.now() - started) / 1000).toFixed(1);
        process.stderr.write(`ingest: ${at + chunk.length} of ${ids.length} tokens after ${seconds} s\n`);
      }
    }
  });
  const ingest = { tokens: ids.length, seconds: ms / 1000, tokensPerSecond: (ids.length / ms) * 1000 };
  return { session, next, ingest };
}

async function benchDecode(session: NativeSession, first: number, options: BenchOptions) {
  let next = first;
  for (let step = 0; step < WARMUP_STEPS; step++) next = await session.step(Int32Array.of(next), GREEDY);
  const msAll: number[] = [];
  for (let step = 0; step < options.decodeSteps; step++) {
    msAll.push(
      await timed(async () => {
        next = await session.step(Int32Array.of(next), GREEDY);
      }),
    );
  }
  return {
    context: options.contextTokens,
    steps: options.decodeSteps,
    msPerToken: quantile(msAll, 0.5),
    msMean: msAll.reduce((sum, ms) => sum + ms, 0) / msAll.length,
    p10: quantile(msAll, 0.1),
    p90: quantile(msAll, 0.9),
    msAll,
  };
}

/** Forks the context (sharing its pages), prefills a question of `questionTokens` in the fork and decodes a token. */
async function benchQuestion(context: NativeSession, vocab: number, options: BenchOptions) {
  const tokens = options.questionTokens;
  const fork = context.fork({ maxTokens: context.length + tokens + 1, seed: options.seed });
  try {
    const ms = await timed(() => fork.step(randomIds(tokens, vocab), GREEDY));
    return { tokens, seconds: ms / 1000 };
  } finally {
    fork.dispose();
  }
}

/** Drops the context's last `editTokens` (and what followed), prefills as many new ones and decodes a token. */
async function benchEdit(session: NativeSession, vocab: number, options: BenchOptions) {
  const tokens = Math.min(options.editTokens, options.contextTokens);
  session.truncate(options.contextTokens - tokens);
  const ms = await timed(() => session.step(randomIds(tokens, vocab), GREEDY));
  return { tokens, seconds: ms / 1000 };
}

/** Saves the session's context to a file, then frees it (the load needs its pages) and loads the file. */
async function benchSnapshot(model: NativeModel, context: NativeSession, dir: string, options: BenchOptions) {
  const path = join(dir, `hipcode-bench-${process.pid}.kv`);
  const tokens = options.contextTokens;
  try {
    const saveMs = await timed(() => context.saveSnapshot(path, 'bench', tokens));
    context.dispose();
    const bytes = statSync(path).size;
    const session = model.createSession({ maxTokens: tokens + 1, seed: options.seed });
    try {
      const loadMs = await timed(() => session.loadSnapshot(path, 'bench'));
      const stepMs = await timed(() => session.step(Int32Array.of(0), GREEDY));
      return {
        dir,
        tokens,
        bytes,
        saveSeconds: saveMs / 1000,
        loadSeconds: loadMs / 1000,
        readySeconds: (loadMs + stepMs) / 1000,
      };
    } finally {
      session.dispose();
    }
  } finally {
    rmSync(path, { force: true });
  }
}

/** A question, decode, edit and snapshot, each when asked for, on one session holding the context. */
async function benchContext(model: NativeModel, vocab: number, options: BenchOptions, gpu: GpuMemoryPeak) {
  const none = { ingest: null, question: null, decode: null, edit: null, snapshot: null };
  const asked = options.questionTokens + options.decodeSteps + options.editTokens > 0 || options.snapshotDir;
  if (!asked) return none;
  const { session, next, ingest } = await contextSession(model, vocab, options);
  gpu.sample();
  try {
    const question = options.questionTokens > 0 ? await benchQuestion(session, vocab, options) : null;
    gpu.sample();
    const decode = options.decodeSteps > 0 ? await benchDecode(session, next, options) : null;
    gpu.sample();
    const edit = options.editTokens > 0 ? await benchEdit(session, vocab, options) : null;
    gpu.sample();
    const snapshot = options.snapshotDir
      ? await benchSnapshot(model, session, options.snapshotDir, options)
      : null;
    return { ingest, question, decode, edit, snapshot };
  } finally {
    session.dispose();
  }
}

function relativeL2(actual: Float32Array, expected: Float32Array): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < expected.length; i++) {
    diff += (actual[i] - expected[i]) ** 2;
    norm += expected[i] ** 2;
  }
  return Math.sqrt(diff / Math.max(norm, 1e-30));
}

function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

async function benchFidelity(model: NativeModel, dense: NativeModel, vocab: number, options: BenchOptions) {
  const maxTokens = options.contextTokens + options.fidelitySteps + 1;
  const sparse = model.createSession({ maxTokens, seed: options.seed });
  const reference = dense.createSession({ maxTokens, seed: options.seed });
  try {
    const context = randomIds(options.contextTokens, vocab);
    await sparse.forward(context, 'none');
    let expected = await reference.forward(context, 'last');
    const relL2All: number[] = [];
    let top1Agreement = 0;
    for (let step = 0; step < options.fidelitySteps; step++) {
      const next = Int32Array.of(argmax(expected));
      const actual = await sparse.forward(next, 'last');
      expected = await reference.forward(next, 'last');
      relL2All.push(relativeL2(actual, expected));
      if (argmax(actual) === argmax(expected)) top1Agreement++;
    }
    return {
      context: options.contextTokens,
      steps: options.fidelitySteps,
      relL2All,
      maxRelL2: Math.max(...relL2All),
      meanRelL2: relL2All.reduce((sum, value) => sum + value, 0) / relL2All.length,
      top1Agreement,
    };
  } finally {
    sparse.dispose();
    reference.dispose();
  }
}

function deviceName(options: BenchOptions): string {
  if (options.backend === 'cpu') return `${cpus()[0]?.model ?? 'CPU'} (${cpus().length} threads)`;
  return loadAddon().probe().cuda.devices[options.device]?.name ?? `CUDA device ${options.device}`;
}

function engineCommit(): string {
  if (process.env.HIPCODE_COMMIT) return process.env.HIPCODE_COMMIT;
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: __dirname,
      encoding: 'utf8',
      stdio: 'pipe',
    }).trim();
  } catch {
    return 'unknown';
  }
}

function gpuMemoryUsed(options: BenchOptions): number | null {
  if (options.backend !== 'cuda') return null;
  const device = loadAddon().probe().cuda.devices[options.device];
  return device ? device.totalMemory - device.freeMemory : null;
}

/** The most GPU memory in use over the samples taken (null off the GPU). */
class GpuMemoryPeak {
  private peakBytes: number | null = null;
  constructor(private readonly options: BenchOptions) {}
  sample(): void {
    const used = gpuMemoryUsed(this.options);
    if (used !== null) this.peakBytes = Math.max(this.peakBytes ?? 0, used);
  }
  peak(): number | null {
    this.sample();
    return this.peakBytes;
  }
}

function syntheticSpec(options: BenchOptions, attention: AttentionMode): NativeSyntheticModelSpec {
  const bench = BENCH_GEOMETRIES[options.geometry];
  return {
    backend: options.backend,
    device: options.device,
    threads: options.threads,
    gpuKvBudget: options.gpuKvBudget,
    hostKvBudget: options.hostKvBudget,
    kvDtype: options.kvDtype,
    attention,
    hip: options.hip,
    geometry: bench.geometry,
    seed: options.seed,
    attentionBias: bench.attentionBias,
    qkNorm: bench.qkNorm,
    tiedEmbeddings: bench.tiedEmbeddings,
  };
}

/**
 * Fidelity against a copy of the model (same seed, same weights) with dense attention and the backend's own KV
 * rows, loaded beside it: what HiP attention, fp8 rows or both cost.
 */
async function fidelityAgainstDense(model: NativeModel, vocab: number, options: BenchOptions) {
  if (options.fidelitySteps === 0 || (options.attention === 'dense' && options.kvDtype === 'auto'))
    return null;
  const dense = await loadAddon().createSyntheticModel({
    ...syntheticSpec(options, 'dense'),
    kvDtype: 'auto',
  });
  try {
    return await benchFidelity(model, dense, vocab, options);
  } finally {
    dense.dispose();
  }
}

export async function runBench(options: BenchOptions): Promise<BenchResult> {
  const bench = BENCH_GEOMETRIES[options.geometry];
  const vocab = bench.geometry.vocabSize;
  const setupStart = performance.now();
  const model = await loadAddon().createSyntheticModel(syntheticSpec(options, options.attention));
  const setupSeconds = (performance.now() - setupStart) / 1000;
  try {
    await warmUp(model, vocab, options);
    const prefill = options.prefillTokens > 0 ? await benchPrefill(model, vocab, options) : null;
    const gpu = new GpuMemoryPeak(options);
    const { ingest, question, decode, edit, snapshot } = await benchContext(model, vocab, options, gpu);
    const fidelity = await fidelityAgainstDense(model, vocab, options);
    const kvMemory = { ...model.kvMemory };
    return {
      engine: 'hipcode',
      backend: options.backend,
      device: deviceName(options),
      commit: engineCommit(),
      date: new Date().toISOString(),
      geometry: options.geometry,
      attention: options.attention,
      kvDtype: model.kvDtype,
      kvMemory,
      params: parameterCount(bench),
      setupSeconds,
      prefill,
      decode,
      fidelity,
      ingest,
      question,
      edit,
      snapshot,
      gpuMemoryUsedBytes: gpu.peak(),
      peakHostMemoryBytes: process.resourceUsage().maxRSS * 1024,
    };
  } finally {
    model.dispose();
  }
}
