// Runs the CLI from source: usage errors exit 2 naming the flag; with a fake addon, the output contract holds.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const MAIN = join(ROOT, 'extension', 'engine', 'cli', 'main.ts');
const QWEN3 = join(ROOT, 'test', 'fixtures', 'models', 'qwen3');
const FAKE_ADDON = join(__dirname, 'fake-addon.ts');

function hipcode(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, HIPCODE_ADDON: FAKE_ADDON, ...env },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function expectUsage(args: string[], mentions: string[], env: NodeJS.ProcessEnv = {}): void {
  const result = hipcode(args, env);
  assert.equal(result.status, 2, result.stderr);
  assert.equal(result.stdout, '');
  assert.match(result.stderr, /^hipcode: error \[E_USAGE\]: /);
  assert.equal(result.stderr.trim().split('\n').length, 1, 'one line');
  for (const mention of mentions)
    assert.ok(result.stderr.includes(mention), `${mention} in ${result.stderr}`);
}

describe('CLI usage errors', () => {
  it('unknown command', () => expectUsage(['frobnicate'], ["'frobnicate'"]));
  it('unknown flag', () => expectUsage(['logits', '--model', QWEN3, '--ids', '1', '--bogus'], ['--bogus']));
  it('missing value', () => expectUsage(['logits', '--ids', '1', '--model'], ['--model']));
  it('missing --model', () => expectUsage(['logits', '--ids', '1'], ['--model']));
  it('bad size', () =>
    expectUsage(
      ['logits', '--model', QWEN3, '--ids', '1', '--gpu-kv-budget', '12X'],
      ['--gpu-kv-budget', '12X'],
    ));
  it('bad host KV budget', () =>
    expectUsage(
      ['logits', '--model', QWEN3, '--ids', '1', '--host-kv-budget', '48 gigs'],
      ['--host-kv-budget expects a size such as 16G', "'48 gigs'"],
    ));
  it('bad bench host KV budget', () =>
    expectUsage(['bench', '--host-kv-budget', 'lots'], ['--host-kv-budget', "'lots'"]));
  it('bad ids', () => expectUsage(['logits', '--model', QWEN3, '--ids', '1,-2'], ['--ids', '1,-2']));
  it('bad number', () =>
    expectUsage(
      ['generate', '--model', QWEN3, '--ids', '1', '--max-tokens', 'ten'],
      ['--max-tokens', 'ten'],
    ));
  it('out of range', () =>
    expectUsage(['generate', '--model', QWEN3, '--ids', '1', '--top-p', '1.5'], ['--top-p']));
  it('bad backend', () =>
    expectUsage(['logits', '--model', QWEN3, '--ids', '1', '--backend', 'tpu'], ['--backend', 'tpu']));
  it('bad attention', () =>
    expectUsage(
      ['generate', '--model', QWEN3, '--ids', '1', '--attention', 'sparse'],
      ['--attention', 'dense, hip or auto', "'sparse'"],
    ));
  it('bad HIPCODE_HIP', () =>
    expectUsage(['generate', '--model', QWEN3, '--ids', '1', '--attention', 'hip'], ['HIPCODE_HIP'], {
      HIPCODE_HIP: '{sink: 8}',
    }));
  it('bad bench attention', () => expectUsage(['bench', '--attention', 'HIP'], ['--attention', "'HIP'"]));
  it('two inputs', () =>
    expectUsage(['generate', '--model', QWEN3, '--ids', '1', '--prompt', 'x'], ['--prompt', '--ids']));
  it('--system without --chat', () =>
    expectUsage(['generate', '--model', QWEN3, '--prompt', 'x', '--system', 's'], ['--system']));

  it('help exits 0 with usage on stdout', () => {
    const result = hipcode(['--help']);
    assert.equal(result.status, 0);
    assert.match(result.stdout, /hipcode logits +--model DIR --ids/);
  });
});

describe('CLI output contract (fake addon)', () => {
  it('logits prints one row of vocab_size per id', () => {
    const result = hipcode(['logits', '--model', QWEN3, '--ids', '5,6', '--backend', 'cpu']);
    assert.equal(result.status, 0, result.stderr);
    const { logits } = JSON.parse(result.stdout) as { logits: number[][] };
    assert.equal(logits.length, 2);
    assert.equal(logits[0].length, 403);
    assert.equal(logits[1][0], 1);
    assert.equal(logits[0][2], Math.fround(0.002));
  });

  it('generate --json prints the ids and stops at eos (402) including it', () => {
    const result = hipcode([
      'generate',
      '--model',
      QWEN3,
      '--ids',
      '399',
      '--max-tokens',
      '10',
      '--json',
      '--backend',
      'cpu',
    ]);
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), { ids: [400, 401, 402] });
  });

  it('auto falls back to the CPU and says why on stderr only', () => {
    const result = hipcode(['generate', '--model', QWEN3, '--ids', '1', '--max-tokens', '2', '--json']);
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), { ids: [2, 3] });
    assert.match(result.stderr, /CPU backend.*fake addon/);
  });

  it('--backend cuda without a GPU is E_BACKEND_UNAVAILABLE with the reason', () => {
    const result = hipcode(['logits', '--model', QWEN3, '--ids', '1', '--backend', 'cuda']);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /^hipcode: error \[E_BACKEND_UNAVAILABLE\]: .*fake addon/);
  });
});

describe('CLI sizes', () => {
  it('reads byte sizes with K/M/G/T suffixes', async () => {
    const { sizeFlag } = await import('../../extension/engine/cli/args');
    assert.equal(sizeFlag({ 'gpu-kv-budget': '16G' }, 'gpu-kv-budget'), 16 * 2 ** 30);
    assert.equal(sizeFlag({ 'gpu-kv-budget': '512MiB' }, 'gpu-kv-budget'), 512 * 2 ** 20);
    assert.equal(sizeFlag({ 'gpu-kv-budget': '1.5g' }, 'gpu-kv-budget'), 1.5 * 2 ** 30);
    assert.equal(sizeFlag({ 'gpu-kv-budget': '4096' }, 'gpu-kv-budget'), 4096);
    assert.equal(sizeFlag({}, 'gpu-kv-budget'), 0);
  });

  it('reads an optional size as undefined when absent (automatic) and 0 as none', async () => {
    const { optionalSizeFlag } = await import('../../extension/engine/cli/args');
    assert.equal(optionalSizeFlag({}, 'host-kv-budget'), undefined);
    assert.equal(optionalSizeFlag({ 'host-kv-budget': '0' }, 'host-kv-budget'), 0);
    assert.equal(optionalSizeFlag({ 'host-kv-budget': '48G' }, 'host-kv-budget'), 48 * 2 ** 30);
    assert.throws(
      () => optionalSizeFlag({ 'host-kv-budget': 'auto' }, 'host-kv-budget'),
      /--host-kv-budget expects a size such as 16G, 512M or a number of bytes, got 'auto'/,
    );
  });

  it('logits accepts --host-kv-budget (fake addon)', () => {
    const result = hipcode([
      'logits',
      '--model',
      QWEN3,
      '--ids',
      '5',
      '--backend',
      'cpu',
      '--host-kv-budget',
      '0',
    ]);
    assert.equal(result.status, 0, result.stderr);
    assert.equal((JSON.parse(result.stdout) as { logits: number[][] }).logits.length, 1);
  });
});
