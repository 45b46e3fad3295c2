// The engine's KV session through the protocol: the context prefilled once at sync and reused by every ask (the
// answers equal a fresh one-shot prefill's) from a fork that leaves the context's session as the sync left it,
// prefill progress with rates, and cancels mid-prefill within 200 ms.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CancellationTokenSource } from 'vscode-jsonrpc/node';
import { toGeometry } from '../../extension/engine/model/config';
import { loadModel, type LoadedModel } from '../../extension/engine/model/load';
import {
  AskRequest,
  DidChangeFilesNotification,
  InitializeRequest,
  REQUEST_CANCELLED,
  StatusRequest,
  SyncWorkspaceRequest,
  type ContextReport,
  type ProgressParams,
} from '../../extension/engine/protocol';
import {
  initialize,
  longContextModel,
  MODEL,
  rejection,
  startEngine,
  stopEngine,
  waitUntil,
  type EngineProcess,
} from '../helpers/engine';
import { makeRepo } from '../helpers/repo';
import { referenceAnswer, referencePrompt } from '../helpers/reference';

function commonPrefix(a: readonly number[], b: readonly number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

function phase(progress: ProgressParams[], name: ProgressParams['phase'], method: string) {
  return progress.filter((p) => p.phase === name && p.method === method);
}

/** A repo of `files` source files of about 300 tokens each. */
function generatedRepo(files: number): string {
  const entries: Record<string, string> = {};
  for (let i = 0; i < files; i++) {
    const body = Array.from(
      { length: 12 },
      (_, j) => `  const value${j} = compute(${i}, ${j}); // step ${j}\n`,
    );
    entries[`src/module${i}.ts`] = `export function run${i}() {\n${body.join('')}}\n`;
  }
  return makeRepo(entries, 'hipcode-kv-');
}

describe('engine KV session (prefix reuse, prefill progress, cancel)', function () {
  this.timeout(60000);
  let engine: EngineProcess;
  let model: LoadedModel;
  let repo = '';

  before(async () => {
    model = await loadModel(MODEL, { backend: 'cpu', threads: 2 });
    repo = makeRepo({
      'src/a.ts': 'export const a = 1;\n',
      'src/b.py': 'def b():\n    return 2\n',
      'README.md': '# Repo\n',
    });
  });
  after(() => {
    model.native.dispose();
    rmSync(repo, { recursive: true, force: true });
  });
  beforeEach(() => {
    engine = startEngine();
  });
  afterEach(() => stopEngine(engine));

  it('sync prefills the context; each ask then runs only its question in a fork and answers as a fresh prefill does', async () => {
    await initialize(engine);
    const report = await engine.connection.sendRequest(SyncWorkspaceRequest, { roots: [repo] });
    const synced = await engine.connection.sendRequest(StatusRequest);
    assert.ok(synced.kv && synced.kv.heldTokens > report.totals.tokens);
    assert.equal(synced.kv.chatTokens, 0);
    // The CPU cache's f32 pages of 64 positions, K and V of every layer: at least those the context holds.
    const { numLayers, numKvHeads, headDim } = toGeometry(model.config);
    const pageBytes = 2 * numLayers * 64 * numKvHeads * headDim * 4;
    assert.equal(synced.kv.gpuBytes, 0);
    assert.equal(synced.kv.hostBytes % pageBytes, 0);
    assert.ok(synced.kv.hostBytes >= Math.ceil(synced.kv.heldTokens / 64) * pageBytes);
    const questions = ['what is a?', 'what does b return?', 'what is a?'];
    const results = [];
    for (const question of questions) {
      const result = await engine.connection.sendRequest(AskRequest, { question, maxTokens: 12 });
      const { kv } = await engine.connection.sendRequest(StatusRequest);
      // The context's session is as the sync left it; the fork holds the prompt and the answer but the last
      // sampled token, which was never fed.
      assert.equal(kv?.heldTokens, synced.kv.heldTokens);
      assert.equal(kv?.chatTokens, result.usage.promptTokens + result.usage.generatedTokens - 1);
      results.push(result);
    }
    const prompts = await Promise.all(
      questions.map((q) => referencePrompt(model, repo, report.totals.budget, q)),
    );
    for (const [i, result] of results.entries()) {
      assert.equal(result.usage.promptTokens, prompts[i].length);
      assert.equal(result.answer, await referenceAnswer(model, prompts[i], 12), `answer ${i}`);
    }
    // The first ask finds the sync's prefix; later ones what the previous prompt shares with theirs.
    assert.ok(results[0].usage.cachedTokens >= report.totals.tokens);
    assert.equal(results[1].usage.cachedTokens, commonPrefix(prompts[0], prompts[1]));
    assert.equal(results[2].usage.cachedTokens, commonPrefix(prompts[1], prompts[2]));
    assert.ok(results[1].usage.cachedTokens >= report.totals.tokens);
    const prefills = phase(engine.progress, 'prefill', SyncWorkspaceRequest.method);
    assert.ok(prefills.length >= 1);
    const last = prefills[prefills.length - 1];
    assert.equal(last.tokens, last.totalTokens);
    assert.equal(last.files, report.totals.includedFiles);
  });

  it('a seed with a temperature gives the answer of a fresh session with that seed, every time, without prefilling the context again', async () => {
    await initialize(engine);
    const report = await engine.connection.sendRequest(SyncWorkspaceRequest, { roots: [repo] });
    const ask = { question: 'what is a?', maxTokens: 12, temperature: 1.5, seed: 3 };
    const first = await engine.connection.sendRequest(AskRequest, ask);
    const second = await engine.connection.sendRequest(AskRequest, ask);
    const ids = await referencePrompt(model, repo, report.totals.budget, ask.question);
    const expected = await referenceAnswer(model, ids, 12, 1.5, 3);
    assert.equal(first.answer, expected);
    assert.equal(second.answer, expected);
    for (const result of [first, second]) assert.ok(result.usage.cachedTokens >= report.totals.tokens);
    assert.notEqual(
      await referenceAnswer(model, ids, 12, 1.5, 4),
      expected,
      'another seed samples otherwise',
    );
  });

  it('with kvDtype fp8-e4m3 the answers are those of a session keeping fp8 rows from scratch', async () => {
    const fp8 = await loadModel(MODEL, { backend: 'cpu', threads: 2, kvDtype: 'fp8-e4m3' });
    try {
      const init = { modelDir: MODEL, backend: 'cpu', threads: 2, kvDtype: 'fp8-e4m3' } as const;
      await engine.connection.sendRequest(InitializeRequest, init);
      const report = await engine.connection.sendRequest(SyncWorkspaceRequest, { roots: [repo] });
      const question = 'what does b return?';
      const result = await engine.connection.sendRequest(AskRequest, { question, maxTokens: 12 });
      const ids = await referencePrompt(fp8, repo, report.totals.budget, question);
      assert.equal(result.answer, await referenceAnswer(fp8, ids, 12));
      assert.ok(result.usage.cachedTokens >= report.totals.tokens);
      assert.match(engine.stderr(), /model loaded on cpu: Qwen3ForCausalLM, KV cache in fp8-e4m3 rows/);
    } finally {
      fp8.native.dispose();
    }
  });

  it('a second sync of the same workspace prefills nothing again', async () => {
    await initialize(engine);
    await engine.connection.sendRequest(SyncWorkspaceRequest, { roots: [repo] });
    engine.progress.length = 0;
    await engine.connection.sendRequest(SyncWorkspaceRequest, { roots: [repo] });
    assert.deepEqual(phase(engine.progress, 'prefill', SyncWorkspaceRequest.method), []);
    assert.match(engine.stderr(), /prefill: 0 tokens in [\d.]+ s, \d+ reused/);
  });

  describe('on a long context (a 16K-token copy of the fixture model)', () => {
    let longModel = '';
    let bigRepo = '';

    before(() => {
      longModel = longContextModel(16384);
      bigRepo = generatedRepo(20);
    });
    after(() => {
      rmSync(longModel, { recursive: true, force: true });
      rmSync(bigRepo, { recursive: true, force: true });
    });

    /** Cancels `method`'s request once its prefill is under way; returns ms from the cancel to the error. */
    async function cancelMidPrefill(
      send: (token: CancellationTokenSource['token']) => Promise<unknown>,
      method: string,
    ) {
      const source = new CancellationTokenSource();
      const seen = engine.progress.length;
      let settled = false;
      const pending = send(source.token).finally(() => (settled = true));
      const chunks = () => phase(engine.progress.slice(seen), 'prefill', method);
      await waitUntil(() => settled || chunks().length >= 2, `two prefill chunks of ${method}`, 30_000);
      assert.equal(settled, false, `${method} ended before its prefill was under way`);
      const prefill = chunks();
      assert.ok(prefill[prefill.length - 1].tokens < (prefill[0].totalTokens ?? 0), 'prefill ended too soon');
      source.cancel();
      const cancelledAt = performance.now();
      const error = await rejection(pending);
      assert.equal(error.code, REQUEST_CANCELLED);
      assert.equal(error.data?.code, 'E_CANCELLED');
      return performance.now() - cancelledAt;
    }

    it('cancels a sync and then an ask mid-prefill within 200 ms; the resumed prefill answers correctly', async () => {
      await initialize(engine, longModel);
      let report: ContextReport | undefined;
      const syncMs = await cancelMidPrefill(
        (token) =>
          engine.connection
            .sendRequest(SyncWorkspaceRequest, { roots: [bigRepo], requestId: 's' }, token)
            .then((r) => (report = r)),
        SyncWorkspaceRequest.method,
      );
      assert.equal(report, undefined);
      assert.ok(syncMs < 200, `the sync answered ${syncMs.toFixed(0)} ms after the cancel`);
      const askMs = await cancelMidPrefill(
        (token) =>
          engine.connection.sendRequest(AskRequest, { question: 'what does run3 do?', maxTokens: 4 }, token),
        AskRequest.method,
      );
      assert.ok(askMs < 200, `the ask answered ${askMs.toFixed(0)} ms after the cancel`);
      const status = await engine.connection.sendRequest(StatusRequest);
      assert.equal(status.busy, false);
      assert.ok(status.contextTokens > 6000, `context of ${status.contextTokens} tokens`);
      assert.equal(status.files, 20);

      const sync = engine.progress.filter((p) => p.method === SyncWorkspaceRequest.method);
      const tokenize = sync.filter((p) => p.phase === 'tokenize');
      assert.ok(tokenize.every((p) => p.tokensPerSecond !== undefined && p.etaSeconds !== undefined));
      const prefill = sync.filter((p) => p.phase === 'prefill');
      assert.ok(prefill.every((p) => p.totalTokens !== undefined && p.totalTokens > 6000));
      assert.ok(prefill.every((p) => (p.tokensPerSecond ?? 0) > 0 && (p.etaSeconds ?? -1) >= 0));
      assert.ok(prefill.every((p, i) => i === 0 || p.tokens > prefill[i - 1].tokens));

      const question = 'what does run3 do?';
      const result = await engine.connection.sendRequest(AskRequest, { question, maxTokens: 4 });
      assert.ok(result.usage.cachedTokens > 0);
      const longLoaded = await loadModel(longModel, { backend: 'cpu', threads: 2 });
      try {
        const budget = status.contextTokens; // the whole repo fits the engine's budget
        const ids = await referencePrompt(longLoaded, bigRepo, budget, question);
        assert.equal(result.usage.promptTokens, ids.length);
        assert.equal(result.answer, await referenceAnswer(longLoaded, ids, 4));
      } finally {
        longLoaded.native.dispose();
      }
    });

    it('changes notified during a sync apply after it, on the context it read', async () => {
      await initialize(engine, longModel);
      const pending = engine.connection.sendRequest(SyncWorkspaceRequest, { roots: [bigRepo] });
      await waitUntil(() => engine.progress.some((p) => p.phase === 'prefill'), 'the sync prefill', 30_000);
      const edited = join(bigRepo, 'src/module19.ts');
      writeFileSync(edited, 'export const edited = true;\n');
      await engine.connection.sendNotification(DidChangeFilesNotification, { changed: [edited] });
      const report = await pending;
      const before = report.included.find((f) => f.path === 'src/module19.ts');
      assert.ok(before && before.tokens > 100, 'the sync read the file before the edit');
      await waitUntil(() => engine.contextChanges.length === 2, 'the update', 30_000);
      const [sync, update] = engine.contextChanges;
      assert.equal(sync.method, SyncWorkspaceRequest.method);
      assert.equal(update.method, DidChangeFilesNotification.method);
      const after = update.report.included.at(-1);
      assert.equal(after?.path, 'src/module19.ts');
      assert.ok(after && after.tokens < before.tokens / 2, `${after?.tokens} tokens after the edit`);
      assert.equal(update.report.totals.tokens, report.totals.tokens - before.tokens + after.tokens);
    });
  });
});
