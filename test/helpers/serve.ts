// Runs `hipcode serve` (dist/hipcode.js) as a child process and talks HTTP to it with node:http, headers and all.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { CLI } from './cli';

export interface Served {
  child: ChildProcessWithoutNullStreams;
  /** The base URL the server printed, e.g. http://127.0.0.1:41234/v1 */
  url: string;
  stderr: () => string;
  exited: Promise<number | null>;
}

const LISTENING = /listening on (http:\/\/\S+)/;

/** Starts `hipcode serve --port 0 --backend cpu ARGS` and resolves once it prints the URL it listens on. */
export function startServe(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Served> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--backend', 'cpu', ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env,
  });
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = LISTENING.exec(stderr);
      if (match) resolve({ child, url: match[1], stderr: () => stderr, exited });
    });
    void exited.then((code) =>
      reject(new Error(`hipcode serve exited with ${code} before listening:\n${stderr}`)),
    );
  });
}

export async function stopServe(served: Served | undefined): Promise<void> {
  if (!served || served.child.exitCode !== null) return;
  served.child.kill('SIGKILL');
  await served.exited;
}

export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The body parsed as JSON (undefined when it is not JSON). */
  json: unknown;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  /** A string or Buffer is sent as is; anything else as JSON with Content-Type: application/json. */
  body?: unknown;
  signal?: AbortSignal;
}

function encodeBody(options: RequestOptions): { body?: Buffer; headers: Record<string, string> } {
  if (options.body === undefined) return { headers: options.headers ?? {} };
  if (typeof options.body === 'string' || Buffer.isBuffer(options.body)) {
    return { body: Buffer.from(options.body), headers: options.headers ?? {} };
  }
  const headers = { 'Content-Type': 'application/json', ...options.headers };
  return { body: Buffer.from(JSON.stringify(options.body)), headers };
}

/** One HTTP request to `url` (base + path); resolves with the whole response. */
export function request(url: string, options: RequestOptions = {}): Promise<HttpResult> {
  const { body, headers } = encodeBody(options);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: options.method ?? 'GET', headers, signal: options.signal },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The `data:` payloads of an event stream, in order. */
export function sseData(text: string): string[] {
  return text
    .split('\n\n')
    .filter((event) => event.startsWith('data: '))
    .map((event) => event.slice('data: '.length));
}
