// The extension's side of the engine process: spawns dist/engine.js with the editor's own runtime, speaks the
// JSON-RPC protocol (../engine/protocol.ts) and reports the process's end with the tail of its log.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import {
  CancellationTokenSource,
  ResponseError,
  type MessageConnection,
  type NotificationType,
  type RequestType,
  type RequestType0,
} from 'vscode-jsonrpc/node';
import {
  ExitNotification,
  REQUEST_CANCELLED,
  ShutdownRequest,
  type EngineErrorData,
} from '../engine/protocol';
import { stdioConnection } from '../engine/stdio-connection';

/** How the engine process ended. */
export interface EngineExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last lines it wrote to stderr (its log). */
  logTail: string[];
  /** Whether the client asked it to stop. */
  expected: boolean;
}

export interface EngineClientOptions {
  /** dist/engine.js of the installed extension. */
  script: string;
  /** Each stderr line of the engine (its leveled log). */
  onLog: (line: string) => void;
  onExit: (exit: EngineExit) => void;
  env?: NodeJS.ProcessEnv;
}

/** A failed engine request: its HipError code (E_CANCELLED for cancels, E_ENGINE_EXITED when the process died). */
export class EngineRequestError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'EngineRequestError';
  }
}

const LOG_TAIL_LINES = 40;
const SHUTDOWN_GRACE_MS = 3000;

function asRequestError(error: unknown): EngineRequestError {
  if (error instanceof EngineRequestError) return error;
  if (error instanceof ResponseError) {
    const data = error.data as EngineErrorData | undefined;
    const code = error.code === REQUEST_CANCELLED ? 'E_CANCELLED' : (data?.code ?? 'E_INTERNAL');
    return new EngineRequestError(code, error.message);
  }
  const message = error instanceof Error ? error.message : String(error);
  return new EngineRequestError('E_ENGINE_EXITED', `the engine process stopped: ${message}`);
}

export class EngineClient {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly connection: MessageConnection;
  private readonly logTail: string[] = [];
  private stopping = false;
  private exited = false;
  readonly ended: Promise<EngineExit>;

  constructor(options: EngineClientOptions) {
    // ELECTRON_RUN_AS_NODE makes the editor's Electron binary behave as Node; a plain Node ignores it.
    this.child = spawn(process.execPath, [options.script], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env, ELECTRON_RUN_AS_NODE: '1' },
    });
    this.readLog(options.onLog);
    this.connection = stdioConnection(this.child.stdout, this.child.stdin);
    this.connection.onClose(() => this.connection.dispose());
    this.connection.onError(([error]) => options.onLog(`[client] protocol error: ${error.message}`));
    this.child.stdin.on('error', () => undefined);
    this.ended = new Promise((resolve) => {
      this.child.on('error', (error) =>
        options.onLog(`[client] could not start the engine: ${error.message}`),
      );
      this.child.on('close', (code, signal) => {
        this.exited = true;
        this.connection.dispose();
        const exit = { code, signal, logTail: [...this.logTail], expected: this.stopping };
        options.onExit(exit);
        resolve(exit);
      });
    });
    this.connection.listen();
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return !this.exited;
  }

  private readLog(onLog: (line: string) => void): void {
    let partial = '';
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        this.logTail.push(line);
        if (this.logTail.length > LOG_TAIL_LINES) this.logTail.shift();
        onLog(line);
      }
    });
  }

  /** Sends a request; `cancel` aborts it with `$/cancelRequest`. Failures are EngineRequestErrors. */
  async request<P, R>(type: RequestType<P, R, EngineErrorData>, params: P, cancel?: AbortSignal): Promise<R> {
    if (this.exited) throw new EngineRequestError('E_ENGINE_EXITED', 'the engine process is not running');
    const source = new CancellationTokenSource();
    const onAbort = (): void => source.cancel();
    cancel?.addEventListener('abort', onAbort);
    try {
      return await this.connection.sendRequest(type, params, source.token);
    } catch (error) {
      throw asRequestError(error);
    } finally {
      cancel?.removeEventListener('abort', onAbort);
      source.dispose();
    }
  }

  /** A request without parameters, failing with E_TIMEOUT after `timeoutMs`. */
  async request0<R>(type: RequestType0<R, EngineErrorData>, timeoutMs: number): Promise<R> {
    if (this.exited) throw new EngineRequestError('E_ENGINE_EXITED', 'the engine process is not running');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new EngineRequestError('E_TIMEOUT', `${type.method} got no answer in ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.connection.sendRequest(type), timeout]);
    } catch (error) {
      throw asRequestError(error);
    } finally {
      clearTimeout(timer);
    }
  }

  onNotification<P>(type: NotificationType<P>, handler: (params: P) => void): void {
    this.connection.onNotification(type, handler);
  }

  notify<P>(type: NotificationType<P>, params: P): void {
    if (!this.exited) void this.connection.sendNotification(type, params).catch(() => undefined);
  }

  /** Asks the engine to shut down and exit; kills it when it does not end within a grace period. */
  async stop(): Promise<void> {
    if (this.exited) return;
    this.stopping = true;
    const grace = setTimeout(() => this.kill(), SHUTDOWN_GRACE_MS);
    try {
      await this.request0(ShutdownRequest, SHUTDOWN_GRACE_MS).catch(() => undefined);
      if (!this.exited) await this.connection.sendNotification(ExitNotification).catch(() => undefined);
      await this.ended;
    } finally {
      clearTimeout(grace);
    }
  }

  /** Ends the process at once (SIGKILL); `expected` false reports the end as a crash (a hung engine). */
  kill(expected = true): void {
    this.stopping ||= expected;
    if (!this.exited) this.child.kill('SIGKILL');
  }
}
