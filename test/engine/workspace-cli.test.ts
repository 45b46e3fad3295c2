// `hipcode context` through the bundled CLI on a fixture model: included files with tokens, excluded with reasons.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { loadTokenizer } from '../../extension/engine/text/tokenizer';
import type { ContextReport as Report } from '../../extension/engine/cli/context';
import { fileBlock } from '../../extension/engine/workspace';
import { CLI, runCli, runCliJson, type CliResult } from '../helpers/cli';
import { modelDir } from '../helpers/fixtures';

const MODEL = modelDir('qwen3');
const FILES: Record<string, string | Buffer> = {
  '.gitignore': 'secret.env\n',
  'secret.env': 'TOKEN=1\n',
  'a.ts': 'let a = 1;\n',
  'b.md': '# B\n',
  'big.py': 'print("hello world")\n'.repeat(40),
  'node_modules/dep/index.js': 'module.exports = 1;\n',
  'logo.bin': Buffer.from([1, 2, 0, 3]),
  'yarn.lock': '# lock\n',
};
const MTIMES: Record<string, number> = { '.gitignore': 100, 'a.ts': 200, 'big.py': 300, 'b.md': 400 };

function runAsNobody(args: string[]): CliResult {
  const result = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, CLI, ...args], {
    encoding: 'utf8',
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Whether `runuser -u nobody` works here and that user can reach the CLI and the fixture model. */
function canRunAsNobody(): boolean {
  const probe = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, CLI, 'help'], {
    encoding: 'utf8',
  });
  return probe.status === 0;
}

describe('hipcode context', () => {
  let root = '';
  const tokenizer = loadTokenizer(MODEL);
  const tokens = (path: string, language: string) =>
    tokenizer.encode(fileBlock(path, language, FILES[path] as string), { addSpecialTokens: false }).length;

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'hipcode-ws-cli-'));
    for (const [path, content] of Object.entries(FILES)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), content);
    }
    for (const [path, seconds] of Object.entries(MTIMES)) utimesSync(join(root, path), seconds, seconds);
    symlinkSync('missing', join(root, 'dangling'));
  });

  after(() => rmSync(root, { recursive: true, force: true }));

  it('reports every included file with tokens and every excluded file with its reason (--json)', () => {
    const report = runCliJson<Report>(['context', '--model', MODEL, '--workspace', root, '--json']);
    const small = [
      ['.gitignore', 'ignore'],
      ['a.ts', 'typescript'],
      ['b.md', 'markdown'],
    ].map(([path, language]) => ({
      path,
      language,
      bytes: Buffer.byteLength(FILES[path]),
      tokens: tokens(path, language),
    }));
    const used = small.reduce((sum, file) => sum + file.tokens, 0);
    const bigTokens = tokens('big.py', 'python');
    assert.ok(bigTokens > 256 - used, 'big.py must not fit the 256-token context of the fixture');
    assert.equal(report.modelContext, 256);
    assert.equal(report.budget, 256);
    assert.deepEqual(report.included, small);
    const beforeBig = small[0].tokens + small[1].tokens;
    assert.deepEqual(report.excluded, [
      {
        path: 'dangling',
        kind: 'file',
        code: 'unreadable',
        reason: 'unreadable: dangling symlink or vanished (ENOENT)',
      },
      { path: 'logo.bin', kind: 'file', code: 'binary', reason: 'binary (NUL byte in the first 8 KiB)' },
      {
        path: 'node_modules',
        kind: 'folder',
        code: 'default',
        reason: 'default exclude: dependency or cache folder',
      },
      { path: 'secret.env', kind: 'file', code: 'gitignore', reason: 'ignored by .gitignore' },
      { path: 'yarn.lock', kind: 'file', code: 'default', reason: 'default exclude: lockfile' },
      {
        path: 'big.py',
        kind: 'file',
        code: 'budget',
        reason: `over the token budget: needs ${bigTokens} tokens, ${256 - beforeBig} left`,
      },
    ]);
    assert.deepEqual(report.totals, { files: 3, tokens: used, budget: 256, excluded: 6 });
  });

  it('prints a readable table with the same content', () => {
    const result = runCli(['context', '--model', MODEL, '--workspace', root, '--max-tokens', '10000']);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /Included \(3 files, in context order\):/);
    assert.match(result.stdout, /\n\s+\d+ {2}typescript {2}a\.ts\n/);
    assert.match(result.stdout, /\n {2}node_modules\/ +default exclude: dependency or cache folder\n/);
    assert.match(result.stdout, /\n {2}big\.py +over the token budget: needs \d+ tokens, \d+ left\n/);
    assert.match(result.stdout, /of a 256-token budget \(model context 256\); 6 excluded\n$/);
  });

  it('honours --exclude, --include and --max-tokens', () => {
    const args = ['context', '--model', MODEL, '--workspace', root, '--json', '--max-tokens', '5'];
    const report = runCliJson<Report>([
      ...args,
      '--exclude',
      '*.md',
      '--include',
      '*.ts',
      '--include',
      '*.md',
    ]);
    assert.equal(report.budget, 5);
    assert.deepEqual(report.included, []);
    const byPath = Object.fromEntries(report.excluded.map((e) => [e.path, e.reason]));
    assert.equal(byPath['b.md'], "matches exclude glob '*.md'");
    assert.equal(byPath['big.py'], 'matches no include glob');
    assert.match(byPath['a.ts'], /^over the token budget: needs \d+ tokens, 5 left$/);
  });

  it('reports files it may not read as unreadable (as nobody when run as root)', function () {
    const locked = mkdtempSync(join(tmpdir(), 'hipcode-ws-acl-'));
    chmodSync(locked, 0o755);
    writeFileSync(join(locked, 'ok.ts'), 'ok\n');
    writeFileSync(join(locked, 'secret.ts'), 'secret\n');
    mkdirSync(join(locked, 'private'));
    writeFileSync(join(locked, 'private', 'inner.ts'), 'inner\n');
    chmodSync(join(locked, 'secret.ts'), 0o000);
    chmodSync(join(locked, 'private'), 0o000);
    try {
      const args = ['context', '--model', MODEL, '--workspace', locked, '--json'];
      const asRoot = process.getuid?.() === 0;
      // root reads chmod 000 files anyway: run the CLI as the unprivileged user 'nobody' instead
      if (asRoot && !canRunAsNobody()) {
        console.log(`      note: skipped: running as root and 'nobody' cannot run ${CLI} here`);
        this.skip();
      }
      const result = asRoot ? runAsNobody(args) : runCli(args);
      assert.equal(result.status, 0, result.stderr);
      const report = JSON.parse(result.stdout) as Report;
      assert.deepEqual(
        report.included.map((f) => f.path),
        ['ok.ts'],
      );
      assert.deepEqual(report.excluded, [
        {
          path: 'private',
          kind: 'folder',
          code: 'unreadable',
          reason: 'unreadable: permission denied (EACCES)',
        },
        {
          path: 'secret.ts',
          kind: 'file',
          code: 'unreadable',
          reason: 'unreadable: permission denied (EACCES)',
        },
      ]);
    } finally {
      chmodSync(join(locked, 'private'), 0o755);
      rmSync(locked, { recursive: true, force: true });
    }
  });

  it('fails clearly on a missing workspace or a missing flag', () => {
    const missing = runCli(['context', '--model', MODEL, '--workspace', join(root, 'nope')]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /\[E_WORKSPACE\]: .*nope does not exist/);
    const usage = runCli(['context', '--model', MODEL]);
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /\[E_USAGE\]: --workspace is required/);
  });
});
