// GPU-machine check (plain Node, no test runner): every fixture model on the CUDA backend against transformers.
// Bundle and run: see test/gpu/README.md. Prints a table, writes JSON to argv[2], exits 1 past the tolerance.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { measureAllFixtures, type FixtureResult } from '../helpers/backend-fixtures';
import { FIXTURES } from '../helpers/fixtures';

// bf16 rounding is amplified by the fixtures' large random weights: transformers itself, run in bf16, is 2.3e-2
// to 4.9e-2 off its float32 logits (test/fixtures/bf16-floor.json, made by bf16-floor.py). A model passes at
// 2e-2, or within 25% of transformers' own bf16 error on it.
const CUDA_TOLERANCE = 2e-2;
const FLOOR_MARGIN = 1.25;

const floor = new Map(
  (JSON.parse(readFileSync(join(FIXTURES, 'bf16-floor.json'), 'utf8')) as FixtureResult[]).map((r) => [
    r.model,
    r.logitsRelativeL2,
  ]),
);

function tolerance(model: string): number {
  return Math.max(CUDA_TOLERANCE, FLOOR_MARGIN * (floor.get(model) ?? 0));
}

const results = measureAllFixtures('cuda');
for (const r of results) {
  console.log(
    `${r.model.padEnd(16)} logits rel L2 ${r.logitsRelativeL2.toExponential(2)} ` +
      `(transformers bf16 ${floor.get(r.model)?.toExponential(2)}, limit ${tolerance(r.model).toExponential(2)})  ` +
      `greedy ${r.greedyAgreement}/${r.greedyLength}`,
  );
}
if (process.argv[2]) writeFileSync(process.argv[2], `${JSON.stringify(results, null, 2)}\n`);
const failed = results.filter((r) => !(r.logitsRelativeL2 <= tolerance(r.model)));
console.log(`${results.length - failed.length} passed, ${failed.length} failed`);
process.exit(failed.length === 0 ? 0 : 1);
