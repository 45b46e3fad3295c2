// Workspace scan speed: 20K small files (200 folders of 100) must be scanned in at most 5 s.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scanWorkspace } from '../../extension/engine/workspace';

const FOLDERS = 200;
const FILES_PER_FOLDER = 100;
const LIMIT_MS = 5000;

describe('workspace scan speed', () => {
  let root = '';

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'hipcode-ws-perf-'));
    writeFileSync(join(root, '.gitignore'), '*.log\n');
    for (let d = 0; d < FOLDERS; d++) {
      const dir = join(root, `pkg${d}`, 'src');
      mkdirSync(dir, { recursive: true });
      for (let f = 0; f < FILES_PER_FOLDER; f++) {
        writeFileSync(join(dir, `file${f}.ts`), `export const value${f} = ${d * FILES_PER_FOLDER + f};\n`);
      }
    }
  });

  after(() => rmSync(root, { recursive: true, force: true }));

  it(`scans ${FOLDERS * FILES_PER_FOLDER} small files in <= ${LIMIT_MS} ms`, async function () {
    this.timeout(60_000);
    const start = performance.now();
    const result = await scanWorkspace({ roots: [root] });
    const ms = performance.now() - start;
    assert.equal(result.files.length, FOLDERS * FILES_PER_FOLDER + 1);
    assert.deepEqual(result.excluded, []);
    process.stderr.write(`      scanned ${result.files.length} files in ${ms.toFixed(0)} ms\n`);
    assert.ok(ms <= LIMIT_MS, `scan took ${ms.toFixed(0)} ms, over ${LIMIT_MS} ms`);
  });
});
