// The engine process (dist/engine.js) driven over its stdio with vscode-jsonrpc's client side, on the tiny qwen3
// fixture model with the CPU backend: initialize, sync, ask with streaming, cancel, errors, a killed engine.
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CancellationTokenSource, ErrorCodes, ResponseError } from 'vscode-jsonrpc/node';
import { readModelConfig } from '../../extension/engine/model/config';
import {
  AnswerDeltaNotification,
  AskRequest,
  InitializeRequest,
  REQUEST_CANCELLED,
  ShutdownRequest,
  StatusRequest,
  SyncWorkspaceRequest,
} from '../../extension/engine/protocol';
import { loadTokenizer } from '../../extension/engine/text/tokenizer';
import { buildContext } from '../../extension/engine/workspace';
import { initialize, MODEL, rejection, startEngine, stopEngine, type EngineProcess } from '../helpers/engine';
import { makeRepo } from '../helpers/repo';

describe('engine process (JSON-RPC over stdio)', function () {
  this.timeout(20000);
  let engine: EngineProcess;
  let repo = '';

  before(() => {
    repo = makeRepo({
      'src/a.ts': 'export const a = 1;\n',
      'src/b.py': 'def b():\n    return 2\n',
      'README.md': '# Repo\n',
      'node_modules/x/index.js': 'module.exports = 1;\n',
      'data.bin': '\0\x01\x02',
      'big.txt': 'lorem ipsum dolor sit amet\n'.repeat(200),
    });
  });
  after(() => rmSync(repo, { recursive: true, force: true }));
  beforeEach(() => {
    engine = startEngine();
  });
  afterEach(() => stopEngine(engine));

  it('initialize loads the model and reports it; status follows', async () => {
    const result = await initialize(engine);
    assert.equal(result.backend, 'cpu');
    assert.equal(result.model.architecture, 'Qwen3ForCausalLM');
    assert.equal(result.model.contextLength, 256);
    assert.ok(result.model.vocabSize > 0);
    const status = await engine.connection.sendRequest(StatusRequest);
    assert.equal(status.backend, 'cpu');
    assert.equal(status.modelDir, result.model.dir);
    assert.equal(status.files, 0);
    assert.deepEqual(status.model, result.model);
    assert.deepEqual(status.kv, {
      heldTokens: 0,
      capacityTokens: 256,
      chatTokens: 0,
      gpuBytes: 0,
      hostBytes: 0,
    });
    assert.equal(status.gpu, undefined);
    const vmRss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${engine.child.pid}/status`, 'utf8'));
    const rss = Number(vmRss?.[1]) * 1024;
    assert.ok(Math.abs(status.memory.rssBytes - rss) < rss / 4, `rss ${status.memory.rssBytes} vs ${rss}`);
    assert.ok(status.memory.heapUsedBytes > 0 && status.memory.heapUsedBytes < status.memory.rssBytes);
    assert.match(engine.stderr(), /\[info\] model loaded on cpu/);
  });

  it('initialize on a missing folder answers an error with E_MODEL_NOT_FOUND', async () => {
    const error = await rejection(
      engine.connection.sendRequest(InitializeRequest, { modelDir: join(repo, 'no-such-model') }),
    );
    assert.ok(error instanceof ResponseError);
    assert.equal(error.data?.code, 'E_MODEL_NOT_FOUND');
    assert.match(error.message, /does not exist/);
    assert.match(engine.stderr(), /\[warn\] hipcode\/initialize: \[E_MODEL_NOT_FOUND\]/);
  });

  it('syncWorkspace reports the context buildContext builds, with progress', async () => {
    await initialize(engine);
    const report = await engine.connection.sendRequest(SyncWorkspaceRequest, {
      roots: [repo],
      requestId: 'sync-1',
    });
    const config = readModelConfig(MODEL);
    const tokenizer = loadTokenizer(MODEL, config.eosTokenIds);
    const direct = await buildContext({
      roots: [repo],
      budget: report.totals.budget,
      tokenize: (text) => tokenizer.encode(text, { addSpecialTokens: false }),
    });
    assert.ok(report.totals.budget > 0 && report.totals.budget < 256);
    assert.equal(report.totals.tokens, direct.tokens);
    assert.deepEqual(
      report.included.map((f) => [f.path, f.tokens]),
      direct.included.map((f) => [f.path, f.tokens]),
    );
    assert.deepEqual(
      report.excluded.map((e) => [e.path, e.code]),
      direct.excluded.map((e) => [e.path, e.code]),
    );
    assert.ok(report.excluded.some((e) => e.path === 'big.txt' && e.code === 'budget'));
    assert.ok(report.excluded.some((e) => e.path === 'data.bin' && e.code === 'binary'));
    assert.ok(engine.progress.length >= 1);
    assert.ok(engine.progress.every((p) => p.requestId === 'sync-1'));
    const tokenized = engine.progress.filter((p) => p.phase === 'tokenize');
    const last = tokenized[tokenized.length - 1];
    assert.equal(last.files, last.totalFiles);
    assert.equal(last.etaSeconds, 0);
    assert.ok(last.tokensPerSecond !== undefined && last.tokensPerSecond > 0);
    const status = await engine.connection.sendRequest(StatusRequest);
    assert.equal(status.contextTokens, report.totals.tokens);
    assert.equal(status.files, report.included.length);
  });

  it('ask streams answerDelta notifications and returns answer, references, usage and timings', async () => {
    await initialize(engine);
    const report = await engine.connection.sendRequest(SyncWorkspaceRequest, { roots: [repo] });
    const result = await engine.connection.sendRequest(AskRequest, {
      question: 'what is a?',
      maxTokens: 8,
      requestId: 'ask-1',
    });
    assert.equal(typeof result.answer, 'string');
    assert.ok(Array.isArray(result.references));
    assert.equal(result.usage.contextTokens, report.totals.tokens);
    assert.ok(result.usage.generatedTokens >= 1 && result.usage.generatedTokens <= 8);
    assert.ok(result.timings.totalSeconds >= 0);
    assert.ok(engine.deltas.length >= 1);
    assert.ok(engine.deltas.every((d) => d.requestId === 'ask-1'));
    assert.equal(engine.deltas.map((d) => d.text).join(''), result.answer);
  });

  it('cancelling an ask answers RequestCancelled within 1 s and the engine keeps serving', async () => {
    const init = await initialize(engine);
    const probe = await engine.connection.sendRequest(AskRequest, { question: 'explain', maxTokens: 1 });
    const maxTokens = init.model.contextLength - probe.usage.promptTokens;
    assert.ok(maxTokens > 100);
    const source = new CancellationTokenSource();
    const started = performance.now();
    const pending = engine.connection.sendRequest(
      AskRequest,
      { question: 'explain', maxTokens },
      source.token,
    );
    source.cancel();
    const error = await rejection(pending);
    assert.ok(performance.now() - started < 1000);
    assert.equal(error.code, REQUEST_CANCELLED);
    assert.equal(error.data?.code, 'E_CANCELLED');
    const status = await engine.connection.sendRequest(StatusRequest);
    assert.equal(status.busy, false);
    assert.equal(status.backend, 'cpu');
  });

  it('cancelling mid-generation (after the first answerDelta) stops the loop between tokens', async () => {
    const init = await initialize(engine);
    const probe = await engine.connection.sendRequest(AskRequest, { question: 'explain', maxTokens: 1 });
    const maxTokens = init.model.contextLength - probe.usage.promptTokens;
    engine.deltas.length = 0;
    const source = new CancellationTokenSource();
    // One handler per method: this one replaces the collecting one.
    engine.connection.onNotification(AnswerDeltaNotification, (delta) => {
      engine.deltas.push(delta);
      source.cancel();
    });
    const error = await rejection(
      engine.connection.sendRequest(AskRequest, { question: 'explain', maxTokens }, source.token),
    );
    assert.equal(error.code, REQUEST_CANCELLED);
    assert.ok(engine.deltas.length >= 1 && engine.deltas.length < maxTokens);
    assert.equal((await engine.connection.sendRequest(StatusRequest)).busy, false);
  });

  it('answers unknown methods with MethodNotFound and survives malformed JSON', async () => {
    const error = await rejection(engine.connection.sendRequest('hipcode/noSuchMethod', {}));
    assert.equal(error.code, ErrorCodes.MethodNotFound);
    const garbage = '{"jsonrpc": "2.0", "id": 99, "method": ';
    engine.child.stdin.write(`Content-Length: ${Buffer.byteLength(garbage)}\r\n\r\n${garbage}`);
    const status = await engine.connection.sendRequest(StatusRequest);
    assert.equal(status.backend, null);
    assert.match(engine.stderr(), /\[error\]/);
  });

  it('bad params get an error with a code, not a crash', async () => {
    const error = await rejection(engine.connection.sendRequest(AskRequest, { question: 'x' }));
    assert.equal(error.data?.code, 'E_INVALID_ARGUMENT');
    const bad: [object, RegExp][] = [
      [{ attention: 'sparse' }, /^attention must be dense, hip, auto, got "sparse"$/],
      [{ backend: 'tpu' }, /^backend must be cpu, cuda, auto, got "tpu"$/],
      [{ gpuKvBudget: -1 }, /^gpuKvBudget must be an integer >= 0, got -1$/],
      [{ hostKvBudget: -1 }, /^hostKvBudget must be an integer >= 0, got -1$/],
      [{ hostKvBudget: '48G' }, /^hostKvBudget must be an integer >= 0, got "48G"$/],
      [{ kvDtype: 'fp4' }, /^kvDtype must be auto, f32, bf16, fp8-e4m3, got "fp4"$/],
    ];
    for (const [params, message] of bad) {
      const init = await rejection(
        engine.connection.sendRequest(InitializeRequest, { modelDir: MODEL, ...params }),
      );
      assert.equal(init.data?.code, 'E_INVALID_ARGUMENT');
      assert.match(init.message, message);
    }
    await initialize(engine);
    const sync = await rejection(engine.connection.sendRequest(SyncWorkspaceRequest, { roots: [] }));
    assert.equal(sync.code, ErrorCodes.InvalidParams);
    assert.equal(sync.data?.code, 'E_INVALID_ARGUMENT');
  });

  it('a request pending when the engine is killed rejects instead of hanging', async () => {
    await initialize(engine);
    const pending = engine.connection.sendRequest(AskRequest, { question: 'explain', maxTokens: 150 });
    engine.child.kill('SIGKILL');
    const error = await rejection(pending);
    assert.ok(error instanceof Error);
    await engine.exited;
  });

  it('shutdown disposes the model and exit ends the process with 0', async () => {
    await initialize(engine);
    assert.equal(await engine.connection.sendRequest(ShutdownRequest), null);
    const status = await engine.connection.sendRequest(StatusRequest);
    assert.equal(status.backend, null);
    assert.equal(status.model, null);
    assert.equal(status.kv, null);
    await engine.connection.sendNotification('hipcode/exit');
    assert.equal(await engine.exited, 0);
  });
});
