// `hipcode bench`: prefill and decode speed of a synthetic model of a named geometry (random weights made on the
// backend, no files), and optionally an edit's and a snapshot's cost at the context; prints a table and, with
// --out, writes the result as JSON.
import { statSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { BENCH_GEOMETRIES } from '../bench/geometries';
import { runBench, type BenchResult } from '../bench/run';
import { loadAddon, type BackendName } from '../native';
import { HipError } from '../errors';
import {
  attentionFlag,
  hipSpecFromEnv,
  intFlag,
  kvDtypeFlag,
  optionalSizeFlag,
  optionalString,
  parseFlags,
  sizeFlag,
  usage,
} from './args';
import { writeOut } from './output';

const OPTIONS = {
  geometry: { type: 'string' },
  backend: { type: 'string' },
  device: { type: 'string' },
  threads: { type: 'string' },
  'gpu-kv-budget': { type: 'string' },
  'host-kv-budget': { type: 'string' },
  'kv-dtype': { type: 'string' },
  question: { type: 'string' },
  prefill: { type: 'string' },
  context: { type: 'string' },
  'decode-steps': { type: 'string' },
  repeats: { type: 'string' },
  seed: { type: 'string' },
  attention: { type: 'string' },
  'fidelity-steps': { type: 'string' },
  edit: { type: 'string' },
  'snapshot-dir': { type: 'string' },
  out: { type: 'string' },
} as const;

function geometryFlag(value: string | undefined): string {
  const name = value ?? 'qwen2.5-7b';
  if (!Object.hasOwn(BENCH_GEOMETRIES, name)) {
    throw usage(`--geometry expects one of ${Object.keys(BENCH_GEOMETRIES).join(', ')}, got '${name}'`);
  }
  return name;
}

/** auto = CUDA when the probe finds a usable GPU, else the CPU. */
function benchBackend(value: string | undefined): BackendName {
  const choice = value ?? 'auto';
  if (choice === 'cpu') return 'cpu';
  const cuda = loadAddon().probe().cuda;
  if (choice === 'cuda' && !cuda.available) {
    throw new HipError('E_BACKEND_UNAVAILABLE', `the CUDA backend is not available: ${cuda.reason}`);
  }
  if (choice === 'cuda' || choice === 'auto') return cuda.available ? 'cuda' : 'cpu';
  throw usage(`--backend expects cpu, cuda or auto, got '${choice}'`);
}

/** --snapshot-dir: an existing folder (the snapshot file is written there and deleted). */
function snapshotDirFlag(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const folder = statSync(value, { throwIfNoEntry: false })?.isDirectory() ?? false;
  if (!folder) throw usage(`--snapshot-dir expects an existing folder, got '${value}'`);
  return resolve(value);
}

function formatTable(result: BenchResult): string {
  const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;
  const rows = [
    ['device', `${result.device} (${result.backend})`],
    ['geometry', `${result.geometry}, ${(result.params / 1e9).toFixed(2)}B parameters, random weights`],
    ['attention', result.attention],
    ['kv cache', `${result.kvDtype} rows`],
    ['setup', `${result.setupSeconds.toFixed(1)} s`],
  ];
  if (result.prefill) {
    const { tokens, ms, tokensPerSecond } = result.prefill;
    rows.push(['prefill', `${tokens} tokens in ${ms.toFixed(1)} ms: ${tokensPerSecond.toFixed(0)} tokens/s`]);
  }
  if (result.ingest) {
    const { tokens, seconds, tokensPerSecond } = result.ingest;
    rows.push([
      'context',
      `${tokens} tokens in ${seconds.toFixed(2)} s: ${tokensPerSecond.toFixed(0)} tokens/s`,
    ]);
  }
  if (result.decode) {
    const { context, msPerToken, msMean, p10, p90 } = result.decode;
    rows.push([
      'decode',
      `${msPerToken.toFixed(2)} ms/token at ${context} tokens of context (mean ${msMean.toFixed(2)}, p10 ${p10.toFixed(2)}, p90 ${p90.toFixed(2)})`,
    ]);
  }
  if (result.fidelity) {
    const { steps, maxRelL2, meanRelL2, top1Agreement } = result.fidelity;
    rows.push([
      'fidelity',
      `vs dense attention and the backend's own KV rows: logits rel L2 mean ${meanRelL2.toFixed(4)}, max ${maxRelL2.toFixed(4)}; greedy top-1 ${top1Agreement}/${steps}`,
    ]);
  }
  if (result.question) {
    const { tokens, seconds } = result.question;
    rows.push([
      'question',
      `${tokens} tokens in a fork of the context and a first token: ${seconds.toFixed(2)} s`,
    ]);
  }
  if (result.edit) {
    const { tokens, seconds } = result.edit;
    rows.push(['edit', `the context's last ${tokens} tokens again and a token: ${seconds.toFixed(2)} s`]);
  }
  if (result.snapshot) {
    const { tokens, bytes, saveSeconds, loadSeconds, readySeconds } = result.snapshot;
    const rate = (seconds: number) => `${(bytes / seconds / 1e9).toFixed(2)} GB/s`;
    rows.push([
      'snapshot',
      `${tokens} tokens, ${gib(bytes)}: saved in ${saveSeconds.toFixed(2)} s (${rate(saveSeconds)}), loaded in ` +
        `${loadSeconds.toFixed(2)} s (${rate(loadSeconds)}), first token after ${readySeconds.toFixed(2)} s`,
    ]);
  }
  const { gpuBytes, hostBytes } = result.kvMemory;
  const host = result.backend === 'cuda' ? 'pinned host' : 'host';
  rows.push(['kv memory', `${gib(gpuBytes)} GPU + ${gib(hostBytes)} ${host}`]);
  if (result.gpuMemoryUsedBytes !== null)
    rows.push(['gpu memory', `${gib(result.gpuMemoryUsedBytes)} in use at most`]);
  rows.push(['host memory', `${gib(result.peakHostMemoryBytes)} peak resident`]);
  return rows.map(([key, value]) => `${key.padEnd(11)} ${value}`).join('\n') + '\n';
}

export async function benchCommand(args: string[]): Promise<void> {
  const values = parseFlags('bench', args, OPTIONS);
  const result = await runBench({
    geometry: geometryFlag(optionalString(values, 'geometry')),
    backend: benchBackend(optionalString(values, 'backend')),
    device: intFlag(values, 'device', 0),
    threads: intFlag(values, 'threads', 0),
    gpuKvBudget: sizeFlag(values, 'gpu-kv-budget'),
    hostKvBudget: optionalSizeFlag(values, 'host-kv-budget'),
    kvDtype: kvDtypeFlag(values),
    prefillTokens: intFlag(values, 'prefill', 4096),
    contextTokens: intFlag(values, 'context', 8192, 1),
    decodeSteps: intFlag(values, 'decode-steps', 64),
    repeats: intFlag(values, 'repeats', 3, 1),
    seed: intFlag(values, 'seed', 0),
    attention: attentionFlag(values),
    hip: hipSpecFromEnv(),
    fidelitySteps: intFlag(values, 'fidelity-steps', 0),
    editTokens: intFlag(values, 'edit', 0),
    questionTokens: intFlag(values, 'question', 0),
    snapshotDir: snapshotDirFlag(optionalString(values, 'snapshot-dir')),
  });
  await writeOut(formatTable(result));
  const out = optionalString(values, 'out');
  if (out) writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
}
