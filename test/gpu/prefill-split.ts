// GPU-machine check (plain Node, no test runner): the engine's cached, chunked prefill relies on a prompt prefilled
// in two parts giving the last position's logits of one pass. For every fixture model on argv[2] (cpu or cuda),
// 150 ids split at several points are compared with one pass; writes JSON to argv[3]; exits 1 on a difference.
// Bundle: npx esbuild test/gpu/prefill-split.ts --bundle --platform=node --outfile=.device/gpu/prefill-split.js
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModelFiles, readModelFiles } from '../../extension/engine/model/load';
import { fixtureNames, modelDir, relativeL2 } from '../helpers/fixtures';

const SPLITS = [1, 64, 100, 137, 149];
/** Relative L2 allowed between split and one-pass logits (the backends are row-independent: 0 is expected). */
const TOLERANCE = 1e-6;

const argmax = (a: Float32Array): number => a.reduce((best, v, i) => (v > a[best] ? i : best), 0);

async function check(
  name: string,
  backend: 'cpu' | 'cuda',
): Promise<{ model: string; worst: number; top1: boolean }> {
  const model = await loadModelFiles(readModelFiles(modelDir(name)), {
    backend,
    tokenizer: false,
    log: () => {},
  });
  try {
    const vocab = model.config.vocabSize;
    const ids = Int32Array.from({ length: 150 }, (_, i) => (i * 37 + 11) % vocab);
    const capacity = Math.min(model.config.maxPositionEmbeddings, 200);
    const prefill = async (parts: Int32Array[]): Promise<Float32Array> => {
      const session = model.native.createSession({ maxTokens: capacity, seed: 0 });
      try {
        for (const part of parts.slice(0, -1)) await session.forward(part, 'none');
        return await session.forward(parts.at(-1)!, 'last');
      } finally {
        session.dispose();
      }
    };
    const one = await prefill([ids]);
    let worst = 0;
    let top1 = true;
    for (const k of SPLITS) {
      const split = await prefill([ids.subarray(0, k), ids.subarray(k)]);
      worst = Math.max(worst, relativeL2(split, one));
      top1 &&= argmax(split) === argmax(one);
    }
    return { model: name, worst, top1 };
  } finally {
    model.native.dispose();
  }
}

void (async () => {
  const backend = process.argv[2] === 'cuda' ? 'cuda' : 'cpu';
  const results = [];
  for (const name of fixtureNames()) {
    const config = JSON.parse(readFileSync(join(modelDir(name), 'config.json'), 'utf8'));
    const maxPositions: number = config.max_position_embeddings;
    if (maxPositions < 150) continue;
    const result = await check(name, backend);
    results.push(result);
    console.log(
      `${name.padEnd(16)} ${backend}: worst rel L2 ${result.worst.toExponential(2)}, top-1 ${result.top1}`,
    );
  }
  if (process.argv[3]) writeFileSync(process.argv[3], `${JSON.stringify({ backend, results }, null, 2)}\n`);
  const failed = results.filter((r) => !(r.worst <= TOLERANCE) || !r.top1);
  console.log(`${results.length - failed.length} passed, ${failed.length} failed`);
  process.exit(failed.length === 0 ? 0 : 1);
})();
