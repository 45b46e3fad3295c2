// Keeps one engine process alive for the window: starts it (initialize, then an ingest), checks its health,
// restarts it with backoff after a crash, and runs syncs and asks on it. No vscode import: the extension wires
// its events to the UI, and tests drive it with the real engine.
import {
  AnswerDeltaNotification,
  AskRequest,
  ContextChangedNotification,
  DidChangeFilesNotification,
  InitializeRequest,
  ProgressNotification,
  StatusRequest,
  SyncWorkspaceRequest,
  type AnswerDeltaParams,
  type AskParams,
  type AskResult,
  type ContextChangedParams,
  type ContextReport,
  type DidChangeFilesParams,
  type InitializeResult,
  type ProgressParams,
} from '../engine/protocol';
import type { EngineState, IngestProgress } from '../../webview/protocol';
import { EngineClient, EngineRequestError, type EngineExit } from './engine-client';
import { Listeners } from './listeners';
import { RestartPolicy } from './restart-policy';
import type { Settings } from './settings';

/** What the supervisor needs to know about the window. */
export interface SupervisorConfig {
  settings: Settings;
  /** Workspace folders (absolute). */
  roots: string[];
  /** Unsaved editor buffers: absolute path → text. */
  buffers: () => Record<string, string>;
}

export interface Crash {
  message: string;
  outOfMemory: boolean;
  /** Milliseconds until the automatic restart; absent when restarts wait for the user. */
  restartInMs?: number;
}

export interface SupervisorOptions {
  /** dist/engine.js. */
  script: string;
  log: (line: string) => void;
  policy?: RestartPolicy;
  healthIntervalMs?: number;
  healthTimeoutMs?: number;
  /** Extra environment of the engine process. */
  env?: NodeJS.ProcessEnv;
}

const HEALTH_INTERVAL_MS = 15_000;
const HEALTH_TIMEOUT_MS = 10_000;
/** Failed health checks in a row after which the engine is taken for hung and killed. */
const HEALTH_FAILURES = 2;

let requestCounter = 0;
const nextRequestId = (kind: string): string => `${kind}-${++requestCounter}`;

function ingestProgress(params: ProgressParams): IngestProgress {
  const progress: ProgressParams & Partial<IngestProgress> = { ...params };
  delete progress.requestId;
  return progress;
}

/** Classifies an unexpected end of the engine for the user. */
export function describeCrash(exit: EngineExit): Omit<Crash, 'restartInMs'> {
  const oomLine = exit.logTail.find((line) => /E_OUT_OF_MEMORY|out of memory|std::bad_alloc/i.test(line));
  const how = exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`;
  const advice =
    'Lower hipcode.gpuKvBudget, hipcode.hostKvBudget or hipcode.maxContextTokens, or choose a smaller model.';
  if (oomLine) {
    return {
      outOfMemory: true,
      message: `The HiPCode engine ran out of memory (${how}: ${oomLine}). ${advice}`,
    };
  }
  if (exit.signal === 'SIGKILL') {
    return {
      outOfMemory: true,
      message: `The HiPCode engine was killed (SIGKILL), most often by the system when memory runs out. ${advice}`,
    };
  }
  const last = exit.logTail.filter((line) => line.startsWith('[error]')).at(-1) ?? exit.logTail.at(-1) ?? '';
  return { outOfMemory: false, message: `The HiPCode engine stopped (${how})${last ? `: ${last}` : '.'}` };
}

export class Supervisor {
  readonly onState = new Listeners<EngineState>();
  readonly onProgress = new Listeners<IngestProgress | null>();
  readonly onReport = new Listeners<ContextReport>();
  readonly onCrash = new Listeners<Crash>();
  private readonly deltas = new Listeners<AnswerDeltaParams>();

  private client: EngineClient | undefined;
  private config: SupervisorConfig | undefined;
  private current: EngineState = { phase: 'stopped' };
  private model: InitializeResult | undefined;
  private report: ContextReport | undefined;
  private syncAbort: AbortController | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private healthTimer: NodeJS.Timeout | undefined;
  private healthFailures = 0;
  /** The client killed for failing its health checks. */
  private hung: EngineClient | undefined;
  private readonly policy: RestartPolicy;

  constructor(private readonly options: SupervisorOptions) {
    this.policy = options.policy ?? new RestartPolicy();
  }

  get state(): EngineState {
    return this.current;
  }

  get lastReport(): ContextReport | undefined {
    return this.report;
  }

  get pid(): number | undefined {
    return this.client?.pid;
  }

  private setState(state: EngineState): void {
    this.current = state;
    this.onState.fire(state);
  }

  private patchState(patch: Partial<EngineState>): void {
    this.setState({ ...this.current, ...patch });
  }

  private modelState(): Partial<EngineState> {
    if (!this.model) return {};
    return {
      modelDir: this.model.model.dir,
      backend: this.model.backend,
      modelContext: this.model.model.contextLength,
      contextTokens: this.report?.totals.tokens ?? 0,
    };
  }

  configure(config: SupervisorConfig): void {
    this.config = config;
  }

  /** Shows a phase without an engine (restricted mode, no model). Stops a running engine first. */
  async idle(phase: 'restricted' | 'noModel', message: string): Promise<void> {
    await this.stop();
    this.setState({ phase, message });
  }

  /** Starts the engine: spawn, load the model, then ingest when hipcode.autoIngest is on. */
  async start(): Promise<void> {
    const config = this.config;
    if (!config) throw new Error('Supervisor.start before configure');
    await this.stop();
    const { settings } = config;
    this.setState({
      phase: 'starting',
      message: `Loading ${settings.modelPath}…`,
      modelDir: settings.modelPath,
    });
    const client = this.spawn();
    try {
      this.model = await client.request(InitializeRequest, {
        modelDir: settings.modelPath,
        backend: settings.backend,
        device: settings.device,
        threads: settings.threads,
        gpuKvBudget: settings.gpuKvBudget,
        hostKvBudget: settings.hostKvBudget === 'auto' ? undefined : settings.hostKvBudget,
        kvDtype: settings.kvDtype,
        attention: settings.attention,
      });
    } catch (error) {
      if (client !== this.client) return;
      await this.failedLoad(error);
      return;
    }
    if (client !== this.client) return;
    this.setState({ phase: 'ready', ...this.modelState() });
    this.scheduleHealth();
    void this.refreshStatus().catch(() => undefined);
    if (settings.autoIngest && config.roots.length > 0) await this.sync().catch(() => undefined);
  }

  private spawn(): EngineClient {
    const client: EngineClient = new EngineClient({
      script: this.options.script,
      env: this.options.env,
      onLog: this.options.log,
      onExit: (exit) => this.exited(client, exit),
    });
    this.client = client;
    this.healthFailures = 0;
    client.onNotification(ProgressNotification, (params) => {
      if (params.method !== AskRequest.method) this.onProgress.fire(ingestProgress(params));
    });
    client.onNotification(ContextChangedNotification, (params) => this.contextChanged(params));
    client.onNotification(AnswerDeltaNotification, (delta) => this.deltas.fire(delta));
    return client;
  }

  /** A sync or a file change gave a new context (its prefill follows). */
  private contextChanged(params: ContextChangedParams): void {
    if (params.error) this.options.log(`[client] the context could not be updated: ${params.error.message}`);
    this.report = params.report;
    this.onReport.fire(params.report);
    this.patchState({ contextTokens: params.report.totals.tokens });
  }

  /** Tells the engine what changed in the workspace (ignored until the first sync). */
  notifyChanges(params: DidChangeFilesParams): void {
    if (this.client && this.model) this.client.notify(DidChangeFilesNotification, params);
  }

  private async failedLoad(error: unknown): Promise<void> {
    const e =
      error instanceof EngineRequestError ? error : new EngineRequestError('E_INTERNAL', String(error));
    if (e.code === 'E_ENGINE_EXITED') return;
    await this.stop();
    const modelMissing = ['E_MODEL_NOT_FOUND', 'E_MODEL_FILE', 'E_CONFIG', 'E_UNSUPPORTED'].includes(e.code);
    const message = `The model could not be loaded [${e.code}]: ${e.message}`;
    if (modelMissing) this.setState({ phase: 'noModel', message });
    else this.setState({ phase: 'crashed', message });
    this.onCrash.fire({ message, outOfMemory: e.code === 'E_OUT_OF_MEMORY' });
  }

  private exited(client: EngineClient, exit: EngineExit): void {
    if (client !== this.client) return;
    this.client = undefined;
    this.clearHealth();
    this.syncAbort?.abort();
    this.onProgress.fire(null);
    if (exit.expected) return;
    const crash =
      this.hung === client
        ? {
            outOfMemory: false,
            message: 'The HiPCode engine stopped answering its health checks and was stopped.',
          }
        : describeCrash(exit);
    this.options.log(`[client] ${crash.message}`);
    const decision = this.policy.crashed(Date.now());
    const restartInMs = decision.restart ? decision.delayMs : undefined;
    this.setState({ phase: 'crashed', message: crash.message, ...this.modelState() });
    this.onCrash.fire({ ...crash, restartInMs });
    if (decision.restart) {
      this.restartTimer = setTimeout(() => void this.start().catch(() => undefined), decision.delayMs);
    }
  }

  /** A restart the user asked for: forgets earlier crashes. */
  async restart(): Promise<void> {
    this.policy.reset();
    await this.start();
  }

  /** Stops the engine (shutdown, then exit; killed after a grace period). */
  async stop(): Promise<void> {
    clearTimeout(this.restartTimer);
    this.clearHealth();
    this.syncAbort?.abort();
    const client = this.client;
    this.client = undefined;
    this.model = undefined;
    this.report = undefined;
    if (client) await client.stop();
    this.setState({ phase: 'stopped' });
  }

  private scheduleHealth(): void {
    this.clearHealth();
    const interval = this.options.healthIntervalMs ?? HEALTH_INTERVAL_MS;
    this.healthTimer = setInterval(() => void this.checkHealth(), interval);
  }

  private clearHealth(): void {
    clearInterval(this.healthTimer);
    this.healthTimer = undefined;
  }

  private async checkHealth(): Promise<void> {
    const client = this.client;
    if (!client) return;
    try {
      await this.refreshStatus();
      this.healthFailures = 0;
    } catch (error) {
      if (client !== this.client || (error as EngineRequestError).code === 'E_ENGINE_EXITED') return;
      this.healthFailures += 1;
      this.options.log(`[client] health check failed (${this.healthFailures}): ${(error as Error).message}`);
      if (this.healthFailures >= HEALTH_FAILURES) {
        this.options.log('[client] the engine does not answer; killing it');
        this.hung = client;
        client.kill(false);
      }
    }
  }

  /** Asks the engine for its status (the health check) and shows its GPU memory. */
  private async refreshStatus(): Promise<void> {
    const client = this.client;
    if (!client) return;
    const { gpu } = await client.request0(StatusRequest, this.options.healthTimeoutMs ?? HEALTH_TIMEOUT_MS);
    if (gpu) this.patchState({ gpuMemory: { used: gpu.usedBytes, total: gpu.totalBytes } });
  }

  private requireClient(what: string): EngineClient {
    const client = this.client;
    if (!client || !this.model) {
      throw new EngineRequestError('E_NOT_READY', `cannot ${what}: the engine is ${this.current.phase}`);
    }
    return client;
  }

  /** Reads the workspace into the context; a new sync cancels the one running. */
  async sync(): Promise<ContextReport> {
    const config = this.config;
    const client = this.requireClient('ingest the workspace');
    if (!config || config.roots.length === 0) {
      throw new EngineRequestError('E_WORKSPACE', 'open a folder to ingest it');
    }
    this.syncAbort?.abort();
    const abort = new AbortController();
    this.syncAbort = abort;
    const { settings } = config;
    this.setState({ phase: 'ingesting', ...this.modelState() });
    try {
      const report = await client.request(
        SyncWorkspaceRequest,
        {
          roots: config.roots,
          include: settings.include.length > 0 ? settings.include : undefined,
          exclude: settings.exclude,
          maxTokens: settings.maxContextTokens > 0 ? settings.maxContextTokens : undefined,
          maxFileBytes: settings.maxFileBytes,
          buffers: config.buffers(),
          requestId: nextRequestId('sync'),
        },
        abort.signal,
      );
      this.report = report;
      this.onReport.fire(report);
      return report;
    } finally {
      if (this.syncAbort === abort) {
        this.syncAbort = undefined;
        this.onProgress.fire(null);
        if (client === this.client) this.setState({ phase: 'ready', ...this.modelState() });
      }
    }
  }

  cancelSync(): void {
    this.syncAbort?.abort();
  }

  /** Asks a question over the context, streaming the answer's text to `onDelta`. */
  async ask(
    params: Omit<AskParams, 'requestId'>,
    onDelta: (text: string) => void,
    signal: AbortSignal,
  ): Promise<AskResult> {
    const client = this.requireClient('answer');
    if (this.current.phase === 'ingesting') {
      throw new EngineRequestError('E_BUSY', 'the workspace is being ingested; ask again when it is done');
    }
    const requestId = nextRequestId('ask');
    const onAnswer = (delta: AnswerDeltaParams): void => {
      if (delta.requestId === requestId) onDelta(delta.text);
    };
    const remove = this.deltas.add(onAnswer);
    this.setState({ phase: 'answering', ...this.modelState() });
    try {
      return await client.request(AskRequest, { ...params, requestId }, signal);
    } finally {
      remove();
      if (client === this.client) this.setState({ phase: 'ready', ...this.modelState() });
    }
  }
}
