// The fixture models on the CUDA backend against transformers (bf16 tolerance); skipped with a note without a GPU.
import assert from 'node:assert/strict';
import { loadAddon } from '../../extension/engine/native';
import { cudaTolerance, measureFixture } from '../helpers/backend-fixtures';
import { fixtureNames } from '../helpers/fixtures';

describe('fixture models match transformers on the CUDA backend', function () {
  const cuda = loadAddon().probe().cuda;
  before(function () {
    if (!cuda.available) {
      console.log(`    note: CUDA tests skipped: ${cuda.reason ?? 'no usable GPU'}`);
      this.skip();
    }
  });

  for (const name of fixtureNames()) {
    it(`${name}: logits within the bf16 tolerance`, () => {
      const result = measureFixture(name, 'cuda');
      const limit = cudaTolerance(name);
      assert.ok(
        result.logitsRelativeL2 <= limit,
        `relative L2 ${result.logitsRelativeL2.toExponential(2)} > ${limit.toExponential(2)}`,
      );
    });
  }
});
