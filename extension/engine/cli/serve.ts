// `hipcode serve`: an OpenAI-compatible HTTP server (/v1/models, /v1/chat/completions) for the model on 127.0.0.1,
// with the workspace context put into every conversation when --workspace is given.
import { basename, resolve, sep } from 'node:path';
import { askPrompt, BOUNDARY_MARGIN, defaultAnswerTokens } from '../answer/prompt';
import { HipError } from '../errors';
import { defaultSampling } from '../http/chat-request';
import { Completer } from '../http/completer';
import { ServedModel, type ServedWorkspace } from '../http/served-model';
import { HttpServer, LOOPBACK } from '../http/server';
import { readModelConfig } from '../model/config';
import { checkModelDir } from '../model/load';
import { loadChatTemplate } from '../text/chat-template';
import { loadTokenizer, type TextTokenizer } from '../text/tokenizer';
import { contextText } from '../workspace';
import {
  intFlag,
  listFlag,
  MODEL_OPTIONS,
  optionalString,
  parseFlags,
  requireString,
  sizeFlag,
  usage,
  type Values,
} from './args';
import { withModel } from './open-model';
import { flagsContext, WORKSPACE_OPTIONS } from './workspace-flags';

const OPTIONS = {
  ...MODEL_OPTIONS,
  ...WORKSPACE_OPTIONS,
  port: { type: 'string' },
  token: { type: 'string' },
  'max-tokens': { type: 'string' },
  'max-context-tokens': { type: 'string' },
  'max-queue': { type: 'string' },
  'max-request-size': { type: 'string' },
} as const;

const DEFAULT_PORT = 8356;
/** The environment variable that may carry the token instead of --token (which `ps` shows). */
const TOKEN_ENV = 'HIPCODE_SERVE_TOKEN';
const DEFAULT_QUEUE = 8;
const DEFAULT_REQUEST_BYTES = 32 * 2 ** 20;

interface ServeFlags {
  dir: string;
  roots: string[];
  port: number;
  token?: string;
  /** Completion tokens of a request without max_tokens; 0 until the model context sets the default. */
  maxTokens: number;
  maxContextTokens: number;
  queue: number;
  maxRequestBytes: number;
}

function log(line: string): void {
  process.stderr.write(`hipcode serve: ${line}\n`);
}

function tokenOf(values: Values): string | undefined {
  const token = optionalString(values, 'token') ?? process.env[TOKEN_ENV];
  if (token === '') throw usage(`--token (or ${TOKEN_ENV}) must not be empty`);
  return token;
}

function serveFlags(values: Values): ServeFlags {
  const port = intFlag(values, 'port', DEFAULT_PORT, 0);
  if (port > 65535) throw usage(`--port expects a port number from 0 to 65535, got ${port}`);
  return {
    dir: resolve(requireString(values, 'model')),
    roots: listFlag(values, 'workspace'),
    port,
    token: tokenOf(values),
    maxTokens: intFlag(values, 'max-tokens', 0, 1),
    maxContextTokens: intFlag(values, 'max-context-tokens', Number.MAX_SAFE_INTEGER, 0),
    queue: intFlag(values, 'max-queue', DEFAULT_QUEUE, 0),
    maxRequestBytes:
      values['max-request-size'] === undefined ? DEFAULT_REQUEST_BYTES : sizeFlag(values, 'max-request-size'),
  };
}

/** The id clients use: `org/name` for a Hugging Face cache snapshot, else the folder's name. */
export function servedModelId(dir: string): string {
  const cached = new RegExp(`models--([^${sep}]+)\\${sep}snapshots\\${sep}`).exec(dir);
  return cached ? cached[1].split('--').join('/') : basename(dir);
}

/** Tokens kept for the client's own messages when the workspace context is budgeted. */
function conversationReserve(contextLength: number): number {
  return Math.min(256, Math.floor(contextLength / 8));
}

/** Reads the workspace once: its budget is the context less HiPCode's prompt, the conversation and the answer. */
async function loadWorkspace(
  values: Values,
  flags: ServeFlags,
  tokenizer: TextTokenizer,
  contextLength: number,
): Promise<ServedWorkspace> {
  const overhead = askPrompt(flags.dir, tokenizer).overhead('?');
  const left =
    contextLength - overhead - conversationReserve(contextLength) - flags.maxTokens - BOUNDARY_MARGIN;
  if (left < 0) {
    throw new HipError(
      'E_CONTEXT_FULL',
      `--max-tokens ${flags.maxTokens} leaves no room for the workspace in the model's ${contextLength}-token context`,
    );
  }
  const budget = Math.min(left, flags.maxContextTokens);
  log(`scanning ${flags.roots.join(', ')} (context budget ${budget} of the model's ${contextLength} tokens)`);
  const context = await flagsContext(values, flags.roots, budget, tokenizer);
  log(
    `context: ${context.included.length} files, ${context.tokens} tokens; ${context.excluded.length} excluded ` +
      `(run 'hipcode context' for the reasons)`,
  );
  return {
    text: contextText(context),
    files: context.included.map((file) => ({ path: file.path, text: file.source })),
    tokens: context.tokens,
  };
}

/** Resolves with the first SIGINT or SIGTERM; a second one ends the process the default way. */
function untilStopped(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(signal);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** Loads the workspace and the model, then serves until SIGINT or SIGTERM. */
async function serveModel(
  values: Values,
  flags: ServeFlags,
  server: HttpServer,
  port: number,
): Promise<void> {
  const config = readModelConfig(flags.dir);
  const contextLength = config.maxPositionEmbeddings;
  if (flags.maxTokens === 0) flags.maxTokens = defaultAnswerTokens(contextLength);
  const tokenizer = loadTokenizer(flags.dir, config.eosTokenIds);
  const template = loadChatTemplate(flags.dir, tokenizer.config, tokenizer.specialTokens);
  const workspace =
    flags.roots.length > 0 ? await loadWorkspace(values, flags, tokenizer, contextLength) : undefined;
  const options = {
    id: servedModelId(flags.dir),
    contextLength,
    defaultMaxTokens: flags.maxTokens,
    defaultSampling: defaultSampling(tokenizer.generationDefaults),
    queueSize: flags.queue,
    workspace,
  };
  await withModel(values, { tokenizer: false }, async (model) => {
    const served = new ServedModel(
      options,
      tokenizer,
      template,
      new Completer(model.native, tokenizer, contextLength),
    );
    server.serve(served);
    log(
      `serving ${options.id} (${model.native.backend}, ${contextLength}-token context` +
        `${flags.token === undefined ? '' : ', bearer token required'})`,
    );
    log(`listening on http://${LOOPBACK}:${port}/v1`);
    const signal = await untilStopped();
    log(`${signal}: stopping`);
    await server.close();
    served.dispose();
  });
}

export async function serveCommand(args: string[]): Promise<void> {
  const values = parseFlags('serve', args, OPTIONS);
  const flags = serveFlags(values);
  checkModelDir(flags.dir);
  // Bound first, so that a port in use fails before the (slow) load; requests get 503 until the model is ready.
  const server = new HttpServer({ token: flags.token, maxBodyBytes: flags.maxRequestBytes, log });
  const port = await server.listen(flags.port);
  try {
    await serveModel(values, flags, server, port);
  } finally {
    await server.close();
  }
}
