// Wires the Engine to a vscode-jsonrpc connection: request handlers, notifications, error and cancel mapping.
import {
  ErrorCodes,
  ResponseError,
  type CancellationToken,
  type MessageConnection,
} from 'vscode-jsonrpc/node';
import { toHipError } from '../errors';
import {
  AnswerDeltaNotification,
  AskRequest,
  ContextChangedNotification,
  DidChangeFilesNotification,
  ExitNotification,
  InitializeRequest,
  ProgressNotification,
  REQUEST_CANCELLED,
  ShutdownRequest,
  StatusRequest,
  SyncWorkspaceRequest,
  type EngineErrorData,
} from '../protocol';
import { Engine } from './engine';
import type { Logger } from './log';

/** An AbortSignal that follows `token` (aborted at once when the token already is). */
export function tokenSignal(token: CancellationToken): AbortSignal {
  const controller = new AbortController();
  if (token.isCancellationRequested) controller.abort();
  else token.onCancellationRequested(() => controller.abort());
  return controller.signal;
}

/** Any failure as a JSON-RPC error: cancellations get REQUEST_CANCELLED, everything carries its HipError code. */
export function toResponseError(error: unknown, method: string, log: Logger): ResponseError<EngineErrorData> {
  if (error instanceof ResponseError) return error as ResponseError<EngineErrorData>;
  const e = toHipError(error);
  if (e.code === 'E_CANCELLED') {
    log.info(`${method}: cancelled`);
    return new ResponseError(REQUEST_CANCELLED, e.message, { code: e.code });
  }
  const level = e.code === 'E_INTERNAL' ? 'error' : 'warn';
  log[level](`${method}: [${e.code}] ${e.message}`);
  if (e.code === 'E_INTERNAL' && error instanceof Error && error.stack) log.error(error.stack);
  const jsonCode = e.code === 'E_INVALID_ARGUMENT' ? ErrorCodes.InvalidParams : ErrorCodes.InternalError;
  return new ResponseError(jsonCode, e.message, { code: e.code });
}

export interface ServeOptions {
  log: Logger;
  /** Called on the exit notification with the process exit code. */
  exit: (code: number) => void;
}

/** Registers every handler of the protocol on `connection` (not yet listening). */
export function serve(connection: MessageConnection, options: ServeOptions): Engine {
  const { log } = options;
  const engine = new Engine(log, {
    progress: (params) => void connection.sendNotification(ProgressNotification, params),
    contextChanged: (params) => void connection.sendNotification(ContextChangedNotification, params),
  });
  let shutDown = false;

  const guard =
    <P, R>(method: string, handler: (params: P, token: CancellationToken) => Promise<R> | R) =>
    async (params: P, token: CancellationToken): Promise<R> => {
      try {
        return await handler(params, token);
      } catch (error) {
        throw toResponseError(error, method, log);
      }
    };

  connection.onRequest(
    InitializeRequest,
    guard(InitializeRequest.method, async (params) => {
      const result = await engine.initialize(params);
      shutDown = false;
      return result;
    }),
  );
  connection.onRequest(
    SyncWorkspaceRequest,
    guard(SyncWorkspaceRequest.method, (params, token) => engine.syncWorkspace(params, tokenSignal(token))),
  );
  connection.onRequest(
    AskRequest,
    guard(AskRequest.method, (params, token) =>
      engine.ask(params, tokenSignal(token), (text) => {
        void connection.sendNotification(AnswerDeltaNotification, { requestId: params?.requestId, text });
      }),
    ),
  );
  connection.onNotification(DidChangeFilesNotification, (params) => {
    try {
      engine.didChangeFiles(params);
    } catch (error) {
      const e = toHipError(error);
      log.warn(`${DidChangeFilesNotification.method}: [${e.code}] ${e.message}`);
    }
  });
  const status = guard(StatusRequest.method, () => engine.status());
  connection.onRequest(StatusRequest, (token) => status(undefined, token));
  const shutdown = guard(ShutdownRequest.method, () => {
    engine.shutdown();
    shutDown = true;
    return null;
  });
  connection.onRequest(ShutdownRequest, (token) => shutdown(undefined, token));
  connection.onNotification(ExitNotification, () => {
    log.info(`exit${shutDown ? '' : ' without shutdown'}`);
    engine.dispose();
    options.exit(shutDown ? 0 : 1);
  });
  connection.onError(([error]) => log.error(`protocol: ${error.message}`));
  connection.onUnhandledNotification((message) => log.warn(`unknown notification ${message.method} ignored`));
  return engine;
}
