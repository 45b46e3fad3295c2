// The messages between the extension host and its webviews (the chat and the context view), both directions.
// This is the one file both sides share; the webview imports only types from it. The webview posts `ready`
// first and the host answers with `state`: nothing is sent before `ready` (no timers).
import type { Reference } from '../extension/engine/answer/citations';
import type { AskTimings, AskUsage, ContextReport } from '../extension/engine/protocol';

/** Which UI a webview shows; set by the host as `data-view` on <body>. */
export type ViewKind = 'chat' | 'context';

/** What the engine is doing, as the status bar and the views show it. */
export type EnginePhase =
  | 'restricted' // workspace not trusted: nothing is spawned or read
  | 'noModel' // no model configured
  | 'starting' // process spawned, model loading
  | 'ingesting' // syncing the workspace
  | 'ready'
  | 'answering'
  | 'crashed' // the engine died; `message` says why, restart is offered
  | 'stopped';

export interface EngineState {
  phase: EnginePhase;
  /** A sentence for the user (why it crashed, what to do, which model is loading). */
  message?: string;
  /** Absolute model folder, when one is configured. */
  modelDir?: string;
  backend?: 'cpu' | 'cuda';
  /** The model's context in tokens. */
  modelContext?: number;
  /** Tokens of the workspace context. */
  contextTokens?: number;
  /** GPU memory in use / total, bytes (cuda only). */
  gpuMemory?: { used: number; total: number };
}

/** Progress of an ingest (workspace sync), cumulative. */
export interface IngestProgress {
  phase: 'scan' | 'tokenize' | 'restore' | 'prefill';
  files: number;
  totalFiles: number;
  tokens: number;
  /** Tokens in the whole phase when known (prefill: the context's tokens). */
  totalTokens?: number;
  tokensPerSecond?: number;
  /** Seconds left in this phase, when it can be estimated. */
  etaSeconds?: number;
}

export type TurnStatus = 'streaming' | 'done' | 'stopped' | 'error';

/** One question and its answer. */
export interface Turn {
  id: string;
  question: string;
  /** Markdown, as generated so far. */
  answer: string;
  status: TurnStatus;
  references: Reference[];
  usage?: AskUsage;
  timings?: AskTimings;
  /** Why the answer failed (status 'error'). */
  error?: string;
}

/** A model the user can pick (discovered in the Hugging Face cache or the configured folders). */
export interface ModelChoice {
  dir: string;
  name: string;
  architecture: string;
  contextLength: number;
  bytes: number;
  /** Why it cannot be used; absent when usable. */
  problem?: string;
}

/** Everything a view needs to render from scratch (sent after `ready` and whenever the host chooses). */
export interface ViewState {
  view: ViewKind;
  engine: EngineState;
  /** The chat's turns, oldest first (chat view). */
  turns: Turn[];
  /** The last context report, if a sync finished. */
  report?: ContextReport;
  /** The ingest in progress, if any. */
  progress?: IngestProgress;
  /** First run: discovered models to pick from (empty when none were found). */
  models?: ModelChoice[];
  /** First run without a usable GPU: what the CPU can do, in a sentence. */
  gpuNote?: string;
}

// ------------------------------------------------------------------------------------------- host → webview

export type HostMessage =
  | { type: 'state'; state: ViewState }
  | { type: 'engine'; engine: EngineState }
  | { type: 'progress'; progress: IngestProgress | null }
  | { type: 'report'; report: ContextReport }
  | { type: 'turnStart'; turn: Turn }
  | { type: 'turnDelta'; id: string; text: string }
  | { type: 'turnEnd'; turn: Turn }
  /** Puts text in the question box (e.g. "Where is …", or a selection to ask about) and focuses it. */
  | { type: 'prefill'; text: string };

// ------------------------------------------------------------------------------------------- webview → host

export type WebviewMessage =
  | { type: 'ready' }
  | { type: 'ask'; question: string }
  | { type: 'stop' }
  | { type: 'newChat' }
  | { type: 'openReference'; path: string; startLine: number; endLine: number }
  | { type: 'copy'; text: string }
  | { type: 'insert'; text: string }
  | { type: 'reingest' }
  | { type: 'cancelIngest' }
  | { type: 'selectModel'; dir?: string }
  | { type: 'restartEngine' }
  | { type: 'showLog' }
  | { type: 'manageTrust' }
  | { type: 'openChatPanel' };
