// Runs the bundled `hipcode` CLI (dist/hipcode.js) as a child process, as a user or a checker would.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const REPO_ROOT = join(__dirname, '..', '..');
export const CLI = join(REPO_ROOT, 'dist', 'hipcode.js');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], timeoutMs = 60_000): CliResult {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run 'npm run build' first`);
  const result = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 256 * 1024 * 1024,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Runs the CLI, requires exit code 0 and parses stdout as one JSON value. */
export function runCliJson<T>(args: string[]): T {
  const result = runCli(args);
  if (result.status !== 0) {
    throw new Error(`hipcode ${args.join(' ')} exited with ${result.status}:\n${result.stderr}`);
  }
  return JSON.parse(result.stdout) as T;
}
