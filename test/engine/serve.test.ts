// `hipcode serve` as a user runs it (dist/hipcode.js, CPU backend, fixture models), driven over real HTTP: the
// OpenAI routes with and without streaming, the workspace, the token, every bad request, cancels, queueing, SIGTERM.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { SYSTEM_PROMPT } from '../../extension/engine/answer/prompt';
import type { ContextReport } from '../../extension/engine/cli/context';
import { servedModelId } from '../../extension/engine/cli/serve';
import type { ErrorBody } from '../../extension/engine/http/api-error';
import type { ChatChunk, ChatCompletion } from '../../extension/engine/http/responses';
import { readModelConfig } from '../../extension/engine/model/config';
import { loadTokenizer } from '../../extension/engine/text/tokenizer';
import { runCli, runCliJson } from '../helpers/cli';
import { modelDir, readReference } from '../helpers/fixtures';
import { makeRepo } from '../helpers/repo';
import { request, sseData, startServe, stopServe, type HttpResult, type Served } from '../helpers/serve';
import { makeSlowModel } from '../helpers/slow-model';

const MODEL = modelDir('qwen3');
const REFERENCE = readReference('qwen3');
const MAX_TOKENS = 12;

type Message = { role: string; content: string };

function chatBody(messages: Message[], extra: Record<string, unknown> = {}) {
  return { model: 'qwen3', messages, max_tokens: MAX_TOKENS, temperature: 0, ...extra };
}

async function complete(served: Served, body: unknown): Promise<ChatCompletion> {
  const result = await request(`${served.url}/chat/completions`, { method: 'POST', body });
  assert.equal(result.status, 200, result.text);
  return result.json as ChatCompletion;
}

async function streamChunks(served: Served, body: unknown): Promise<{ chunks: ChatChunk[]; data: string[] }> {
  const result = await request(`${served.url}/chat/completions`, { method: 'POST', body });
  assert.equal(result.status, 200, result.text);
  assert.match(String(result.headers['content-type']), /^text\/event-stream/);
  const data = sseData(result.text);
  assert.equal(data.at(-1), '[DONE]');
  return { chunks: data.slice(0, -1).map((line) => JSON.parse(line) as ChatChunk), data };
}

/** The greedy continuation `hipcode generate` gives for prompt ids (the engine is checked against transformers
 * greedy references in generate.test.ts). */
function generateIds(ids: number[], maxTokens: number): number[] {
  const args = ['generate', '--model', MODEL, '--backend', 'cpu', '--json'];
  return runCliJson<{ ids: number[] }>([...args, '--ids', ids.join(','), '--max-tokens', String(maxTokens)])
    .ids;
}

type Reader = ReadableStreamDefaultReader<Uint8Array>;

/** Starts a streaming request and resolves once its first content chunk has arrived. */
async function startStream(served: Served, body: object, signal: AbortSignal): Promise<Reader> {
  const response = await fetch(`${served.url}/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ ...body, stream: true }),
    signal,
  });
  assert.equal(response.status, 200);
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = '';
  while (!text.includes('"content":"!')) {
    const { value, done } = await reader.read();
    assert.ok(!done, `the stream ended before any text: ${text}`);
    text += decoder.decode(value);
  }
  return reader;
}

/** The rest of a stream as text ('' plus what came before the connection broke, if it did). */
async function readRest(reader: Reader): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  try {
    for (let next = await reader.read(); !next.done; next = await reader.read())
      text += decoder.decode(next.value);
  } catch {
    // The server closed the connection.
  }
  return text;
}

async function waitFor(what: string, check: () => boolean, ms = 5000): Promise<void> {
  for (const start = Date.now(); !check(); await delay(20)) {
    if (Date.now() - start > ms) assert.fail(`waited ${ms} ms for ${what}`);
  }
}

function errorOf(result: HttpResult): ErrorBody['error'] {
  const body = result.json as ErrorBody;
  assert.ok(
    body?.error && typeof body.error.message === 'string',
    `not an OpenAI error body: ${result.text}`,
  );
  return body.error;
}

describe('hipcode serve (OpenAI-compatible HTTP)', function () {
  this.timeout(60000);
  const tokenizer = loadTokenizer(MODEL, readModelConfig(MODEL).eosTokenIds);

  it('names the model after its folder, or org/name for a Hugging Face cache snapshot', () => {
    assert.equal(servedModelId('/models/Qwen2.5-7B-Instruct'), 'Qwen2.5-7B-Instruct');
    const snapshot =
      '/home/me/.cache/huggingface/hub/models--Qwen--Qwen2.5-Coder-7B-Instruct/snapshots/0a1b2c';
    assert.equal(servedModelId(snapshot), 'Qwen/Qwen2.5-Coder-7B-Instruct');
  });

  describe('on the qwen3 fixture', () => {
    let served: Served;
    before(async () => {
      served = await startServe(['--model', MODEL, '--max-request-size', '64K']);
    });
    after(() => stopServe(served));

    it('prints a loopback URL and lists the model with its context length', async () => {
      assert.match(served.url, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
      const list = await request(`${served.url}/models`);
      assert.equal(list.status, 200);
      assert.deepEqual(list.json, {
        object: 'list',
        data: [
          {
            id: 'qwen3',
            object: 'model',
            created: (list.json as { data: { created: number }[] }).data[0].created,
            owned_by: 'hipcode',
            context_length: 256,
          },
        ],
      });
      assert.equal((await request(`${served.url}/models/qwen3`)).status, 200);
      const port = new URL(served.url).port;
      const byName = await request(`${served.url}/models`, { headers: { Host: `localhost:${port}` } });
      assert.equal(byName.status, 200, 'Host: localhost is allowed');
      assert.equal(errorOf(await request(`${served.url}/models/other`)).code, 'model_not_found');
    });

    it('completes each reference chat greedily: transformers prompt ids, the engine greedy continuation', async () => {
      for (const chat of REFERENCE.chat) {
        const expected = generateIds(chat.ids, MAX_TOKENS);
        const response = await complete(served, chatBody(chat.messages));
        assert.equal(response.object, 'chat.completion');
        assert.match(response.id, /^chatcmpl-/);
        assert.equal(response.model, 'qwen3');
        assert.equal(response.usage.prompt_tokens, chat.ids.length);
        assert.equal(response.usage.completion_tokens, expected.length);
        assert.equal(response.usage.total_tokens, chat.ids.length + expected.length);
        const ended = tokenizer.stopIds.has(expected[expected.length - 1]);
        const text = tokenizer.decode(ended ? expected.slice(0, -1) : expected);
        assert.equal(response.choices[0].message.content, text);
        assert.equal(response.choices[0].message.role, 'assistant');
        assert.equal(response.choices[0].finish_reason, ended ? 'stop' : 'length');
        assert.equal(response.hipcode.references, undefined);
      }
    });

    it('keeps the KV of a repeated prompt and still answers the same', async () => {
      const body = chatBody(REFERENCE.chat[2].messages);
      const first = await complete(served, chatBody(REFERENCE.chat[0].messages));
      assert.ok(first.usage.prompt_tokens_details.cached_tokens < first.usage.prompt_tokens - 1);
      const once = await complete(served, body);
      const again = await complete(served, body);
      assert.equal(again.usage.prompt_tokens_details.cached_tokens, again.usage.prompt_tokens - 1);
      assert.equal(again.choices[0].message.content, once.choices[0].message.content);
    });

    it('takes text parts, the developer role and max_completion_tokens as their plain forms', async () => {
      const [system, user] = REFERENCE.chat[1].messages;
      const plain = await complete(served, chatBody([system, user]));
      const parts = [...user.content].map((char) => ({ type: 'text', text: char }));
      const other = await complete(served, {
        messages: [
          { role: 'developer', content: system.content },
          { role: 'user', content: parts },
        ],
        max_completion_tokens: MAX_TOKENS,
        temperature: 0,
      });
      assert.equal(other.usage.prompt_tokens, plain.usage.prompt_tokens);
      assert.equal(other.choices[0].message.content, plain.choices[0].message.content);
    });

    it('samples reproducibly with a seed, whatever the session held before, reusing what it held', async () => {
      const body = chatBody(REFERENCE.chat[0].messages, { temperature: 1.5, seed: 7, max_tokens: 16 });
      const first = await complete(served, body);
      await complete(served, chatBody(REFERENCE.chat[1].messages, { temperature: 1.5 }));
      const second = await complete(served, body);
      assert.equal(second.choices[0].message.content, first.choices[0].message.content);
      // The seeded request ran in a fork of the kept session: what that held is reused, not prefilled again.
      assert.ok(second.usage.prompt_tokens_details.cached_tokens > 0, 'nothing was reused');
      const again = await complete(served, body);
      assert.equal(again.choices[0].message.content, first.choices[0].message.content);
      assert.ok(
        again.usage.prompt_tokens_details.cached_tokens > second.usage.prompt_tokens_details.cached_tokens,
      );
      const greedy = await complete(served, chatBody(REFERENCE.chat[0].messages, { max_tokens: 16 }));
      assert.notEqual(
        first.choices[0].message.content,
        greedy.choices[0].message.content,
        'the seed was not used',
      );
    });

    it('streams the same text as chunks: role first, finish reason, usage chunk, [DONE] last', async () => {
      const body = chatBody(REFERENCE.chat[1].messages);
      const whole = await complete(served, body);
      const { chunks } = await streamChunks(served, {
        ...body,
        stream: true,
        stream_options: { include_usage: true },
      });
      const [first, ...rest] = chunks;
      const usage = rest.pop() as ChatChunk;
      const finish = rest.pop() as ChatChunk;
      assert.deepEqual(first.choices[0].delta, { role: 'assistant', content: '' });
      assert.ok(rest.length >= 1);
      assert.equal(
        rest.map((chunk) => chunk.choices[0].delta.content).join(''),
        whole.choices[0].message.content,
      );
      assert.equal(finish.choices[0].finish_reason, whole.choices[0].finish_reason);
      assert.deepEqual(finish.choices[0].delta, {});
      assert.deepEqual(usage.choices, []);
      assert.equal(usage.usage?.completion_tokens, whole.usage.completion_tokens);
      assert.equal(usage.usage?.prompt_tokens, whole.usage.prompt_tokens);
      for (const chunk of chunks) {
        assert.equal(chunk.object, 'chat.completion.chunk');
        assert.equal(chunk.id, first.id);
        if (chunk !== usage) assert.equal(chunk.usage, null);
      }
      const plain = await streamChunks(served, { ...body, stream: true });
      assert.ok(
        plain.chunks.every((chunk) => !('usage' in chunk)),
        'no usage without include_usage',
      );
    });

    it('ends the text before a stop string, streamed or not', async () => {
      const body = chatBody(REFERENCE.chat[0].messages, { max_tokens: 16 });
      const text = (await complete(served, body)).choices[0].message.content;
      const at = 3;
      const stop = text.slice(at, at + 2);
      const cut = text.indexOf(stop);
      assert.ok(cut >= 0 && text.length > at + 2, `the greedy text '${text}' is too short to cut`);
      const stopped = await complete(served, { ...body, stop: [stop, 'never appears'] });
      assert.equal(stopped.choices[0].message.content, text.slice(0, cut));
      assert.equal(stopped.choices[0].finish_reason, 'stop');
      const { chunks } = await streamChunks(served, { ...body, stop, stream: true });
      assert.equal(chunks.map((chunk) => chunk.choices[0].delta.content ?? '').join(''), text.slice(0, cut));
    });

    it('exits with a usage error on bad flags, a coded error on a port in use or a model without a chat template', () => {
      const missing = runCli(['serve', '--port', '0']);
      assert.equal(missing.status, 2, missing.stderr);
      assert.match(missing.stderr, /\[E_USAGE\].*--model/);
      const badPort = runCli(['serve', '--model', MODEL, '--port', '70000']);
      assert.equal(badPort.status, 2, badPort.stderr);
      assert.match(badPort.stderr, /\[E_USAGE\].*--port/);
      const port = new URL(served.url).port;
      const taken = runCli(['serve', '--model', MODEL, '--port', port, '--backend', 'cpu']);
      assert.equal(taken.status, 1, taken.stderr);
      assert.match(
        taken.stderr,
        new RegExp(`\\[E_INVALID_ARGUMENT\\]: cannot listen on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\)`),
      );
      const noTemplate = join(mkdtempSync(join(tmpdir(), 'hipcode-serve-')), 'qwen3');
      cpSync(MODEL, noTemplate, { recursive: true });
      rmSync(join(noTemplate, 'chat_template.jinja'));
      const failed = runCli(['serve', '--model', noTemplate, '--port', '0', '--backend', 'cpu']);
      rmSync(dirname(noTemplate), { recursive: true, force: true });
      assert.equal(failed.status, 1, failed.stderr);
      assert.match(failed.stderr, /\[E_TEMPLATE\]: .* has no chat template/);
    });

    it('answers every bad request with the right status and an OpenAI error body, then still serves', async () => {
      const url = `${served.url}/chat/completions`;
      const good = chatBody([{ role: 'user', content: 'hi' }]);
      const post = (body: unknown, headers: Record<string, string> = {}) => ({
        method: 'POST',
        body,
        headers,
      });
      const cases: {
        name: string;
        path?: string;
        options: object;
        status: number;
        param?: string;
        code?: string;
      }[] = [
        {
          name: 'invalid JSON',
          options: post('{"messages": [', { 'Content-Type': 'application/json' }),
          status: 400,
          code: 'invalid_json',
        },
        { name: 'body not an object', options: post([good]), status: 400, param: 'body' },
        { name: 'no messages', options: post({ model: 'qwen3' }), status: 400, param: 'messages' },
        { name: 'empty messages', options: post({ messages: [] }), status: 400, param: 'messages' },
        {
          name: 'bad role',
          options: post({ messages: [{ role: 'robot', content: 'x' }] }),
          status: 400,
          param: 'messages[0].role',
        },
        {
          name: 'numeric content',
          options: post({ messages: [{ role: 'user', content: 5 }] }),
          status: 400,
          param: 'messages[0].content',
        },
        {
          name: 'image part',
          options: post({
            messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }],
          }),
          status: 400,
          param: 'messages[0].content[0].type',
        },
        { name: 'max_tokens 0', options: post({ ...good, max_tokens: 0 }), status: 400, param: 'max_tokens' },
        {
          name: 'max_tokens string',
          options: post({ ...good, max_tokens: '5' }),
          status: 400,
          param: 'max_tokens',
        },
        {
          name: 'max_completion_tokens 1.5',
          options: post({ ...good, max_completion_tokens: 1.5 }),
          status: 400,
          param: 'max_completion_tokens',
        },
        {
          name: 'temperature 3',
          options: post({ ...good, temperature: 3 }),
          status: 400,
          param: 'temperature',
        },
        {
          name: 'temperature string',
          options: post({ ...good, temperature: 'hot' }),
          status: 400,
          param: 'temperature',
        },
        { name: 'top_p 1.5', options: post({ ...good, top_p: 1.5 }), status: 400, param: 'top_p' },
        { name: 'seed -1', options: post({ ...good, seed: -1 }), status: 400, param: 'seed' },
        { name: 'seed 0.5', options: post({ ...good, seed: 0.5 }), status: 400, param: 'seed' },
        { name: 'stop number', options: post({ ...good, stop: 5 }), status: 400, param: 'stop' },
        { name: 'stop empty', options: post({ ...good, stop: [''] }), status: 400, param: 'stop' },
        { name: 'stream string', options: post({ ...good, stream: 'yes' }), status: 400, param: 'stream' },
        {
          name: 'stream_options alone',
          options: post({ ...good, stream_options: { include_usage: true } }),
          status: 400,
          param: 'stream_options',
        },
        {
          name: 'n 2',
          options: post({ ...good, n: 2 }),
          status: 400,
          param: 'n',
          code: 'unsupported_parameter',
        },
        {
          name: 'tools',
          options: post({ ...good, tools: [{ type: 'function', function: { name: 'f' } }] }),
          status: 400,
          param: 'tools',
          code: 'unsupported_parameter',
        },
        { name: 'logprobs', options: post({ ...good, logprobs: true }), status: 400, param: 'logprobs' },
        {
          name: 'json mode',
          options: post({ ...good, response_format: { type: 'json_object' } }),
          status: 400,
          param: 'response_format',
        },
        {
          name: 'unknown model',
          options: post({ ...good, model: 'gpt-4o' }),
          status: 404,
          param: 'model',
          code: 'model_not_found',
        },
        {
          name: 'over the context',
          options: post({ ...good, max_tokens: 1000 }),
          status: 400,
          code: 'context_length_exceeded',
        },
        {
          name: 'prompt over the context',
          options: post({ messages: [{ role: 'user', content: 'word '.repeat(400) }] }),
          status: 400,
          code: 'context_length_exceeded',
        },
        { name: 'unknown path', path: '/v1/completions', options: post(good), status: 404 },
        { name: 'GET chat', options: { method: 'GET' }, status: 405 },
        { name: 'POST models', path: '/v1/models', options: post(good), status: 405 },
        { name: 'over the size cap', options: post({ ...good, pad: 'x'.repeat(70 * 1024) }), status: 413 },
        {
          name: 'text/plain',
          options: post(JSON.stringify(good), { 'Content-Type': 'text/plain' }),
          status: 415,
        },
        { name: 'no content type', options: post(JSON.stringify(good)), status: 415 },
        { name: 'foreign Host', options: post(good, { Host: 'evil.example:80' }), status: 403 },
        { name: 'foreign Origin', options: post(good, { Origin: 'https://evil.example' }), status: 403 },
      ];
      for (const c of cases) {
        const target = c.path ? url.replace('/v1/chat/completions', c.path) : url;
        const result = await request(target, c.options);
        assert.equal(result.status, c.status, `${c.name}: ${result.text}`);
        const error = errorOf(result);
        if (c.param) assert.equal(error.param, c.param, c.name);
        if (c.code) assert.equal(error.code, c.code, c.name);
        if (c.status === 405) assert.ok(result.headers.allow, `${c.name}: no Allow header`);
      }
      const ok = await complete(served, good);
      assert.equal(ok.choices.length, 1);
    });
  });

  describe('with --workspace', () => {
    let repo = '';
    let plain: Served | undefined;
    let withRepo: Served | undefined;
    before(async () => {
      repo = makeRepo({ 'src/a.ts': 'export const a = 1;\n' });
      plain = await startServe(['--model', MODEL]);
      withRepo = await startServe(['--model', MODEL, '--workspace', repo, '--max-tokens', '16']);
    });
    after(async () => {
      await Promise.all([stopServe(plain), stopServe(withRepo)]);
      rmSync(repo, { recursive: true, force: true });
    });

    it('puts the workspace and its system prompt in the prompt and returns references', async () => {
      const report = runCliJson<ContextReport>(['context', '--model', MODEL, '--workspace', repo, '--json']);
      assert.equal(report.included.length, 1);
      assert.match((withRepo as Served).stderr(), /context: 1 files, \d+ tokens/);
      const messages = [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'what is a?' },
      ];
      const without = await complete(plain as Served, chatBody(messages));
      const withWorkspace = await complete(withRepo as Served, chatBody(messages));
      const grown = withWorkspace.usage.prompt_tokens - without.usage.prompt_tokens;
      const added = tokenizer.encode(`\n\n${SYSTEM_PROMPT}\nQuestion: `, { addSpecialTokens: false }).length;
      assert.ok(grown >= report.totals.tokens, `grew by ${grown}, the files take ${report.totals.tokens}`);
      assert.ok(grown <= report.totals.tokens + added + 4, `grew by ${grown}: more than files and prompt`);
      assert.ok(Array.isArray(withWorkspace.hipcode.references));
      const { chunks } = await streamChunks(withRepo as Served, { ...chatBody(messages), stream: true });
      assert.ok(Array.isArray(chunks.at(-1)?.hipcode?.references));
    });

    it('needs a user message to put the workspace before', async () => {
      const result = await request(`${(withRepo as Served).url}/chat/completions`, {
        method: 'POST',
        body: chatBody([{ role: 'system', content: 'only a system message' }]),
      });
      assert.equal(result.status, 400);
      assert.equal(errorOf(result).param, 'messages');
    });
  });

  describe('with --token', () => {
    let served: Served | undefined;
    after(() => stopServe(served));

    it('requires the bearer token on every route', async () => {
      served = await startServe(['--model', MODEL, '--max-tokens', '3'], {
        ...process.env,
        HIPCODE_SERVE_TOKEN: 's3cret',
      });
      const url = `${served.url}/chat/completions`;
      const body = { messages: [{ role: 'user', content: 'hi' }], temperature: 0 };
      for (const headers of [{}, { Authorization: 'Bearer wrong' }, { Authorization: 's3cret' }] as Record<
        string,
        string
      >[]) {
        const result = await request(url, { method: 'POST', body, headers });
        assert.equal(result.status, 401, JSON.stringify(headers));
        assert.equal(errorOf(result).code, 'invalid_api_key');
        assert.equal(result.headers['www-authenticate'], 'Bearer');
      }
      assert.equal((await request(`${served.url}/models`)).status, 401);
      const ok = await request(url, { method: 'POST', body, headers: { Authorization: 'Bearer s3cret' } });
      assert.equal(ok.status, 200, ok.text);
      // --max-tokens is the default completion length.
      assert.ok((ok.json as ChatCompletion).usage.completion_tokens <= 3);
      const models = await request(`${served.url}/models`, { headers: { Authorization: 'Bearer s3cret' } });
      assert.equal(models.status, 200);
      served.child.kill('SIGINT');
      assert.equal(await served.exited, 0);
      assert.match(served.stderr(), /SIGINT: stopping/);
    });
  });

  describe('on a slow model (zero weights: greedy repeats "!", about 10 ms a token)', () => {
    let dir = '';
    let served: Served | undefined;
    const body = (maxTokens: number) => ({
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: maxTokens,
      temperature: 0,
    });
    before(async () => {
      dir = makeSlowModel();
      served = await startServe(['--model', dir, '--max-queue', '2']);
    });
    after(async () => {
      await stopServe(served);
      rmSync(dir, { recursive: true, force: true });
    });

    it('cancels the generation of a client that goes away; the next request starts at once', async () => {
      const server = served as Served;
      // Left alone, each of these would generate for about half a minute.
      const streaming = new AbortController();
      await startStream(server, body(3000), streaming.signal);
      streaming.abort();
      const waiting = new AbortController();
      const whole = request(`${server.url}/chat/completions`, {
        method: 'POST',
        body: body(3000),
        signal: waiting.signal,
      });
      await delay(300);
      waiting.abort();
      await assert.rejects(whole);
      const started = performance.now();
      const next = await complete(server, body(4));
      const seconds = (performance.now() - started) / 1000;
      assert.ok(seconds < 5, `the next request took ${seconds.toFixed(1)} s`);
      assert.equal(next.choices[0].message.content, '!!!!');
      await waitFor(
        'two cancels in the log',
        () => (server.stderr().match(/client went away/g) ?? []).length === 2,
      );
    });

    it('cancels a long prefill within a chunk when its client goes away', async () => {
      const server = served as Served;
      const long = (word: string) => ({
        messages: [{ role: 'user', content: `${word} `.repeat(3500) }],
        max_tokens: 2,
        temperature: 0,
      });
      const started = performance.now();
      const whole = await complete(server, long('a'));
      const prefill = (performance.now() - started) / 1000;
      assert.ok(whole.usage.prompt_tokens > 3000, `a prompt of ${whole.usage.prompt_tokens} tokens`);
      const going = new AbortController();
      const pending = request(`${server.url}/chat/completions`, {
        method: 'POST',
        body: long('b'),
        signal: going.signal,
      });
      await delay(Math.min(200, (prefill * 1000) / 4));
      going.abort();
      await assert.rejects(pending);
      const next = performance.now();
      await complete(server, body(2));
      const waited = (performance.now() - next) / 1000;
      assert.ok(
        waited < prefill / 2,
        `the next request waited ${waited.toFixed(2)} s; a whole prefill takes ${prefill.toFixed(2)} s`,
      );
    });

    it('runs one request at a time in arrival order, and answers 429 when the queue is full', async () => {
      const server = served as Served;
      const order: string[] = [];
      const running = new AbortController();
      await startStream(server, body(3000), running.signal);
      const queued = (name: string) =>
        complete(server, body(3)).then((response) => {
          order.push(name);
          return response;
        });
      const second = queued('second');
      await delay(300);
      const third = queued('third');
      await delay(300);
      const refused = await request(`${server.url}/chat/completions`, { method: 'POST', body: body(3) });
      assert.equal(refused.status, 429, refused.text);
      assert.equal(refused.headers['retry-after'], '1');
      assert.equal(errorOf(refused).code, 'rate_limit_exceeded');
      await delay(300);
      order.push('first cancelled');
      running.abort();
      for (const response of await Promise.all([second, third])) {
        assert.equal(response.choices[0].message.content, '!!!');
      }
      assert.deepEqual(order, ['first cancelled', 'second', 'third']);
    });

    it('stops on SIGTERM mid-generation: the stream ends and the process exits 0', async () => {
      const own = await startServe(['--model', dir]);
      const reader = await startStream(own, body(3000), new AbortController().signal);
      const started = performance.now();
      own.child.kill('SIGTERM');
      assert.equal(await own.exited, 0, own.stderr());
      const seconds = (performance.now() - started) / 1000;
      assert.ok(seconds < 5, `exiting took ${seconds.toFixed(1)} s`);
      assert.ok(!(await readRest(reader)).includes('[DONE]'));
      assert.match(own.stderr(), /SIGTERM: stopping/);
    });
  });
});
