// GPU-machine check (plain Node, no test runner): every fixture model on the CUDA backend against transformers.
// Bundle and run: see test/gpu/README.md. Prints a table, writes JSON to argv[2], exits 1 past the tolerance.
import { writeFileSync } from 'node:fs';
import { bf16Floor, cudaTolerance, measureAllFixtures } from '../helpers/backend-fixtures';

const results = measureAllFixtures('cuda');
for (const r of results) {
  console.log(
    `${r.model.padEnd(16)} logits rel L2 ${r.logitsRelativeL2.toExponential(2)} ` +
      `(transformers bf16 ${bf16Floor(r.model).toExponential(2)}, limit ${cudaTolerance(r.model).toExponential(2)})  ` +
      `greedy ${r.greedyAgreement}/${r.greedyLength}`,
  );
}
if (process.argv[2]) writeFileSync(process.argv[2], `${JSON.stringify(results, null, 2)}\n`);
const failed = results.filter((r) => !(r.logitsRelativeL2 <= cudaTolerance(r.model)));
console.log(`${results.length - failed.length} passed, ${failed.length} failed`);
process.exit(failed.length === 0 ? 0 : 1);
