// `hipcode inspect`: prints the parsed config, the memory the model needs and the backend probe.
import { toHipError } from '../errors';
import { describeModel, type ModelDescription } from '../model/describe';
import { loadAddon, type BackendProbe } from '../native';
import { parseFlags, requireString } from './args';
import { writeJson, writeOut } from './output';

type ProbeResult = BackendProbe | { error: string };

function probeBackends(): ProbeResult {
  try {
    return loadAddon().probe();
  } catch (error) {
    const e = toHipError(error);
    return { error: `[${e.code}] ${e.message}` };
  }
}

function size(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  const exp = Math.min(units.length - 1, Math.floor(Math.log2(Math.max(bytes, 1)) / 10));
  return `${(bytes / 2 ** (10 * exp)).toFixed(exp === 0 ? 0 : 2)} ${units[exp]}`;
}

function describeProbe(probe: ProbeResult): string[] {
  if ('error' in probe) return [`backends        addon not loaded: ${probe.error}`];
  const cuda = probe.cuda;
  const gpus = cuda.devices.map(
    (d) => `${d.index}: ${d.name} (sm ${d.computeCapability}, ${size(d.totalMemory)})`,
  );
  return [
    `cpu threads     ${probe.cpu.threads}`,
    `cuda            ${cuda.available ? 'available' : `unavailable (${cuda.reason ?? (cuda.compiled ? 'no GPU' : 'not compiled')})`}`,
    ...gpus.map((line) => `  gpu ${line}`),
  ];
}

function table(d: ModelDescription, probe: ProbeResult): string {
  const c = d.config;
  const rows = [
    `model           ${d.dir}`,
    `architecture    ${c.architecture}`,
    `layers          ${c.numLayers}`,
    `hidden          ${c.hiddenSize} (intermediate ${c.intermediateSize})`,
    `heads           ${c.numHeads} query, ${c.numKvHeads} kv, head_dim ${c.headDim}`,
    `vocab           ${c.vocabSize}${c.tieWordEmbeddings ? ' (tied embeddings)' : ''}`,
    `context         ${c.maxPositionEmbeddings}${c.slidingWindow ? `, sliding window ${c.slidingWindow}` : ''}`,
    `rope            ${c.rope.type}, theta ${c.rope.theta}${c.rope.type === 'default' ? '' : `, factor ${c.rope.factor}`}`,
    `dtype           ${c.dtype ?? 'unspecified'}`,
    `weights         ${size(d.weights.totalBytes)} in ${d.weights.tensors} tensors, ${d.files.length} file(s)`,
    `kv per token    ${d.kvCache.bytesPerTokenF32} B f32, ${d.kvCache.bytesPerTokenBf16} B bf16`,
    `kv at max ctx   ${size(d.kvCache.bytesAtMaxPositionsF32)} f32, ${size(d.kvCache.bytesAtMaxPositionsBf16)} bf16`,
    ...describeProbe(probe),
  ];
  return `${rows.join('\n')}\n`;
}

export async function inspectCommand(args: string[]): Promise<void> {
  const values = parseFlags('inspect', args, { model: { type: 'string' }, json: { type: 'boolean' } });
  const description = describeModel(requireString(values, 'model'));
  const probe = probeBackends();
  if (values.json) return writeJson({ ...description, backends: probe });
  await writeOut(table(description, probe));
}
