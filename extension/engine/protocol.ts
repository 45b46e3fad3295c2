// The engine process's protocol: JSON-RPC 2.0 over stdio (vscode-jsonrpc framing, `Content-Length` headers).
// This is the one file both sides share: the engine (extension/engine/server) and the VS Code extension.
//
// Lifecycle: spawn `node dist/engine.js`; send `hipcode/initialize` (loads the model), `hipcode/syncWorkspace`
// (reads the workspace into the context and prefills it into the KV cache), then any number of `hipcode/ask`;
// `hipcode/shutdown` disposes the model; the `hipcode/exit` notification ends the process.
//
// KV cache (protocol 2): the engine keeps one session per model for the context, sized to the model's context,
// and remembers the token ids it holds. Every prefill runs only past the longest common prefix of what is held and
// the new prompt, so the workspace context is prefilled once. An ask runs in a fork of that session, which shares
// its KV pages instead of copying them and never changes it: only the question and the answer are run (AskUsage.
// cachedTokens says how many tokens were reused), a follow-up whose prompt extends the last ask's runs on in that
// fork, and an ask with a seed gets a fresh fork seeded with it (protocol 3). Prefills run in chunks of about 0.05 s with a
// turn of the event loop between them, so `$/cancelRequest` ends a prefill of any length within about 0.2 s.
// Work on the session (a sync's prefill, an ask, a didChangeFiles update) runs one at a time, in arrival order;
// a request waiting for its turn can be cancelled. A second ask (or sync) while one is in flight is E_BUSY.
//
// KV snapshots (protocol 3): after a sync's prefill the engine saves the context's stable prefix (its KV, token ids
// and a fingerprint of the model, backend and KV dtype) to the user's cache folder ($XDG_CACHE_HOME/hipcode/
// snapshots or ~/.cache/hipcode/snapshots; HIPCODE_SNAPSHOT_DIR overrides it, 'off' disables them), one file per
// set of roots, in the background: a request arriving meanwhile takes over and the save runs again after it. A
// later sync of the same roots (after an editor restart, say) loads the part of that file the new prompt starts
// with when that is more than the session holds, and prefills only the rest (ContextReport.restoredTokens). Files
// are written to a temporary and renamed; a load checks the header (checksum, fingerprint, sizes) first and each
// K/V chunk's checksum as it streams: a bad file is logged, deleted and ignored.
//
// stdout carries protocol messages only; the engine logs to stderr, one line each, prefixed `[info]`, `[warn]`
// or `[error]`.
//
// Errors: every failure is a JSON-RPC error response whose `data` is an `EngineErrorData` ({ code: HipErrorCode })
// and whose message says what to do. Cancellation (`$/cancelRequest` { id }) of syncWorkspace or ask answers the
// request with code REQUEST_CANCELLED (-32800, LSP's value) and data.code 'E_CANCELLED'. Unknown methods get
// MethodNotFound (-32601), unparsable messages are reported as errors and never end the engine.
//
// Clients: when the connection closes (the engine died), call `connection.dispose()` in `onClose` so that pending
// requests reject instead of waiting forever; vscode-jsonrpc does not reject them on its own.
import { NotificationType, NotificationType0, RequestType, RequestType0 } from 'vscode-jsonrpc';
import type { Reference } from './answer/citations';
import type { HipErrorCode } from './errors';
import type { ExcludeCode } from './workspace/types';

/** Version of this protocol, returned by initialize; bumped on every change (2: KV prefix reuse, prefill progress
 * with rates and ETA, usage.cachedTokens, didChangeFiles and contextChanged; 3: KV snapshots and
 * ContextReport.restoredTokens). Changes so far only add fields and messages. */
export const PROTOCOL_VERSION = 3;

/** JSON-RPC error code of a request ended by `$/cancelRequest` (the LSP value). */
export const REQUEST_CANCELLED = -32800;

/** `data` of every error response the engine sends for a failed request. */
export interface EngineErrorData {
  code: HipErrorCode;
}

export type BackendChoice = 'cpu' | 'cuda' | 'auto';

// ---------------------------------------------------------------------------------------------- hipcode/initialize

/** Loads a model; a second initialize replaces the loaded model (the workspace context is then dropped). */
export interface InitializeParams {
  /** A Hugging Face model folder (config.json, tokenizer.json, *.safetensors). */
  modelDir: string;
  /** Default 'auto': CUDA when a usable GPU is found, else the CPU (the reason is logged). */
  backend?: BackendChoice;
  /** CPU worker threads; 0 or absent = all hardware threads. */
  threads?: number;
  /** CUDA device ordinal (default 0). */
  device?: number;
  /** Bytes of GPU memory for the KV cache (cuda only); 0 or absent = what the weights leave free, less a reserve. */
  gpuKvBudget?: number;
  /**
   * Bytes of pinned host memory for the KV pages beyond the GPU budget (cuda only); 0 = no host tier; absent =
   * automatic (up to half the host's available memory, only when a context needs more pages than the GPU holds).
   */
  hostKvBudget?: number;
  /**
   * Attention of the decode steps (default 'dense'): 'hip' prunes keys with HiP sparse attention, 'auto' uses HiP
   * once the context is long enough for it to pay off (README, `--attention`).
   */
  attention?: 'dense' | 'hip' | 'auto';
  /**
   * How the KV cache keeps its rows (default 'auto': f32 on the CPU, bf16 on CUDA); 'fp8-e4m3' keeps 8-bit rows
   * with an f32 scale each, about half of bf16's memory (CPU backend only so far). Part of a snapshot's identity.
   */
  kvDtype?: 'auto' | 'f32' | 'bf16' | 'fp8-e4m3';
}

export interface ModelInfo {
  /** Absolute model folder. */
  dir: string;
  /** e.g. 'Qwen3ForCausalLM'. */
  architecture: string;
  /** The model's context in tokens (max_position_embeddings). */
  contextLength: number;
  vocabSize: number;
}

export interface InitializeResult {
  protocolVersion: number;
  model: ModelInfo;
  /** The backend the model was loaded on (auto resolved). */
  backend: 'cpu' | 'cuda';
}

export const InitializeRequest = new RequestType<InitializeParams, InitializeResult, EngineErrorData>(
  'hipcode/initialize',
);

// ------------------------------------------------------------------------------------------ hipcode/syncWorkspace

/**
 * Reads the workspace into the context (needs initialize: files are counted in the model's tokens), then prefills
 * the prompt's stable prefix (system prompt, template and the whole context) into the KV cache, with progress in
 * phase 'prefill'; the result comes when the context is in the cache. Cancelled during the prefill, the new
 * context stays (the next ask prefills the rest); cancelled before, the previous context stays.
 */
export interface SyncWorkspaceParams {
  /** Folders to read (at least one). */
  roots: string[];
  /** Gitignore-style globs relative to each root; when given, only matching files are kept. */
  include?: string[];
  /** Gitignore-style globs relative to each root; matching files and folders are left out. */
  exclude?: string[];
  /**
   * Cap on the context's tokens. The context never takes more than the model's context less the prompt and the
   * default answer reserve (ContextReport.budget says what was applied).
   */
  maxTokens?: number;
  /** Per-file size cap in bytes (default 1 MiB). */
  maxFileBytes?: number;
  /** Unsaved editor buffers: absolute path → text, read instead of the file on disk. */
  buffers?: Record<string, string>;
  /** A client-chosen tag echoed in this request's progress notifications. */
  requestId?: string;
}

export interface IncludedFileReport {
  path: string;
  language: string;
  bytes: number;
  tokens: number;
}

export interface ExcludedEntryReport {
  path: string;
  kind: 'file' | 'folder';
  code: ExcludeCode;
  reason: string;
}

/** The context report: every file either included (with its tokens, in context order) or excluded (with why). */
export interface ContextReport {
  roots: string[];
  included: IncludedFileReport[];
  excluded: ExcludedEntryReport[];
  totals: {
    includedFiles: number;
    excludedEntries: number;
    /** Tokens of the included files (the context). */
    tokens: number;
    /** Tokens the context was allowed. */
    budget: number;
    /** The model's context in tokens. */
    modelContext: number;
  };
  /**
   * Tokens of the context's KV loaded from the snapshot of these roots instead of prefilled (syncWorkspace's result
   * only; absent when none was). Protocol 3.
   */
  restoredTokens?: number;
}

export const SyncWorkspaceRequest = new RequestType<SyncWorkspaceParams, ContextReport, EngineErrorData>(
  'hipcode/syncWorkspace',
);

// ------------------------------------------------------------------------ hipcode/didChangeFiles, contextChanged

/**
 * Client → engine notification: what changed in the synced workspace since it was read (absolute paths). The
 * engine waits until no change has come for 300 ms (bursts merge), then re-reads only these paths with the rules
 * and caps of the last syncWorkspace (a changed .gitignore, folder or symlink: the whole workspace, reusing the
 * tokens of unchanged files), keeps the stable-first order (a changed file moves to the end, so only a suffix of
 * the KV cache is invalidated), re-applies the budget, sends `hipcode/contextChanged`, then prefills the changed
 * part (progress with method 'hipcode/didChangeFiles'). Updates wait for a running ask or sync to end; an ask
 * or sync arriving during an update's prefill takes over (its own prefill continues from there). Changes
 * notified during a syncWorkspace apply after it; before the first one they are ignored. Invalid params are
 * logged and ignored (it is a notification).
 */
export interface DidChangeFilesParams {
  /** Files created or modified on disk (a folder or a symlink makes the engine re-read everything). */
  changed?: string[];
  /** Files or folders deleted on disk. */
  deleted?: string[];
  /** Unsaved editor text by absolute path (replaces the file's text); null = the buffer was closed or reverted,
   * read the file from disk again. Buffers given to syncWorkspace stay until set to null. */
  buffers?: Record<string, string | null>;
}

export const DidChangeFilesNotification = new NotificationType<DidChangeFilesParams>(
  'hipcode/didChangeFiles',
);

/** Engine → client: the context changed (a syncWorkspace read it, or didChangeFiles were applied). */
export interface ContextChangedParams {
  /** The method that changed it: 'hipcode/syncWorkspace' or 'hipcode/didChangeFiles'. */
  method: string;
  /** The syncWorkspace's requestId. */
  requestId?: string;
  /** The context as it is now (before its prefill, which follows). */
  report: ContextReport;
  /** didChangeFiles: whether the whole workspace was read again (a .gitignore, folder or symlink changed). */
  rescanned?: boolean;
  /** didChangeFiles that could not be applied (e.g. a root folder vanished): the context stayed as reported. */
  error?: { code: HipErrorCode; message: string };
}

export const ContextChangedNotification = new NotificationType<ContextChangedParams>(
  'hipcode/contextChanged',
);

/**
 * Progress of a syncWorkspace (scan, tokenize, prefill) or of an ask's prefill. Sent after the scan, after every
 * batch of tokenized files and after every prefill chunk (about every 0.1 s); counts are cumulative per phase.
 */
export interface ProgressParams {
  /** The requestId of the request this progress belongs to. */
  requestId?: string;
  /** The method doing the work: 'hipcode/syncWorkspace', 'hipcode/didChangeFiles' or 'hipcode/ask'. */
  method?: string;
  /** restore: the context's KV loaded from its snapshot (before a prefill of the rest). */
  phase: 'scan' | 'tokenize' | 'restore' | 'prefill';
  /** scan: files accepted by the scan; tokenize: files tokenized so far; restore, prefill: files in the context. */
  files: number;
  /** tokenize: tokens counted so far; restore, prefill: tokens loaded or prefilled so far (of totalTokens). */
  tokens: number;
  /** Files the scan accepted (the tokenize phase's total). */
  totalFiles: number;
  /**
   * prefill: tokens this prefill runs (the reused prefix is not counted); restore: tokens the load copies. Absent
   * while unknown (tokenize).
   */
  totalTokens?: number;
  /** tokenize and prefill: tokens per second so far in this phase. */
  tokensPerSecond?: number;
  /** tokenize and prefill: estimated seconds left in this phase (tokenize: from the bytes left). */
  etaSeconds?: number;
}

export const ProgressNotification = new NotificationType<ProgressParams>('hipcode/progress');

// ------------------------------------------------------------------------------------------------- hipcode/ask

/** An earlier turn of the conversation: the question asked and the answer it got. */
export interface ChatTurn {
  question: string;
  answer: string;
}

/** Answers a question over the synced context (an empty context when syncWorkspace was never called). */
export interface AskParams {
  question: string;
  /**
   * Earlier turns of the conversation, oldest first. The prompt is: system, user (context + first question),
   * assistant (its answer), user (next question), …, user (`question`); the context stays a prefix, so it stays
   * cached from turn to turn. When they do not fit the model with the answer's tokens (maxTokens, else the
   * default), the oldest turns are dropped (never the context): usage.droppedTurns says how many.
   * Each turn needs a non-empty question and a string answer (E_INVALID_ARGUMENT names the field).
   */
  history?: ChatTurn[];
  /** Answer tokens; default min(512, a quarter of the model context). Prompt + maxTokens must fit the model. */
  maxTokens?: number;
  /** 0 (default) = greedy. */
  temperature?: number;
  /**
   * Seed of the sampling RNG (temperature > 0). The RNG belongs to the engine's KV session (seeded 0 at
   * initialize) and advances with every sampled answer. With temperature > 0, a seed restarts the session with
   * it, so the answer is reproducible, but the context is prefilled again: give one for reproducibility only.
   */
  seed?: number;
  /** A client-chosen tag echoed in this request's answerDelta notifications. */
  requestId?: string;
}

export interface AskUsage {
  contextTokens: number;
  promptTokens: number;
  /** Prompt tokens the KV cache already held (not prefilled again); promptTokens - cachedTokens were run. */
  cachedTokens: number;
  /** Earlier turns in the prompt (0 without history). Always set by the engine; absent from `hipcode ask`. */
  historyTurns?: number;
  /** Oldest turns of the history left out because they did not fit (0 when all fit). Always set by the engine. */
  droppedTurns?: number;
  generatedTokens: number;
}

export interface AskTimings {
  /** Seconds from the start of the prefill to the first generated token. */
  firstTokenSeconds: number;
  /** Tokens prefilled for this ask (cached ones not counted) per second. */
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
  totalSeconds: number;
}

export interface AskResult {
  answer: string;
  /** `path:line` references found in the answer, each checked against the context (verified or why not). */
  references: Reference[];
  usage: AskUsage;
  timings: AskTimings;
}

export const AskRequest = new RequestType<AskParams, AskResult, EngineErrorData>('hipcode/ask');

/** A piece of the answer being generated, in order; their concatenation is AskResult.answer. */
export interface AnswerDeltaParams {
  requestId?: string;
  text: string;
}

export const AnswerDeltaNotification = new NotificationType<AnswerDeltaParams>('hipcode/answerDelta');

// ------------------------------------------------------------------------------------- status, shutdown, exit

export interface StatusResult {
  /** null before initialize and after shutdown. */
  backend: 'cpu' | 'cuda' | null;
  modelDir: string | null;
  /** Tokens of the synced context (0 before syncWorkspace). */
  contextTokens: number;
  /** Files in the synced context. */
  files: number;
  /** Whether an ask, a syncWorkspace or a didChangeFiles update is running or waiting. */
  busy: boolean;
  /** The loaded model, as initialize reported it (null without one). Protocol 2. */
  model: ModelInfo | null;
  /** The engine process's memory (Node's process.memoryUsage()). Protocol 2. */
  memory: { rssBytes: number; heapUsedBytes: number };
  /**
   * The KV sessions (null without a model): the tokens the context's session holds (the synced context's stable
   * prefix) and its capacity (the model's context); `chatTokens`, what the fork the last ask ran in holds (the
   * context it shares with the context's session, its question and answer; 0 when there is none). `gpuBytes` and
   * `hostBytes`: the memory the model's KV cache reserves in each tier (on CUDA, GPU memory and the pinned host
   * memory behind it; on the CPU, host memory for the pages made so far). Protocol 2; chatTokens, gpuBytes and
   * hostBytes since protocol 3.
   */
  kv: {
    heldTokens: number;
    capacityTokens: number;
    chatTokens: number;
    gpuBytes: number;
    hostBytes: number;
  } | null;
  /**
   * The GPU the model runs on (cuda backend only; absent on the CPU or when the driver cannot say). Its memory is
   * device-wide: other processes' allocations count too. Protocol 2.
   */
  gpu?: { device: number; name: string; usedBytes: number; totalBytes: number };
}

export const StatusRequest = new RequestType0<StatusResult, EngineErrorData>('hipcode/status');

/** Disposes the model and drops the context; the engine keeps answering (status, initialize) until exit. */
export const ShutdownRequest = new RequestType0<null, EngineErrorData>('hipcode/shutdown');

/** Ends the engine process (exit code 0 after shutdown, 1 without it). */
export const ExitNotification = new NotificationType0('hipcode/exit');
