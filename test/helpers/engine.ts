// Spawns the engine process (dist/engine.js) and drives it with vscode-jsonrpc's client side, as the extension does.
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ResponseError, type MessageConnection } from 'vscode-jsonrpc/node';
import {
  AnswerDeltaNotification,
  ContextChangedNotification,
  InitializeRequest,
  ProgressNotification,
  type AnswerDeltaParams,
  type ContextChangedParams,
  type EngineErrorData,
  type ProgressParams,
} from '../../extension/engine/protocol';
import { stdioConnection } from '../../extension/engine/stdio-connection';
import { REPO_ROOT } from './cli';
import { modelDir } from './fixtures';

export const MODEL = modelDir('qwen3');
export const ENGINE = join(REPO_ROOT, 'dist', 'engine.js');

export interface EngineProcess {
  child: ChildProcessWithoutNullStreams;
  connection: MessageConnection;
  progress: ProgressParams[];
  deltas: AnswerDeltaParams[];
  contextChanges: ContextChangedParams[];
  stderr: () => string;
  exited: Promise<number | null>;
}

/**
 * Spawns the engine with `env` added to its environment. Its KV snapshots go to `snapshotDir` (share one folder
 * between engines to test restores), by default a fresh folder of its own, removed by stopEngine.
 */
export function startEngine(snapshotDir?: string, env: NodeJS.ProcessEnv = {}): EngineProcess {
  const ownSnapshots = snapshotDir === undefined;
  const snapshots = snapshotDir ?? mkdtempSync(join(tmpdir(), 'hipcode-snapshots-'));
  const child = spawn(process.execPath, [ENGINE], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, HIPCODE_SNAPSHOT_DIR: snapshots, ...env },
  });
  if (ownSnapshots) child.on('exit', () => rmSync(snapshots, { recursive: true, force: true }));
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const connection = stdioConnection(child.stdout, child.stdin);
  const progress: ProgressParams[] = [];
  const deltas: AnswerDeltaParams[] = [];
  const contextChanges: ContextChangedParams[] = [];
  connection.onNotification(ProgressNotification, (p) => progress.push(p));
  connection.onNotification(AnswerDeltaNotification, (p) => deltas.push(p));
  connection.onNotification(ContextChangedNotification, (p) => contextChanges.push(p));
  // vscode-jsonrpc rejects pending requests only when the connection is disposed.
  connection.onClose(() => connection.dispose());
  connection.onError(() => undefined);
  connection.listen();
  return { child, connection, progress, deltas, contextChanges, stderr: () => stderr, exited };
}

export function stopEngine(engine: EngineProcess): void {
  engine.connection.dispose();
  if (engine.child.exitCode === null) engine.child.kill('SIGKILL');
}

export async function initialize(engine: EngineProcess, model = MODEL) {
  return engine.connection.sendRequest(InitializeRequest, { modelDir: model, backend: 'cpu', threads: 2 });
}

export async function rejection(promise: Promise<unknown>): Promise<ResponseError<EngineErrorData>> {
  try {
    await promise;
  } catch (error) {
    return error as ResponseError<EngineErrorData>;
  }
  assert.fail('the request succeeded');
}

/** A copy of a fixture model with a longer context (max_position_embeddings), in a fresh temporary folder. */
export function longContextModel(contextLength: number, name = 'qwen3'): string {
  const dir = mkdtempSync(join(tmpdir(), 'hipcode-model-'));
  cpSync(modelDir(name), dir, { recursive: true });
  const configPath = join(dir, 'config.json');
  const config = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
  writeFileSync(configPath, JSON.stringify({ ...config, max_position_embeddings: contextLength }));
  return dir;
}

/** Resolves once `condition` holds (polled every 10 ms); fails after `timeoutMs`. */
export async function waitUntil(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
