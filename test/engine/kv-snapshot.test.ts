// KV snapshots through the addon on the CPU backend: a loaded session (whole or a prefix) continues exactly as the
// saved one, a busy session refuses other calls, a damaged or foreign file is E_SNAPSHOT, and cancelSnapshot ends
// a save.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, type LoadedModel } from '../../extension/engine/model/load';
import type { NativeSession } from '../../extension/engine/native';
import { MODEL } from '../helpers/engine';

describe('KV snapshots (addon, CPU backend)', () => {
  let model: LoadedModel;
  let dir = '';
  const prompt = Int32Array.from({ length: 150 }, (_, i) => (i * 37 + 11) % 400);

  before(async () => {
    model = await loadModel(MODEL, { backend: 'cpu', threads: 2 });
    dir = mkdtempSync(join(tmpdir(), 'hipcode-kv-snapshot-'));
  });
  after(() => {
    model.native.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  async function prefilled(): Promise<NativeSession> {
    const session = model.native.createSession({ maxTokens: 512, seed: 0 });
    await session.forward(prompt, 'none');
    return session;
  }

  it('a loaded session has the saved ids and gives the same next logits', async () => {
    const path = join(dir, 'a.kv');
    const saved = await prefilled();
    await saved.saveSnapshot(path, 'fp', 120);
    assert.equal(model.native.kvDtype, 'f32');
    const loaded = model.native.createSession({ maxTokens: 512, seed: 0 });
    assert.deepEqual([...(await loaded.loadSnapshot(path, 'fp'))], [...prompt.subarray(0, 120)]);
    assert.equal(loaded.length, 120);
    saved.truncate(120);
    const next = Int32Array.of(5, 6);
    assert.deepEqual(await loaded.forward(next, 'all'), await saved.forward(next, 'all'));
    assert.deepEqual([...(await loaded.loadSnapshot(path, 'fp', 50))], [...prompt.subarray(0, 50)]);
    saved.truncate(50);
    assert.deepEqual(await loaded.forward(next, 'all'), await saved.forward(next, 'all'));
    await assert.rejects(
      loaded.loadSnapshot(path, 'fp', -1),
      /loadSnapshot\(tokens\): expected a non-negative/,
    );
    saved.dispose();
    loaded.dispose();
  });

  it('refuses damaged and foreign files with E_SNAPSHOT: a bad header keeps the session, bad K/V empties it', async () => {
    const path = join(dir, 'b.kv');
    const session = await prefilled();
    await session.saveSnapshot(path, 'fp', 150);
    const bytes = readFileSync(path);
    bytes[bytes.length - 20] ^= 1;
    writeFileSync(join(dir, 'corrupt.kv'), bytes);
    writeFileSync(join(dir, 'short.kv'), bytes.subarray(0, 1000));
    const other = model.native.createSession({ maxTokens: 512, seed: 0 });
    await other.forward(Int32Array.of(1, 2, 3), 'none');
    for (const [file, fingerprint, what] of [
      ['short.kv', 'fp', /truncated/],
      ['b.kv', 'other', /fingerprint/],
      ['missing.kv', 'fp', /cannot open/],
    ] as const) {
      await assert.rejects(
        other.loadSnapshot(join(dir, file), fingerprint),
        (error: Error & { code: string }) => {
          assert.equal(error.code, 'E_SNAPSHOT');
          assert.match(error.message, what);
          return true;
        },
      );
      assert.equal(other.length, 3);
    }
    await assert.rejects(other.loadSnapshot(join(dir, 'corrupt.kv'), 'fp'), /fail their checksum/);
    assert.equal(other.length, 0);
    session.dispose();
    other.dispose();
  });

  it('holds the session while saving; cancelSnapshot ends the save without a file', async () => {
    const session = await prefilled();
    const path = join(dir, 'c.kv');
    const saving = session.saveSnapshot(path, 'fp', 150);
    session.cancelSnapshot();
    await assert.rejects(session.forward(Int32Array.of(1), 'none'), { code: 'E_BUSY' });
    await assert.rejects(saving, { code: 'E_CANCELLED' });
    assert.equal(existsSync(path), false);
    await assert.rejects(session.saveSnapshot(path, 'fp', 151), { code: 'E_INVALID_ARGUMENT' });
    await session.saveSnapshot(path, 'fp', 150);
    assert.equal(existsSync(path), true);
    session.dispose();
  });
});
