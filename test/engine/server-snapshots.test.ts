// KV snapshots across engine processes: a restarted engine restores the synced context from the snapshot the
// last one saved (nothing prefilled, the same greedy answer as a fresh engine), ignores and deletes a corrupt
// snapshot with a log line, and an engine killed mid-write leaves only a temporary that the next one removes.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, type LoadedModel } from '../../extension/engine/model/load';
import {
  AskRequest,
  DidChangeFilesNotification,
  ExitNotification,
  ShutdownRequest,
  SyncWorkspaceRequest,
  type ContextReport,
} from '../../extension/engine/protocol';
import {
  initialize,
  longContextModel,
  MODEL,
  startEngine,
  stopEngine,
  waitUntil,
  type EngineProcess,
} from '../helpers/engine';
import { makeRepo } from '../helpers/repo';
import { referenceAnswer, referencePrompt } from '../helpers/reference';
import { makeSlowModel } from '../helpers/slow-model';

const REPO_FILES = {
  'src/a.ts': 'export const a = 1;\n',
  'src/b.py': 'def b():\n    return 2\n',
  'README.md': '# Repo\n',
};

describe('engine KV snapshots (restart, corrupt file, killed writer)', function () {
  this.timeout(60000);
  let model: LoadedModel;
  let repo = '';
  let snapshots = '';
  const engines: EngineProcess[] = [];

  before(async () => {
    model = await loadModel(MODEL, { backend: 'cpu', threads: 2 });
  });
  after(() => model.native.dispose());
  beforeEach(() => {
    repo = makeRepo(REPO_FILES, 'hipcode-snap-repo-');
    snapshots = mkdtempSync(join(tmpdir(), 'hipcode-snap-dir-'));
  });
  afterEach(() => {
    for (const engine of engines.splice(0)) stopEngine(engine);
    rmSync(repo, { recursive: true, force: true });
    rmSync(snapshots, { recursive: true, force: true });
  });

  function start(env: NodeJS.ProcessEnv = {}): EngineProcess {
    const engine = startEngine(snapshots, env);
    engines.push(engine);
    return engine;
  }

  /** Starts an engine, syncs the repo, waits for its snapshot and shuts it down; returns the tokens saved. */
  async function syncAndSave(modelDir = MODEL): Promise<{ report: ContextReport; saved: number }> {
    const engine = start();
    await initialize(engine, modelDir);
    const report = await engine.connection.sendRequest(SyncWorkspaceRequest, { roots: [repo] });
    assert.equal(report.restoredTokens, undefined);
    const saved = /snapshot: saved (\d+) tokens/;
    await waitUntil(() => saved.test(engine.stderr()), 'the snapshot to be saved');
    await engine.connection.sendRequest(ShutdownRequest);
    await engine.connection.sendNotification(ExitNotification);
    await engine.exited;
    return { report, saved: Number(saved.exec(engine.stderr())?.[1]) };
  }

  function prefillsOf(engine: EngineProcess) {
    return engine.progress.filter((p) => p.phase === 'prefill' && p.method === SyncWorkspaceRequest.method);
  }

  it('a restarted engine restores the context instead of prefilling it, and answers as a fresh engine', async () => {
    const { report: first, saved } = await syncAndSave();
    assert.ok(saved > first.totals.tokens, `saved ${saved} tokens`);
    assert.deepEqual(readdirSync(snapshots).length, 1);
    assert.deepEqual(readdirSync(repo).sort(), ['README.md', 'src'], 'nothing is written into the workspace');

    const engine = start();
    await initialize(engine);
    const report = await engine.connection.sendRequest(SyncWorkspaceRequest, { roots: [repo] });
    assert.equal(report.restoredTokens, saved);
    assert.deepEqual(prefillsOf(engine), []);
    const restores = engine.progress.filter((p) => p.phase === 'restore');
    assert.ok(restores.length > 0, 'the load reported its progress');
    assert.deepEqual(
      [restores.at(-1)?.tokens, restores.at(-1)?.totalTokens, restores.at(-1)?.method],
      [saved, saved, SyncWorkspaceRequest.method],
    );
    assert.match(engine.stderr(), new RegExp(`snapshot: restored ${saved} of the context's ${saved} tokens`));
    assert.match(engine.stderr(), new RegExp(`prefill: 0 tokens in [\\d.]+ s, ${saved} reused`));

    const question = 'what is a?';
    const result = await engine.connection.sendRequest(AskRequest, { question, maxTokens: 12 });
    const ids = await referencePrompt(model, repo, report.totals.budget, question);
    assert.equal(result.answer, await referenceAnswer(model, ids, 12));
    assert.ok(result.usage.cachedTokens >= saved);
  });

  it('after an edit while no engine ran, a restarted engine reads only the snapshot before the edit and prefills the rest', async () => {
    const dir = longContextModel(2048);
    const long = await loadModel(dir, { backend: 'cpu', threads: 2 });
    try {
      const { saved } = await syncAndSave(dir);
      writeFileSync(join(repo, 'src/a.ts'), 'export const a = 41;\n');

      const engine = start();
      await initialize(engine, dir);
      const report = await engine.connection.sendRequest(SyncWorkspaceRequest, { roots: [repo] });
      assert.equal(report.totals.includedFiles, 3);
      const restored = report.restoredTokens ?? 0;
      assert.ok(restored > 0 && restored < saved, `restored ${restored} of the ${saved} saved`);
      const line = /snapshot: restored (\d+) of the context's (\d+) tokens/.exec(engine.stderr());
      assert.equal(Number(line?.[1]), restored);
      const prefills = prefillsOf(engine);
      assert.equal(
        prefills.at(-1)?.totalTokens,
        Number(line?.[2]) - restored,
        'only past the restored prefix',
      );

      const question = 'what is a?';
      const result = await engine.connection.sendRequest(AskRequest, { question, maxTokens: 12 });
      const ids = await referencePrompt(long, repo, report.totals.budget, question);
      assert.equal(result.answer, await referenceAnswer(long, ids, 12));
    } finally {
      long.native.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a corrupt snapshot is logged, deleted and ignored; the context is prefilled and saved again', async () => {
    await syncAndSave();
    const [name] = readdirSync(snapshots);
    const path = join(snapshots, name);
    const bytes = readFileSync(path);
    bytes[Math.floor(bytes.length / 2)] ^= 0x40;
    writeFileSync(path, bytes);

    const engine = start();
    await initialize(engine);
    const report = await engine.connection.sendRequest(SyncWorkspaceRequest, { roots: [repo] });
    assert.equal(report.restoredTokens, undefined);
    assert.match(engine.stderr(), /snapshot ignored and deleted: \[E_SNAPSHOT\] .*checksum/);
    assert.ok(prefillsOf(engine).length > 0, 'the context was prefilled');
    await waitUntil(() => /snapshot: saved \d+ tokens/.test(engine.stderr()), 'a new snapshot');
    assert.notDeepEqual(readFileSync(path), bytes);
  });

  describe('on a model whose snapshot takes a while to write', () => {
    let slowModel = '';
    before(() => {
      slowModel = makeSlowModel();
    });
    after(() => rmSync(slowModel, { recursive: true, force: true }));

    it('an ask right after a sync takes the session from the snapshot save, which runs again after it', async () => {
      const files: Record<string, string> = {};
      for (let i = 0; i < 6; i++) files[`src/m${i}.ts`] = `export const v${i} = [${'1, '.repeat(40)}];\n`;
      rmSync(repo, { recursive: true, force: true });
      repo = makeRepo(files, 'hipcode-snap-repo-');
      const engine = start();
      await initialize(engine, slowModel);
      await engine.connection.sendRequest(SyncWorkspaceRequest, { roots: [repo] });
      const asked = performance.now();
      const result = await engine.connection.sendRequest(AskRequest, { question: 'v3?', maxTokens: 2 });
      const askMs = performance.now() - asked;
      assert.equal(result.usage.generatedTokens, 2);
      await waitUntil(() => /snapshot: saved \d+ tokens/.test(engine.stderr()), 'the snapshot after the ask');
      const log = engine.stderr();
      const takenOver = log.indexOf('snapshot: taken over by a request or an update; saved later');
      assert.ok(takenOver >= 0, `the save was not preempted (ask ${askMs.toFixed(0)} ms)`);
      assert.ok(log.indexOf('snapshot: saved') > takenOver);
    });

    it('a live edit is saved once the edits settle, and a restarted engine restores the edited context', async () => {
      const engine = start({ HIPCODE_SNAPSHOT_DELAY_MS: '200' });
      await initialize(engine, slowModel);
      await engine.connection.sendRequest(SyncWorkspaceRequest, { roots: [repo] });
      const saves = () => engine.stderr().match(/snapshot: saved (\d+) tokens/g) ?? [];
      await waitUntil(() => saves().length === 1, 'the snapshot of the sync');
      const edited = join(repo, 'src/a.ts');
      writeFileSync(edited, 'export const a = 41;\nexport const aa = 42;\n');
      await engine.connection.sendNotification(DidChangeFilesNotification, { changed: [edited] });
      await waitUntil(() => saves().length === 2, 'the snapshot of the edited context');
      const edit = engine.contextChanges.at(-1);
      assert.equal(edit?.method, DidChangeFilesNotification.method);
      await engine.connection.sendRequest(ShutdownRequest);
      await engine.connection.sendNotification(ExitNotification);
      await engine.exited;

      const restarted = start();
      await initialize(restarted, slowModel);
      const report = await restarted.connection.sendRequest(SyncWorkspaceRequest, { roots: [repo] });
      assert.ok(
        report.restoredTokens !== undefined && report.restoredTokens > 0,
        'restored from the snapshot',
      );
      assert.equal(report.totals.tokens, edit?.report.totals.tokens);
      assert.match(restarted.stderr(), /snapshot: restored (\d+) of the context's \1 tokens/);
    });

    it('an engine killed while writing a snapshot leaves no file that loads; the next one removes the temporary', async () => {
      const files: Record<string, string> = {};
      for (let i = 0; i < 6; i++) files[`src/m${i}.ts`] = `export const v${i} = [${`${i}, `.repeat(40)}];\n`;
      rmSync(repo, { recursive: true, force: true });
      repo = makeRepo(files, 'hipcode-snap-repo-');
      const temporaries = () => readdirSync(snapshots).filter((name) => /\.kv\.tmp-\d+-\d+$/.test(name));
      const killed = start();
      await initialize(killed, slowModel);
      await killed.connection.sendRequest(SyncWorkspaceRequest, { roots: [repo] });
      await waitUntil(() => temporaries().length > 0, 'the snapshot save to start');
      killed.child.kill('SIGKILL');
      await killed.exited;
      assert.equal(temporaries().length, 1, 'killed mid-write: the temporary is left');
      assert.deepEqual(
        readdirSync(snapshots).filter((name) => name.endsWith('.kv')),
        [],
        'no snapshot file',
      );

      const next = start();
      await initialize(next, slowModel);
      assert.deepEqual(temporaries(), [], 'the dead writer’s temporary is removed');
      const report = await next.connection.sendRequest(SyncWorkspaceRequest, { roots: [repo] });
      assert.equal(report.restoredTokens, undefined);
      assert.ok(prefillsOf(next).length > 0, 'the context was prefilled');
      await waitUntil(() => /snapshot: saved \d+ tokens/.test(next.stderr()), 'a complete snapshot');
      assert.doesNotMatch(next.stderr(), /snapshot ignored/);
    });
  });
});
