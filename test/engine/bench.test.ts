// `hipcode bench` on the tiny geometry and the CPU backend: a table on stdout and a JSON result that adds up.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchResult } from '../../extension/engine/bench/run';
import { runCli } from '../helpers/cli';

/** Runs `hipcode bench` on the tiny geometry and the CPU backend with `flags`; its table and its JSON. */
function bench(flags: string[]): { stdout: string; json: BenchResult } {
  const out = join(mkdtempSync(join(tmpdir(), 'hipcode-bench-')), 'result.json');
  const result = runCli(['bench', '--geometry', 'tiny', '--backend', 'cpu', ...flags, '--out', out]);
  assert.equal(result.status, 0, result.stderr);
  return { stdout: result.stdout, json: JSON.parse(readFileSync(out, 'utf8')) as BenchResult };
}

describe('hipcode bench', () => {
  it('times prefill and decode of a synthetic model and writes JSON', () => {
    const flags = ['--prefill', '300', '--context', '100', '--decode-steps', '5', '--repeats', '2'];
    const { stdout, json } = bench([...flags, '--host-kv-budget', '0']);
    assert.match(stdout, /prefill\s+300 tokens in [\d.]+ ms: \d+ tokens\/s/);
    assert.match(stdout, /decode\s+[\d.]+ ms\/token at 100 tokens of context/);
    assert.equal(json.geometry, 'tiny');
    assert.equal(json.backend, 'cpu');
    // 2 layers × (attention 128·(128+2·64) + 128·128 + biases 256 + MLP 3·128·352 + norms 256 + qk norms 64)
    // + final norm 128 + untied embeddings 2·1000·128
    assert.equal(json.params, 2 * (128 * 256 + 128 * 128 + 256 + 3 * 128 * 352 + 256 + 64) + 128 + 256000);
    assert.equal(json.prefill?.msAll.length, 2);
    assert.ok(json.prefill && json.prefill.tokensPerSecond > 0);
    assert.equal(json.decode?.msAll.length, 5);
    assert.ok(
      json.decode && json.decode.p10 <= json.decode.msPerToken && json.decode.msPerToken <= json.decode.p90,
    );
    // The CPU backend holds every weight in f32: the peak resident memory covers them, and stays sane.
    assert.ok(json.peakHostMemoryBytes >= 4 * json.params, `peak ${json.peakHostMemoryBytes} bytes`);
    assert.ok(json.peakHostMemoryBytes < 8 * 2 ** 30);
    assert.match(stdout, /host memory [\d.]+ GiB peak resident/);
    // The CPU backend makes f32 KV pages in host memory as sessions grow: 64 positions of K and V for 2 layers of 2
    // heads of 32, 64 KiB a page, at least the warm-up's 516 positions' 9 pages.
    assert.equal(json.kvMemory.gpuBytes, 0);
    assert.equal(json.kvMemory.hostBytes % 65536, 0);
    assert.ok(json.kvMemory.hostBytes >= 9 * 65536, `${json.kvMemory.hostBytes} bytes`);
    assert.match(stdout, /\nkv memory {3}0\.0 GiB GPU \+ [\d.]+ GiB host\nhost memory/);
  });

  it('times an edit at the end of the context and a snapshot saved and loaded, leaving no file', () => {
    const snapshots = mkdtempSync(join(tmpdir(), 'hipcode-bench-snapshots-'));
    const flags = [
      '--prefill',
      '0',
      '--context',
      '100',
      '--decode-steps',
      '0',
      '--edit',
      '40',
      '--question',
      '12',
    ];
    const { stdout, json } = bench([...flags, '--snapshot-dir', snapshots]);
    assert.equal(json.prefill, null);
    assert.equal(json.decode, null);
    assert.equal(json.ingest?.tokens, 100);
    assert.ok(json.ingest && json.ingest.seconds > 0);
    assert.match(stdout, /context\s+100 tokens in [\d.]+ s: \d+ tokens\/s/);
    assert.equal(json.question?.tokens, 12);
    assert.ok(json.question && json.question.seconds > 0);
    assert.match(stdout, /question\s+12 tokens in a fork of the context and a first token: [\d.]+ s/);
    assert.equal(json.edit?.tokens, 40);
    assert.ok(json.edit && json.edit.seconds > 0);
    // f32 K/V of 2 layers × 64 per token, in one chunk: header (fixed part, the fingerprint 'bench', 100 ids,
    // its checksum), then the chunk and its checksum.
    const tokenBytes = 2 * 2 * 64 * 4;
    assert.equal(json.snapshot?.bytes, 60 + 5 + 4 * 100 + 8 + 100 * tokenBytes + 8);
    assert.equal(json.snapshot?.tokens, 100);
    assert.equal(json.snapshot?.dir, snapshots);
    assert.ok(
      json.snapshot &&
        json.snapshot.loadSeconds > 0 &&
        json.snapshot.readySeconds > json.snapshot.loadSeconds,
    );
    assert.match(stdout, /edit\s+the context's last 40 tokens again and a token: [\d.]+ s/);
    assert.match(stdout, /snapshot\s+100 tokens, [\d.]+ GiB: saved in [\d.]+ s .* loaded in [\d.]+ s/);
    assert.deepEqual(readdirSync(snapshots), []);
  });

  it('keeps the KV cache in fp8 rows when asked: the snapshot holds 8-bit rows with an f32 scale each', () => {
    const snapshots = mkdtempSync(join(tmpdir(), 'hipcode-bench-snapshots-'));
    const flags = ['--prefill', '0', '--context', '100', '--decode-steps', '2', '--kv-dtype', 'fp8-e4m3'];
    const { stdout, json } = bench([...flags, '--snapshot-dir', snapshots]);
    assert.equal(json.kvDtype, 'fp8-e4m3');
    assert.match(stdout, /kv cache\s+fp8-e4m3 rows/);
    // 2 layers × K and V × 2 KV heads × (32 one-byte values + a 4-byte scale) a token.
    const tokenBytes = 2 * 2 * 2 * (32 + 4);
    assert.equal(json.snapshot?.bytes, 60 + 5 + 4 * 100 + 8 + 100 * tokenBytes + 8);
    const bad = runCli(['bench', '--geometry', 'tiny', '--backend', 'cpu', '--kv-dtype', 'fp4']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--kv-dtype expects one of auto, f32, bf16, fp8-e4m3, got 'fp4'/);
  });

  it('rejects a snapshot folder that does not exist', () => {
    const result = runCli([
      'bench',
      '--geometry',
      'tiny',
      '--backend',
      'cpu',
      '--snapshot-dir',
      '/no/such/dir',
    ]);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /--snapshot-dir expects an existing folder, got '\/no\/such\/dir'/);
  });

  it('rejects an unknown geometry with the list of known ones', () => {
    const result = runCli(['bench', '--geometry', 'gpt5']);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /--geometry expects one of qwen2.5-7b, llama3.1-8b/);
  });
});
