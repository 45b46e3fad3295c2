// didChangeFiles through the engine process: edits, deletions, editor buffers and .gitignore changes reach the
// context report (checked against a fresh build of the workspace) and the next answer (checked against a fresh
// one-shot prefill of the independently rendered prompt); bursts merge; updates wait for a running ask.
import assert from 'node:assert/strict';
import { rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel, type LoadedModel } from '../../extension/engine/model/load';
import {
  AskRequest,
  DidChangeFilesNotification,
  StatusRequest,
  SyncWorkspaceRequest,
  type ContextChangedParams,
  type ContextReport,
  type DidChangeFilesParams,
} from '../../extension/engine/protocol';
import {
  initialize,
  longContextModel,
  startEngine,
  stopEngine,
  waitUntil,
  type EngineProcess,
} from '../helpers/engine';
import { makeRepo } from '../helpers/repo';
import { referenceAnswer, referenceContext, referencePrompt } from '../helpers/reference';

function summary(report: ContextReport) {
  return {
    included: report.included.map((f) => [f.path, f.tokens]),
    excluded: report.excluded.map((e) => [e.path, e.code]),
    tokens: report.totals.tokens,
  };
}

describe('engine didChangeFiles (incremental context updates)', function () {
  this.timeout(30000);
  let engine: EngineProcess;
  let model: LoadedModel;
  let modelDir = '';
  let repo = '';
  let synced: ContextReport;

  /** Sends changes and waits for the contextChanged they cause. */
  async function change(params: DidChangeFilesParams): Promise<ContextChangedParams> {
    const seen = engine.contextChanges.length;
    await engine.connection.sendNotification(DidChangeFilesNotification, params);
    await waitUntil(() => engine.contextChanges.length > seen, 'contextChanged');
    return engine.contextChanges[seen];
  }

  /** The report must equal a fresh build of the workspace as it is now (with `buffers`). */
  async function checkReport(report: ContextReport, buffers?: Map<string, string>) {
    const fresh = await referenceContext(model, repo, synced.totals.budget, buffers);
    assert.deepEqual(summary(report), {
      included: fresh.included.map((f) => [f.path, f.tokens]),
      excluded: fresh.excluded.map((e) => [e.path, e.code]),
      tokens: fresh.tokens,
    });
  }

  before(async () => {
    modelDir = longContextModel(2048);
    model = await loadModel(modelDir, { backend: 'cpu', threads: 2 });
  });
  after(() => {
    model.native.dispose();
    rmSync(modelDir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    repo = makeRepo({ 'a.ts': 'let a = 1;\n', 'b.py': 'b = 2\n', 'c.md': '# C\n' }, 'hipcode-updates-');
    ['a.ts', 'b.py', 'c.md'].forEach((name, i) => {
      const when = Date.now() / 1000 - 1000 + i;
      utimesSync(join(repo, name), when, when);
    });
    engine = startEngine();
    await initialize(engine, modelDir);
    synced = await engine.connection.sendRequest(SyncWorkspaceRequest, { roots: [repo], requestId: 'sync' });
  });
  afterEach(() => {
    stopEngine(engine);
    rmSync(repo, { recursive: true, force: true });
  });

  it('sync sends contextChanged with its report', () => {
    assert.equal(engine.contextChanges.length, 1);
    const [changed] = engine.contextChanges;
    assert.equal(changed.method, SyncWorkspaceRequest.method);
    assert.equal(changed.requestId, 'sync');
    assert.deepEqual(changed.report, synced);
  });

  it('an edited file: the report counts its new tokens, only the suffix is prefilled, the next answer sees it', async () => {
    const edited = join(repo, 'b.py');
    writeFileSync(edited, 'b = 2\nlimit = 42\n');
    const changed = await change({ changed: [edited] });
    assert.equal(changed.method, DidChangeFilesNotification.method);
    assert.equal(changed.rescanned, false);
    await checkReport(changed.report);
    assert.deepEqual(
      changed.report.included.map((f) => f.path),
      ['a.ts', 'c.md', 'b.py'],
    );
    const prefilled = /update: .*\n.*prefill: (\d+) tokens in [\d.]+ s, (\d+) reused \((\d+) held\)/;
    await waitUntil(() => prefilled.test(engine.stderr()), 'the update prefill');
    const [, run, reused, held] = (prefilled.exec(engine.stderr()) ?? []).map(Number);
    // The first file stays cached; the moved and the edited file are run again.
    const [a, c, b] = changed.report.included.map((f) => f.tokens);
    assert.ok(reused > a && run < held - a, `${reused} of ${held} tokens reused`);
    assert.ok(run >= b + c / 2, `${run} tokens run`);
    assert.equal(run, held - reused);

    const question = 'what is limit?';
    const result = await engine.connection.sendRequest(AskRequest, { question, maxTokens: 12 });
    const ids = await referencePrompt(model, repo, synced.totals.budget, question);
    assert.equal(result.usage.promptTokens, ids.length);
    assert.equal(result.answer, await referenceAnswer(model, ids, 12));
    assert.ok(result.usage.cachedTokens >= changed.report.totals.tokens);
  });

  it('deletions, and a burst of changes makes one update', async () => {
    unlinkSync(join(repo, 'b.py'));
    writeFileSync(join(repo, 'd.rs'), 'fn d() {}\n');
    const seen = engine.contextChanges.length;
    await engine.connection.sendNotification(DidChangeFilesNotification, { deleted: [join(repo, 'b.py')] });
    await engine.connection.sendNotification(DidChangeFilesNotification, { changed: [join(repo, 'd.rs')] });
    await waitUntil(() => engine.contextChanges.length > seen, 'contextChanged');
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(engine.contextChanges.length, seen + 1, 'one update for the burst');
    const { report } = engine.contextChanges[seen];
    await checkReport(report);
    assert.ok(!report.included.some((f) => f.path === 'b.py'));
    assert.ok(report.included.some((f) => f.path === 'd.rs'));
  });

  it('an unsaved buffer overlays the file; closing it reads the disk again', async () => {
    const path = join(repo, 'b.py');
    const text = 'b = 2\n# unsaved: the buffer wins\n';
    const open = await change({ buffers: { [path]: text } });
    await checkReport(open.report, new Map([[path, text]]));
    assert.equal(open.report.included.at(-1)?.path, 'b.py');
    const status = await engine.connection.sendRequest(StatusRequest);
    assert.equal(status.contextTokens, open.report.totals.tokens);
    const closed = await change({ buffers: { [path]: null } });
    assert.deepEqual(summary(closed.report), summary(synced));
  });

  it('a .gitignore change rescans the workspace', async () => {
    writeFileSync(join(repo, '.gitignore'), '*.md\n');
    const changed = await change({ changed: [join(repo, '.gitignore')] });
    assert.equal(changed.rescanned, true);
    await checkReport(changed.report);
    assert.ok(changed.report.excluded.some((e) => e.path === 'c.md' && e.code === 'gitignore'));
  });

  it('an update waits for a running ask; invalid changes are logged and ignored', async () => {
    const pending = engine.connection.sendRequest(AskRequest, {
      question: 'explain everything',
      maxTokens: 60,
    });
    let answered = 0;
    void pending.then(() => (answered = engine.contextChanges.length));
    writeFileSync(join(repo, 'c.md'), '# C, edited\n');
    await engine.connection.sendNotification(DidChangeFilesNotification, { changed: [join(repo, 'c.md')] });
    await pending;
    await waitUntil(() => engine.contextChanges.length === 2, 'contextChanged');
    assert.equal(answered, 1, 'the ask answered before the update was applied');
    await engine.connection.sendNotification(DidChangeFilesNotification, { changed: ['relative/path.ts'] });
    await waitUntil(
      () => /didChangeFiles: \[E_INVALID_ARGUMENT\] .*changed must be/.test(engine.stderr()),
      'log',
    );
    assert.equal((await engine.connection.sendRequest(StatusRequest)).backend, 'cpu');
  });
});
