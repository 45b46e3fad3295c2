// The extension's engine supervisor driving the real engine process (dist/engine.js) on the tiny qwen3 fixture
// with the CPU backend: start and ingest, streamed asks, a crash and the restart with backoff, a hung engine found
// by its health checks, giving up after repeated crashes, a model that does not load, and a clean stop.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { EngineState } from '../../webview/protocol';
import { RestartPolicy } from '../../extension/vscode/restart-policy';
import { DEFAULT_SETTINGS, type Settings } from '../../extension/vscode/settings';
import { describeCrash, Supervisor, type Crash } from '../../extension/vscode/supervisor';
import { REPO_ROOT } from '../helpers/cli';
import { makeRepo } from '../helpers/repo';
import { modelDir } from '../helpers/fixtures';

const ENGINE = join(REPO_ROOT, 'dist', 'engine.js');
const roots: string[] = [];

/** A throwaway workspace, removed after the suite. */
function workspace(files: Record<string, string>): string {
  const root = makeRepo(files, 'hipcode-sup-');
  roots.push(root);
  return root;
}

interface Harness {
  supervisor: Supervisor;
  phases: EngineState['phase'][];
  crashes: Crash[];
  log: string[];
}

function harness(settings: Partial<Settings>, root: string, policy?: RestartPolicy): Harness {
  const log: string[] = [];
  const supervisor = new Supervisor({
    script: ENGINE,
    log: (line) => log.push(line),
    policy,
    healthIntervalMs: 150,
    healthTimeoutMs: 250,
  });
  const phases: EngineState['phase'][] = [];
  const crashes: Crash[] = [];
  // Phases as they change (a state update within a phase is not a new phase).
  supervisor.onState.add((state) => {
    if (phases.at(-1) !== state.phase) phases.push(state.phase);
  });
  supervisor.onCrash.add((crash) => crashes.push(crash));
  supervisor.configure({
    settings: { ...DEFAULT_SETTINGS, modelPath: modelDir('qwen3'), backend: 'cpu', threads: 2, ...settings },
    roots: [root],
    buffers: () => ({}),
  });
  return { supervisor, phases, crashes, log };
}

/** Resolves once `supervisor` reaches `phase` (or rejects after `ms`). */
function reach(supervisor: Supervisor, phase: EngineState['phase'], ms = 20_000): Promise<EngineState> {
  if (supervisor.state.phase === phase) return Promise.resolve(supervisor.state);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      remove();
      reject(new Error(`no '${phase}' within ${ms} ms (now '${supervisor.state.phase}')`));
    }, ms);
    const remove = supervisor.onState.add((state) => {
      if (state.phase !== phase) return;
      clearTimeout(timer);
      remove();
      resolve(state);
    });
  });
}

const fastPolicy = (): RestartPolicy =>
  new RestartPolicy({ initialDelayMs: 50, maxDelayMs: 200, maxCrashes: 3, windowMs: 60_000 });

describe('engine supervisor (real engine process)', function () {
  this.timeout(60_000);
  const running: Supervisor[] = [];
  const track = (h: Harness): Harness => (running.push(h.supervisor), h);

  afterEach(async () => {
    await Promise.all(running.splice(0).map((supervisor) => supervisor.stop()));
  });
  after(() => roots.forEach((root) => rmSync(root, { recursive: true, force: true })));

  it('starts, ingests the workspace, streams an answer and stops cleanly', async () => {
    const root = workspace({ 'a.py': 'a=1\n' });
    const h = track(harness({}, root));
    await h.supervisor.start();
    assert.deepEqual(h.phases, ['stopped', 'starting', 'ready', 'ingesting', 'ready']);
    const report = h.supervisor.lastReport;
    assert.deepEqual(
      report?.included.map((file) => file.path),
      ['a.py'],
    );
    assert.equal(h.supervisor.state.contextTokens, report?.totals.tokens);
    const deltas: string[] = [];
    const result = await h.supervisor.ask(
      { question: 'What is a?', maxTokens: 12 },
      (text) => deltas.push(text),
      new AbortController().signal,
    );
    assert.ok(deltas.length > 0);
    assert.equal(deltas.join(''), result.answer);
    assert.equal(result.usage.contextTokens, report?.totals.tokens);
    await h.supervisor.stop();
    assert.equal(h.supervisor.state.phase, 'stopped');
    assert.deepEqual(h.crashes, [], 'a requested stop is no crash');
  });

  it('sends file changes to the engine and reports the updated context', async () => {
    const root = workspace({ 'a.py': 'a=1\n' });
    const h = track(harness({}, root));
    await h.supervisor.start();
    const before = h.supervisor.lastReport!.totals.tokens;
    const reports: number[] = [];
    h.supervisor.onReport.add((report) => reports.push(report.totals.tokens));
    h.supervisor.notifyChanges({ buffers: { [join(root, 'a.py')]: 'a=1\nb=2\n' } });
    const deadline = Date.now() + 10_000;
    while (reports.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(reports[0] > before, `the context went from ${before} to ${reports[0]} tokens`);
    assert.equal(h.supervisor.state.contextTokens, reports[0]);
  });

  it('restarts a crashed engine after the backoff delay, with the reason', async () => {
    const root = workspace({ 'a.py': 'print(1)\n' });
    const h = track(harness({ autoIngest: false }, root, fastPolicy()));
    await h.supervisor.start();
    const firstPid = h.supervisor.pid;
    process.kill(firstPid!, 'SIGTERM');
    await reach(h.supervisor, 'crashed');
    assert.equal(h.crashes.length, 1);
    assert.match(h.crashes[0].message, /stopped \(signal SIGTERM\)/);
    assert.equal(h.crashes[0].restartInMs, 50);
    await reach(h.supervisor, 'ready');
    assert.notEqual(h.supervisor.pid, firstPid);
  });

  it('kills and restarts an engine that stops answering its health checks', async () => {
    const root = workspace({ 'a.py': 'print(1)\n' });
    const h = track(harness({ autoIngest: false }, root, fastPolicy()));
    await h.supervisor.start();
    const pid = h.supervisor.pid!;
    process.kill(pid, 'SIGSTOP');
    await reach(h.supervisor, 'crashed', 10_000);
    assert.match(h.crashes[0].message, /stopped answering its health checks/);
    assert.ok(h.log.some((line) => line.includes('health check failed (2)')));
    await reach(h.supervisor, 'ready');
    assert.notEqual(h.supervisor.pid, pid);
  });

  it('gives up after repeated crashes until the user restarts', async () => {
    const root = workspace({ 'a.py': 'print(1)\n' });
    const h = track(harness({ autoIngest: false }, root, fastPolicy()));
    await h.supervisor.start();
    for (let crash = 1; crash <= 3; crash++) {
      await reach(h.supervisor, 'ready');
      process.kill(h.supervisor.pid!, 'SIGTERM');
      await reach(h.supervisor, 'crashed');
    }
    assert.deepEqual(
      h.crashes.map((crash) => crash.restartInMs),
      [50, 100, undefined],
    );
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal(h.supervisor.state.phase, 'crashed', 'no automatic restart after the third crash');
    await h.supervisor.restart();
    assert.equal(h.supervisor.state.phase, 'ready');
  });

  it('refuses an ask or an ingest without an engine, saying what it is doing', async () => {
    const h = track(harness({}, workspace({ 'a.py': 'a=1\n' })));
    const signal = new AbortController().signal;
    await assert.rejects(
      h.supervisor.ask({ question: 'a?' }, () => {}, signal),
      {
        code: 'E_NOT_READY',
        message: 'cannot answer: the engine is stopped',
      },
    );
    await assert.rejects(h.supervisor.sync(), {
      code: 'E_NOT_READY',
      message: 'cannot ingest the workspace: the engine is stopped',
    });
  });

  it('reports a model that does not load without a crash loop', async () => {
    const root = workspace({ 'a.py': 'print(1)\n' });
    const missing = join(root, 'no-such-model');
    const h = track(harness({ modelPath: missing }, root, fastPolicy()));
    await h.supervisor.start();
    assert.equal(h.supervisor.state.phase, 'noModel');
    assert.match(h.supervisor.state.message ?? '', /could not be loaded \[E_MODEL_NOT_FOUND\]/);
    assert.ok(h.supervisor.state.message?.includes(missing));
    assert.equal(h.supervisor.pid, undefined, 'the engine process is stopped');
  });

  it('classifies crashes: out-of-memory lines, SIGKILL, and the last error line', () => {
    const base = { code: 1, signal: null, expected: false };
    const oom = describeCrash({
      ...base,
      logTail: ['[info] x', '[error] ask: [E_OUT_OF_MEMORY] cudaMalloc failed'],
    });
    assert.equal(oom.outOfMemory, true);
    assert.match(
      oom.message,
      /ran out of memory .*E_OUT_OF_MEMORY.*Lower hipcode.gpuKvBudget, hipcode.hostKvBudget/,
    );
    const killed = describeCrash({ ...base, code: null, signal: 'SIGKILL', logTail: [] });
    assert.equal(killed.outOfMemory, true);
    assert.match(killed.message, /killed \(SIGKILL\)/);
    const plain = describeCrash({ ...base, logTail: ['[error] uncaught: boom', '[info] bye'] });
    assert.deepEqual(plain, {
      outOfMemory: false,
      message: 'The HiPCode engine stopped (exit code 1): [error] uncaught: boom',
    });
  });
});
