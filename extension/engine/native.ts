// Loads the native engine addon (hipcode.node) and types its whole API: the one boundary between TypeScript and C++.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { HipError } from './errors';

/** Storage dtype of a weight tensor as found in safetensors. */
export type WeightDType = 'bf16' | 'f16' | 'f32';
/** How the KV cache may keep its rows ('auto': the backend's); fp8-e4m3 rows carry an f32 scale each (f32: CPU only). */
export const KV_DTYPE_CHOICES = ['auto', 'f32', 'bf16', 'fp8-e4m3'] as const;
export type KvDtype = Exclude<(typeof KV_DTYPE_CHOICES)[number], 'auto'>;

/** Where one weight tensor lives: a byte range of a safetensors file that the addon memory-maps. */
export interface TensorRef {
  /** Absolute path of the safetensors file. */
  file: string;
  /** Absolute byte offset of the tensor data in the file (8 + header length + data_offsets[0]). */
  offset: number;
  dtype: WeightDType;
  /** Row-major shape, as in the safetensors header (e.g. [out_features, in_features] for a linear weight). */
  shape: number[];
}

/** A linear layer y = x·Wᵀ (+ b); weight [out, in], bias [out]. */
export interface LinearRef {
  weight: TensorRef;
  bias?: TensorRef;
}

export interface LayerWeightRefs {
  /** input_layernorm.weight [hidden] */
  attnNorm: TensorRef;
  q: LinearRef; // [n_heads * head_dim, hidden]
  k: LinearRef; // [n_kv_heads * head_dim, hidden]
  v: LinearRef; // [n_kv_heads * head_dim, hidden]
  o: LinearRef; // [hidden, n_heads * head_dim]
  /** Qwen3 q_norm / k_norm, RMSNorm over head_dim: [head_dim] */
  qNorm?: TensorRef;
  kNorm?: TensorRef;
  /** post_attention_layernorm.weight [hidden] */
  mlpNorm: TensorRef;
  gate: LinearRef; // [intermediate, hidden]
  up: LinearRef; // [intermediate, hidden]
  down: LinearRef; // [hidden, intermediate]
}

export interface ModelWeightRefs {
  embed: TensorRef; // [vocab, hidden]
  layers: LayerWeightRefs[];
  finalNorm: TensorRef; // [hidden]
  /** [vocab, hidden]; the same TensorRef as embed when the embeddings are tied. */
  lmHead: TensorRef;
}

export type RopeType = 'default' | 'linear' | 'dynamic' | 'llama3' | 'yarn';

/** RoPE parameters with Hugging Face semantics (modeling_rope_utils); unused fields are ignored by the type. */
export interface RopeSpec {
  type: RopeType;
  theta: number;
  /** linear, dynamic, llama3, yarn */
  factor: number;
  /** llama3, yarn, dynamic: the pretraining context length the scaling refers to */
  originalMaxPositionEmbeddings: number;
  /** llama3 */
  lowFreqFactor: number;
  highFreqFactor: number;
  /** yarn */
  betaFast: number;
  betaSlow: number;
  /** yarn: multiplier applied to cos and sin (already resolved from attention_factor / mscale / mscale_all_dim) */
  attentionFactor: number;
  /** yarn: round the correction range to integers (HF `truncate`, default true) */
  truncate: boolean;
}

export interface ModelGeometry {
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  rmsNormEps: number;
  /** Keys older than this many positions are masked (Mistral); 0 means no sliding window. */
  slidingWindow: number;
  maxPositionEmbeddings: number;
  rope: RopeSpec;
}

export type BackendName = 'cpu' | 'cuda';

/** Attention of decode steps and prefill chunks: dense; HiP sparse attention (InfiniteHiP) whenever keys lie
 * outside the sink and the window (the last 64-query block of every prefill chunk of prefillChunkTokens positions, and of a prefill whose logits are read, attends densely; a prefill of fewer than 128 positions, such as a question, is sparse throughout); or auto = HiP once a
 * step or chunk attends more than hip.thresholdTokens keys (default 65536). */
export type AttentionMode = 'dense' | 'hip' | 'auto';

/** One HiP pruning stage: chunks of chunkSize tokens, the best keepTokens / chunkSize survive. */
export interface HipStageSpec {
  chunkSize: number;
  keepTokens: number;
  /** Query rows averaged into one scoring row (prefill only); default 1. */
  queryStride?: number;
}

/** HiP knobs, each optional; defaults = the InfiniteHiP "3K" preset. */
export interface HipSpec {
  /** auto: HiP once a decode step attends more keys than this (default 65536). */
  thresholdTokens?: number;
  /** Decode steps between re-runs of a layer's mask estimation from stage i on, one entry per stage
   * (stage 0 = from scratch); default [16, 8, 4] as in InfiniteHiP. */
  refreshIntervals?: number[];
  /** Layers [0, denseLayers) stay dense (default 0). */
  denseLayers?: number;
  /** Keys always attended at the start (default 256). */
  sinkTokens?: number;
  /** Most recent keys always attended (default 1024). */
  windowTokens?: number;
  /** A prefill's chunks (absolute positions) whose last 64-query block attends densely (default 32768). */
  prefillChunkTokens?: number;
  /** Default: chunks of 256 / 32 / 8 tokens keeping 32768 / 8192 / 2048. */
  stages?: HipStageSpec[];
}

export interface NativeModelSpec {
  backend: BackendName;
  /** CUDA device ordinal (cuda only). */
  device?: number;
  /** CPU worker threads; 0 or absent = all hardware threads. */
  threads?: number;
  /** Bytes of GPU memory for the KV cache (cuda only); 0 or absent = what the weights leave free, less a reserve. */
  gpuKvBudget?: number;
  /**
   * Bytes of pinned host memory for the KV pages beyond the GPU budget (cuda only); 0 = no host tier; absent =
   * automatic: up to half the host's available memory, taken only when a context needs more pages than the GPU
   * budget holds.
   */
  hostKvBudget?: number;
  /** How the KV cache keeps rows; 'auto' or absent = the backend's (f32 on the CPU, bf16 on CUDA). */
  kvDtype?: KvDtype | 'auto';
  /** Default 'dense'. */
  attention?: AttentionMode;
  hip?: HipSpec;
  geometry: ModelGeometry;
  weights: ModelWeightRefs;
}

/** Sampling parameters with Hugging Face semantics; applied in this order: repetition penalty, temperature, top-k, top-p, min-p. */
export interface SamplingParams {
  /** 0 = greedy (argmax after the repetition penalty). */
  temperature: number;
  /** 0 = disabled. */
  topK: number;
  /** 1 = disabled. */
  topP: number;
  /** 0 = disabled. */
  minP: number;
  /** 1 = disabled; applied over every token the session holds (prompt and generated). */
  repetitionPenalty: number;
}

export interface SessionOptions {
  /** Capacity of the session's KV cache in tokens. */
  maxTokens: number;
  /** Seed of the session's sampling RNG. */
  seed: number;
}

export type LogitsMode = 'all' | 'last' | 'none';

export interface NativeSession {
  /** Number of tokens held in the KV cache. */
  readonly length: number;
  /** Positions the saveSnapshot / loadSnapshot in flight (or the last one) has copied so far. */
  readonly snapshotTokens: number;
  /**
   * Appends `ids` to the context (one prefill pass) and returns their logits: [ids.length, vocab] for 'all',
   * [1, vocab] for 'last', empty for 'none'. Rejects with E_CONTEXT_FULL past maxTokens, E_BUSY when a call is in flight.
   */
  forward(ids: Int32Array, logits: LogitsMode): Promise<Float32Array>;
  /** Appends `ids` like forward, then samples the next token from the last position's logits. */
  step(ids: Int32Array, sampling: SamplingParams): Promise<number>;
  /** Drops every token at position >= length from the KV cache. */
  truncate(length: number): void;
  /**
   * A new session holding this one's tokens on the same KV pages (nothing is copied), with its own capacity and
   * RNG seed. Neither session's later calls change what the other holds. E_BUSY while a call is in flight,
   * E_INVALID_ARGUMENT when options.maxTokens is below this session's length.
   */
  fork(options: SessionOptions): NativeSession;
  /**
   * Saves the K/V of positions [0, tokens) and their ids with `fingerprint` to `path`: written to a temporary file in
   * the same folder, fsynced and renamed over `path`, with an XXH64 checksum. Rejects with E_SNAPSHOT (I/O),
   * E_CANCELLED (cancelSnapshot) or E_BUSY; a failed save leaves no file behind.
   */
  saveSnapshot(path: string, fingerprint: string, tokens: number): Promise<void>;
  /**
   * Replaces the session's contents with the first `tokens` positions (all of them when undefined or more than it
   * holds) of the snapshot at `path` and resolves to their ids, reading the file once: its header (checksum,
   * `fingerprint`, K/V shape, size) is checked first, and a missing, truncated, corrupt or mismatched file rejects
   * with E_SNAPSHOT leaving the session as it was; each K/V chunk is checked as it is copied in, and one that fails
   * rejects with E_SNAPSHOT leaving the session empty. Chunks past `tokens` are not read. E_CANCELLED after
   * cancelSnapshot.
   */
  loadSnapshot(path: string, fingerprint: string, tokens?: number): Promise<Int32Array>;
  /** Makes the saveSnapshot / loadSnapshot in flight stop at its next chunk (it rejects with E_CANCELLED). */
  cancelSnapshot(): void;
  dispose(): void;
}

export interface NativeModel {
  readonly backend: BackendName;
  /** The dtype the KV cache stores ('f32' on the CPU, 'bf16' on CUDA): part of a snapshot's identity. */
  readonly kvDtype: KvDtype;
  /**
   * Bytes the KV cache holds in each memory tier when read: gpuBytes of GPU memory (within gpuKvBudget; 0 on the
   * CPU backend) and hostBytes of host memory (on CUDA the pinned pages behind the GPU cache, within hostKvBudget,
   * 0 without a host tier; on the CPU the cache's pages). Throws E_DISPOSED after dispose.
   */
  readonly kvMemory: { gpuBytes: number; hostBytes: number };
  createSession(options: SessionOptions): NativeSession;
  dispose(): void;
}

export interface CudaDeviceInfo {
  index: number;
  name: string;
  computeCapability: string;
  totalMemory: number;
  freeMemory: number;
}

export interface BackendProbe {
  cpu: { threads: number };
  cuda: {
    /** Whether this build of the addon contains the CUDA backend. */
    compiled: boolean;
    /** Whether a usable GPU was found; when false, `reason` says why. */
    available: boolean;
    reason?: string;
    driverVersion?: string;
    runtimeVersion?: string;
    cublas?: { found: boolean; path?: string; reason?: string };
    devices: CudaDeviceInfo[];
  };
}

/** A model of a given geometry with random weights made on the backend itself (benchmarks; no files). */
export interface NativeSyntheticModelSpec {
  backend: BackendName;
  device?: number;
  threads?: number;
  gpuKvBudget?: number;
  /** As NativeModelSpec.hostKvBudget: 0 = no host tier, absent = automatic. */
  hostKvBudget?: number;
  kvDtype?: KvDtype | 'auto';
  attention?: AttentionMode;
  hip?: HipSpec;
  geometry: ModelGeometry;
  /** Seed of the random weights (the same on every backend). */
  seed: number;
  /** q/k/v biases (Qwen2). */
  attentionBias: boolean;
  /** q/k RMSNorm (Qwen3). */
  qkNorm: boolean;
  tiedEmbeddings: boolean;
}

export interface NativeAddon {
  /** Memory-maps the weights and builds the model on the chosen backend. Rejects with a coded error. */
  loadModel(spec: NativeModelSpec): Promise<NativeModel>;
  createSyntheticModel(spec: NativeSyntheticModelSpec): Promise<NativeModel>;
  probe(): BackendProbe;
}

/** Error codes the addon sets on rejected promises and thrown errors (`error.code`). */
export type NativeErrorCode =
  | 'E_INVALID_ARGUMENT'
  | 'E_MODEL_FILE'
  | 'E_OUT_OF_MEMORY'
  | 'E_BACKEND_UNAVAILABLE'
  | 'E_BUSY'
  | 'E_CONTEXT_FULL'
  | 'E_DISPOSED'
  | 'E_SNAPSHOT'
  | 'E_CANCELLED'
  | 'E_INTERNAL';

let cached: NativeAddon | undefined;

/** Candidate locations of hipcode.node: HIPCODE_ADDON, then the cmake-js build folder next to the sources or bundle. */
function addonCandidates(): string[] {
  const fromEnv = process.env.HIPCODE_ADDON ? [resolve(process.env.HIPCODE_ADDON)] : [];
  const roots = [join(__dirname, '..'), join(__dirname, '..', '..'), process.cwd()];
  const built = roots.flatMap((root) => [
    join(root, 'build', 'Release', 'hipcode.node'),
    join(root, 'build', 'Debug', 'hipcode.node'),
  ]);
  return [...fromEnv, ...new Set(built)];
}

/** Loads the addon once; throws E_ADDON_NOT_FOUND listing every path it tried. */
export function loadAddon(): NativeAddon {
  if (cached) return cached;
  const tried: string[] = [];
  for (const path of addonCandidates()) {
    if (!existsSync(path)) {
      tried.push(`${path} (missing)`);
      continue;
    }
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- the addon path is only known at run time
      cached = require(path) as NativeAddon;
      return cached;
    } catch (error) {
      tried.push(`${path} (${(error as Error).message})`);
    }
  }
  throw new HipError(
    'E_ADDON_NOT_FOUND',
    `the native engine (hipcode.node) could not be loaded; tried:\n  ${tried.join('\n  ')}\n` +
      `Build it with 'npm run build:native' or point HIPCODE_ADDON at the file.`,
  );
}
