// The HTTP server of `hipcode serve`: the OpenAI routes on 127.0.0.1 only, one generation at a time; a client that
// goes away cancels its request, and close() stops accepting, cancels what runs and waits for it. It listens
// before the model is loaded (a port in use fails at once) and answers 503 until serve() hands it the model.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HipError } from '../errors';
import { ApiError, RETRY_AFTER_SECONDS, toApiError } from './api-error';
import { parseChatRequest } from './chat-request';
import { checkLoopback, checkToken, readJsonBody } from './request-checks';
import {
  chatCompletion,
  deltaChunk,
  finishChunk,
  usageChunk,
  type CompletionIdentity,
  type ModelObject,
} from './responses';
import type { ChatResult, PreparedChat, ServedModel } from './served-model';
import { SseWriter } from './sse';

/** The only address the server binds: never reachable from another machine. */
export const LOOPBACK = '127.0.0.1';

export interface HttpOptions {
  /** Required bearer token; absent: no authentication. */
  token?: string;
  maxBodyBytes: number;
  log: (line: string) => void;
}

type Handler = (
  model: ServedModel,
  req: IncomingMessage,
  res: ServerResponse,
  signal: AbortSignal,
) => Promise<void>;

function sendJson(
  res: ServerResponse,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): void {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

export class HttpServer {
  private readonly server: Server;
  /** Requests being handled: their cancel switch and their end. */
  private readonly inflight = new Map<AbortController, Promise<void>>();
  private readonly created = Math.floor(Date.now() / 1000);
  private model: ServedModel | undefined;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: HttpOptions) {
    this.server = createServer((req, res) => this.track(req, res));
  }

  /** Starts answering with `model` (until then every route answers 503). */
  serve(model: ServedModel): void {
    this.model = model;
  }

  /** Listens on 127.0.0.1:port (0: a free port); returns the port. */
  async listen(port: number): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          new HipError(
            'E_INVALID_ARGUMENT',
            `cannot listen on ${LOOPBACK}:${port} (${error.code ?? error.message}); pick another --port, or --port 0 for a free one`,
          ),
        ),
      );
      this.server.listen({ port, host: LOOPBACK }, resolve);
    });
    return (this.server.address() as AddressInfo).port;
  }

  /** Stops accepting, cancels the running and waiting requests, and resolves once every response is over. */
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    this.server.close();
    this.model?.close('the server is shutting down');
    for (const controller of this.inflight.keys()) controller.abort();
    await Promise.allSettled(this.inflight.values());
    this.server.closeAllConnections();
  }

  private track(req: IncomingMessage, res: ServerResponse): void {
    const controller = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) controller.abort();
    });
    const done = this.handle(req, res, controller.signal).finally(() => this.inflight.delete(controller));
    this.inflight.set(controller, done);
  }

  private async handle(req: IncomingMessage, res: ServerResponse, signal: AbortSignal): Promise<void> {
    try {
      checkLoopback(req);
      if (this.options.token !== undefined) checkToken(req, this.options.token);
      const handler = this.route(req);
      if (!this.model) {
        throw new ApiError(
          503,
          'the model is still loading; retry shortly',
          'server_error',
          null,
          'model_loading',
          {
            'Retry-After': String(RETRY_AFTER_SECONDS),
          },
        );
      }
      await handler(this.model, req, res, signal);
    } catch (error) {
      this.fail(req, res, error);
    }
  }

  /** The handler of the request's path and method; 404 for an unknown path, 405 for a wrong method. */
  private route(req: IncomingMessage): Handler {
    const path = (req.url ?? '/').split('?')[0].replace(/\/+$/, '');
    const routes: [boolean, string, Handler][] = [
      [path === '/v1/models', 'GET', (model, _, res) => this.models(model, res)],
      [
        path.startsWith('/v1/models/'),
        'GET',
        (model, _, res) => this.modelById(model, res, path.slice('/v1/models/'.length)),
      ],
      [path === '/v1/chat/completions', 'POST', (...args) => this.chat(...args)],
    ];
    const route = routes.find(([matches]) => matches);
    if (!route)
      throw new ApiError(
        404,
        `Unknown path ${path}; this server has /v1/models and /v1/chat/completions`,
        'invalid_request_error',
        null,
        'unknown_url',
      );
    const [, method, handler] = route;
    if (req.method !== method) {
      throw new ApiError(
        405,
        `${path} only takes ${method}, got ${req.method}`,
        'invalid_request_error',
        null,
        'method_not_allowed',
        { Allow: method },
      );
    }
    return handler;
  }

  private modelObject(model: ServedModel): ModelObject {
    const { id, contextLength } = model.options;
    return { id, object: 'model', created: this.created, owned_by: 'hipcode', context_length: contextLength };
  }

  private async models(model: ServedModel, res: ServerResponse): Promise<void> {
    sendJson(res, 200, { object: 'list', data: [this.modelObject(model)] });
  }

  private async modelById(model: ServedModel, res: ServerResponse, id: string): Promise<void> {
    if (id !== model.options.id && id !== encodeURIComponent(model.options.id)) {
      throw new ApiError(
        404,
        `The model '${id}' does not exist`,
        'invalid_request_error',
        'model',
        'model_not_found',
      );
    }
    sendJson(res, 200, this.modelObject(model));
  }

  private async chat(
    model: ServedModel,
    req: IncomingMessage,
    res: ServerResponse,
    signal: AbortSignal,
  ): Promise<void> {
    const body = await readJsonBody(req, this.options.maxBodyBytes);
    const { id, defaultSampling } = model.options;
    const chat = model.prepare(parseChatRequest(body, id, defaultSampling));
    const identity = {
      id: `chatcmpl-${randomUUID().replaceAll('-', '')}`,
      created: Math.floor(Date.now() / 1000),
      model: id,
    };
    if (chat.request.stream) return this.stream(model, res, chat, identity, signal);
    const result = await model.complete(chat, signal, () => undefined);
    this.logResult(chat, result);
    sendJson(res, 200, chatCompletion(identity, result));
  }

  /** Streams the completion as chunks; the event stream opens when the first text (or the end) comes. */
  private async stream(
    model: ServedModel,
    res: ServerResponse,
    chat: PreparedChat,
    identity: CompletionIdentity,
    signal: AbortSignal,
  ) {
    const withUsage = chat.request.includeUsage;
    let sse: SseWriter | undefined;
    const open = (): SseWriter => {
      if (sse) return sse;
      sse = new SseWriter(res);
      sse.send(deltaChunk(identity, { role: 'assistant', content: '' }, withUsage));
      return sse;
    };
    const result = await model.complete(chat, signal, (text) =>
      open().send(deltaChunk(identity, { content: text }, withUsage)),
    );
    this.logResult(chat, result);
    const events = open();
    events.send(finishChunk(identity, result, withUsage));
    if (withUsage) events.send(usageChunk(identity, result));
    events.end(true);
  }

  private logResult(chat: PreparedChat, result: ChatResult): void {
    this.options.log(
      `chat: ${result.promptTokens} prompt tokens (${result.cachedTokens} kept from the last request), ` +
        `${result.completionTokens} generated in ${result.timings.totalSeconds.toFixed(2)} s, ` +
        `finish ${result.finishReason}${chat.request.stream ? ', streamed' : ''}`,
    );
  }

  /** Sends the error as an OpenAI error body, or as a last event when a stream is open; nothing to a gone client. */
  private fail(req: IncomingMessage, res: ServerResponse, error: unknown): void {
    const apiError = toApiError(error);
    if (res.destroyed || res.writableEnded) {
      this.options.log(`${req.method} ${req.url}: client went away (${apiError.message})`);
      return;
    }
    if (apiError.status >= 500)
      this.options.log(`${req.method} ${req.url}: ${apiError.status} ${apiError.message}`);
    if (res.headersSent) {
      res.end(`data: ${JSON.stringify(apiError.body())}\n\n`);
      return;
    }
    // A body left unread (413, 415, an early 4xx) is not worth reading: the connection closes after the answer.
    const close: Record<string, string> = req.complete ? {} : { Connection: 'close' };
    sendJson(res, apiError.status, apiError.body(), { ...apiError.headers, ...close });
  }
}
