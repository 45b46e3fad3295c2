// bench/hip-reference-setup.sh: copies a hip-attention clone's kernel package into a folder of its own, with
// empty package __init__ files, and refuses a repository that is not such a clone.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const SCRIPT = join(__dirname, '..', '..', 'bench', 'hip-reference-setup.sh');

function git(dir: string, ...args: string[]): string {
  const result = spawnSync(
    'git',
    ['-C', dir, '-c', 'user.name=test', '-c', 'user.email=test@example.com', ...args],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(result.status, 0, result.stderr);
  return result.stdout.trim();
}

/** A git repository holding `files` (path → text) in one commit. */
function repository(root: string, files: Record<string, string>): string {
  const dir = join(root, 'clone');
  mkdirSync(dir);
  git(dir, 'init', '-q');
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, dirname(path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'files');
  return dir;
}

function setup(clone: string, dest: string) {
  return spawnSync('bash', [SCRIPT, clone, dest], { encoding: 'utf8' });
}

describe('bench/hip-reference-setup.sh', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'hip-reference-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('copies the v1_2 kernels and the RoPE helper, writes the package __init__ files empty and the revision', () => {
    const clone = repository(root, {
      'src/hip_attn/__init__.py': 'import research_code\n',
      'src/hip_attn/v1_2/__init__.py': 'from .attention_extend import x\n',
      'src/hip_attn/v1_2/attention_extend.py': 'x = 1\n',
      'src/hip_attn/v1_2/notes.txt': 'not python\n',
      'src/hip_attn/utils/rope.py': 'rope = 2\n',
      'src/hip_attn/utils/other.py': 'other = 3\n',
    });
    const dest = join(root, 'peer');
    const result = setup(clone, dest);
    assert.equal(result.status, 0, result.stderr);
    const read = (path: string) => readFileSync(join(dest, path), 'utf8');
    assert.equal(read('src/hip_attn/v1_2/attention_extend.py'), 'x = 1\n');
    assert.equal(read('src/hip_attn/v1_2/__init__.py'), 'from .attention_extend import x\n');
    assert.equal(read('src/hip_attn/utils/rope.py'), 'rope = 2\n');
    for (const pkg of [
      'src/hip_attn',
      'src/hip_attn/utils',
      'src/hip_attn/v1_1',
      'src/hip_attn/v1_1/offload_runner',
    ])
      assert.equal(read(`${pkg}/__init__.py`), '', pkg);
    assert.equal(existsSync(join(dest, 'src/hip_attn/v1_2/notes.txt')), false);
    assert.equal(existsSync(join(dest, 'src/hip_attn/utils/other.py')), false);
    assert.equal(read('REVISION').trim(), git(clone, 'rev-parse', '--short', 'HEAD'));
  });

  it('refuses a repository without src/hip_attn/v1_2, naming what it expected', () => {
    const clone = repository(root, { 'README.md': 'something else\n' });
    const result = setup(clone, join(root, 'peer'));
    assert.equal(result.status, 2);
    assert.match(
      result.stderr,
      /no src\/hip_attn\/v1_2 in .*clone: expected a clone of DeepAuto-AI\/hip-attention/,
    );
    assert.equal(existsSync(join(root, 'peer')), false);
  });
});
