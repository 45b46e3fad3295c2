// Runs the native unit tests (build/Release/hipcode-native-tests: kernels against hand-computed and
// double-precision references) as part of the mocha suite.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/cli';

describe('native unit tests', () => {
  it('all pass', function () {
    this.timeout(300_000);
    const binary = join(REPO_ROOT, 'build', 'Release', 'hipcode-native-tests');
    const result = spawnSync(binary, [], { encoding: 'utf8' });
    assert.ifError(result.error);
    const summary = /^(\d+) passed, (\d+) failed$/m.exec(result.stdout);
    assert.ok(summary, `no summary line in:\n${result.stdout}\n${result.stderr}`);
    assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
    assert.equal(summary[2], '0');
    assert.ok(Number(summary[1]) >= 20, `only ${summary[1]} native tests ran`);
  });
});
