// Validates a POST /v1/chat/completions body into native types (JSON stays in the HTTP layer); every 400 names the field.
import { GREEDY } from '../generate';
import { isObject, type JsonObject } from '../json-file';
import type { SamplingParams } from '../native';
import type { ChatMessage } from '../text/chat-template';
import type { GenerationDefaults } from '../text/tokenizer';
import { ApiError, invalidParam } from './api-error';

/** A validated chat completion request. */
export interface ChatRequest {
  messages: ChatMessage[];
  /** Completion tokens asked for; absent: the server's default, at most what the context leaves. */
  maxTokens?: number;
  sampling: SamplingParams;
  /** Absent: sampling is not reproducible (and a kept session may be reused). */
  seed?: number;
  /** Texts that end the completion; they are not part of it. */
  stop: string[];
  stream: boolean;
  /** stream_options.include_usage: a last chunk with the usage. */
  includeUsage: boolean;
}

/** Roles a message may have; `developer` (OpenAI's newer name) is rendered as `system`. */
const ROLES: Record<string, string> = {
  system: 'system',
  developer: 'system',
  user: 'user',
  assistant: 'assistant',
};

const MAX_STOP_STRINGS = 4;

/** Valid OpenAI parameters whose non-default values this server cannot honour: each is a 400 naming it. */
const UNSUPPORTED: Record<string, (value: unknown) => boolean> = {
  n: (value) => value === 1,
  tools: (value) => Array.isArray(value) && value.length === 0,
  tool_choice: (value) => value === 'none',
  functions: () => false,
  function_call: (value) => value === 'none',
  logprobs: (value) => value === false,
  top_logprobs: (value) => value === 0,
  response_format: (value) => isObject(value) && value.type === 'text',
  frequency_penalty: (value) => value === 0,
  presence_penalty: (value) => value === 0,
  logit_bias: (value) => isObject(value) && Object.keys(value).length === 0,
  audio: () => false,
  modalities: (value) => Array.isArray(value) && value.every((item) => item === 'text'),
  prediction: () => false,
};

function checkUnsupported(body: JsonObject): void {
  for (const [param, isDefault] of Object.entries(UNSUPPORTED)) {
    const value = body[param];
    if (value === undefined || value === null || isDefault(value)) continue;
    throw invalidParam(
      param,
      `'${param}' = ${JSON.stringify(value)} is not supported by this server; leave it out`,
      'unsupported_parameter',
    );
  }
}

/** The text of a message's content: a string, or an array of {type: 'text', text} parts joined. */
function contentText(content: unknown, where: string): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) {
    throw invalidParam(where, `${where} must be a string or an array of text parts, got ${typeof content}`);
  }
  return content
    .map((part: unknown, index) => {
      const at = `${where}[${index}]`;
      if (!isObject(part) || part.type !== 'text') {
        const type = isObject(part) ? JSON.stringify(part.type) : typeof part;
        throw invalidParam(`${at}.type`, `${at} must be {"type": "text", "text": "..."}, got type ${type}`);
      }
      if (typeof part.text !== 'string') throw invalidParam(`${at}.text`, `${at}.text must be a string`);
      return part.text;
    })
    .join('');
}

function parseMessage(message: unknown, index: number): ChatMessage {
  const where = `messages[${index}]`;
  if (!isObject(message)) throw invalidParam(where, `${where} must be an object with role and content`);
  const role =
    typeof message.role === 'string' && Object.hasOwn(ROLES, message.role) ? ROLES[message.role] : '';
  if (role === '') {
    throw invalidParam(
      `${where}.role`,
      `${where}.role must be one of ${Object.keys(ROLES).join(', ')}, got ${JSON.stringify(message.role)}`,
    );
  }
  return { role, content: contentText(message.content, `${where}.content`) };
}

function parseMessages(value: unknown): ChatMessage[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw invalidParam('messages', "'messages' must be a non-empty array of {role, content} objects");
  }
  return value.map(parseMessage);
}

/** A number field within [min, max] (null or absent → undefined). */
function numberField(body: JsonObject, name: string, min: number, max: number): number | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw invalidParam(
      name,
      `'${name}' must be a number between ${min} and ${max}, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** An integer field ≥ min (null or absent → undefined). */
function intField(body: JsonObject, name: string, min: number): number | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw invalidParam(name, `'${name}' must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function booleanField(body: JsonObject, name: string): boolean {
  const value = body[name];
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean')
    throw invalidParam(name, `'${name}' must be a boolean, got ${JSON.stringify(value)}`);
  return value;
}

function parseStop(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  const list = typeof value === 'string' ? [value] : value;
  if (
    !Array.isArray(list) ||
    list.length > MAX_STOP_STRINGS ||
    list.some((item) => typeof item !== 'string' || item === '')
  ) {
    throw invalidParam(
      'stop',
      `'stop' must be a non-empty string or an array of at most ${MAX_STOP_STRINGS} of them`,
    );
  }
  return list as string[];
}

/** max_completion_tokens, or its older name max_tokens; both given must agree. */
function parseMaxTokens(body: JsonObject): number | undefined {
  const current = intField(body, 'max_completion_tokens', 1);
  const legacy = intField(body, 'max_tokens', 1);
  if (current !== undefined && legacy !== undefined && current !== legacy) {
    throw invalidParam(
      'max_tokens',
      `'max_tokens' (${legacy}) and 'max_completion_tokens' (${current}) disagree`,
    );
  }
  return current ?? legacy;
}

function parseIncludeUsage(body: JsonObject, stream: boolean): boolean {
  const options = body.stream_options;
  if (options === undefined || options === null) return false;
  if (!stream) throw invalidParam('stream_options', "'stream_options' is only allowed with 'stream': true");
  if (!isObject(options)) throw invalidParam('stream_options', "'stream_options' must be an object");
  return booleanField(options, 'include_usage');
}

/** Sampling from temperature and top_p, plus the top_k, min_p and repetition_penalty extensions; what the
 * request leaves out comes from `defaults`. */
function parseSampling(body: JsonObject, defaults: SamplingParams): SamplingParams {
  const topP = numberField(body, 'top_p', 0, 1) ?? defaults.topP;
  const temperature = numberField(body, 'temperature', 0, 2) ?? defaults.temperature;
  return {
    // top_p 0 keeps only the most likely token: greedy.
    temperature: topP === 0 ? 0 : temperature,
    topP: topP === 0 ? 1 : topP,
    topK: intField(body, 'top_k', 0) ?? defaults.topK,
    minP: numberField(body, 'min_p', 0, 1) ?? defaults.minP,
    repetitionPenalty:
      numberField(body, 'repetition_penalty', Number.MIN_VALUE, Number.MAX_VALUE) ??
      defaults.repetitionPenalty,
  };
}

function checkModel(value: unknown, modelId: string): void {
  if (value === undefined || value === null || value === modelId) return;
  if (typeof value !== 'string') throw invalidParam('model', `'model' must be a string`);
  throw new ApiError(
    404,
    `The model '${value}' does not exist; this server serves '${modelId}'`,
    'invalid_request_error',
    'model',
    'model_not_found',
  );
}

/** Validates the parsed JSON body of a chat completion request for the served model (its id and the sampling
 * it recommends). */
export function parseChatRequest(body: unknown, modelId: string, defaults: SamplingParams): ChatRequest {
  if (!isObject(body)) throw invalidParam('body', 'the request body must be a JSON object');
  const messages = parseMessages(body.messages);
  checkModel(body.model, modelId);
  checkUnsupported(body);
  const stream = booleanField(body, 'stream');
  return {
    messages,
    maxTokens: parseMaxTokens(body),
    sampling: parseSampling(body, defaults),
    seed: intField(body, 'seed', 0),
    stop: parseStop(body.stop),
    stream,
    includeUsage: parseIncludeUsage(body, stream),
  };
}

/** Sampling for what a request leaves out: the model's generation_config.json (do_sample false: greedy), else
 * OpenAI's defaults (temperature 1, no filters). */
export function defaultSampling(recommended: GenerationDefaults): SamplingParams {
  if (recommended.doSample === false) return GREEDY;
  return {
    temperature: recommended.temperature ?? 1,
    topP: recommended.topP ?? 1,
    topK: recommended.topK ?? 0,
    minP: 0,
    repetitionPenalty: recommended.repetitionPenalty ?? 1,
  };
}
