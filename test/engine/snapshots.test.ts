// The engine's snapshot folder and keys: where snapshots live, what changes a fingerprint, one file per set of
// roots, and the ids read from a real snapshot's header.
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, type LoadedModel } from '../../extension/engine/model/load';
import {
  pruneSnapshots,
  snapshotDelayMs,
  snapshotDir,
  snapshotFingerprint,
  snapshotMaxBytes,
  Snapshots,
} from '../../extension/engine/server/snapshots';
import { MODEL } from '../helpers/engine';

describe('engine snapshot store', () => {
  let model: LoadedModel;
  let dir = '';

  before(async () => {
    model = await loadModel(MODEL, { backend: 'cpu', threads: 2 });
    dir = mkdtempSync(join(tmpdir(), 'hipcode-snapshots-'));
  });
  after(() => {
    model.native.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the folder under its cap by deleting the least recently used snapshots, never the one just saved', () => {
    const folder = mkdtempSync(join(tmpdir(), 'hipcode-prune-'));
    const make = (name: string, bytes: number, ageSeconds: number): string => {
      const path = join(folder, name);
      writeFileSync(path, Buffer.alloc(bytes));
      const when = Date.now() / 1000 - ageSeconds;
      utimesSync(path, when, when);
      return path;
    };
    make('old.kv', 400, 300);
    make('older.kv', 300, 400);
    make('recent.kv', 200, 100);
    const fresh = make('fresh.kv', 500, 0);
    make('other.txt', 10_000, 500);
    // 1400 bytes of snapshots under a 800-byte cap: the two oldest go (older, then old), leaving 700.
    assert.deepEqual(pruneSnapshots(folder, 800, fresh), [join(folder, 'older.kv'), join(folder, 'old.kv')]);
    assert.deepEqual(existsSync(join(folder, 'recent.kv')) && existsSync(fresh), true);
    // The file just written stays even when it alone is over the cap.
    assert.deepEqual(pruneSnapshots(folder, 100, fresh), [join(folder, 'recent.kv')]);
    assert.ok(existsSync(fresh) && existsSync(join(folder, 'other.txt')));
    assert.equal(snapshotMaxBytes({}), 128 * 2 ** 30);
    assert.equal(snapshotMaxBytes({ HIPCODE_SNAPSHOT_MAX_SIZE: '64G' }), 64 * 2 ** 30);
    assert.throws(
      () => snapshotMaxBytes({ HIPCODE_SNAPSHOT_MAX_SIZE: 'lots' }),
      /HIPCODE_SNAPSHOT_MAX_SIZE must be a size/,
    );
    rmSync(folder, { recursive: true, force: true });
  });

  it('saves after live updates once HIPCODE_SNAPSHOT_DELAY_MS (default 10 s) has passed without one', () => {
    assert.equal(snapshotDelayMs({}), 10_000);
    assert.equal(snapshotDelayMs({ HIPCODE_SNAPSHOT_DELAY_MS: '0' }), 0);
    assert.equal(snapshotDelayMs({ HIPCODE_SNAPSHOT_DELAY_MS: '2500' }), 2500);
    for (const bad of ['soon', '-5', '1.5']) {
      assert.throws(
        () => snapshotDelayMs({ HIPCODE_SNAPSHOT_DELAY_MS: bad }),
        (error: Error & { code: string }) =>
          error.code === 'E_INVALID_ARGUMENT' &&
          error.message ===
            `HIPCODE_SNAPSHOT_DELAY_MS must be a whole number of milliseconds such as 10000, got '${bad}'`,
      );
    }
  });

  it('lives in the user cache folder unless HIPCODE_SNAPSHOT_DIR says otherwise', () => {
    assert.equal(snapshotDir({}), join(homedir(), '.cache', 'hipcode', 'snapshots'));
    assert.equal(snapshotDir({ XDG_CACHE_HOME: '/c' }), '/c/hipcode/snapshots');
    assert.equal(snapshotDir({ XDG_CACHE_HOME: '/c', HIPCODE_SNAPSHOT_DIR: '/s' }), '/s');
    assert.equal(snapshotDir({ HIPCODE_SNAPSHOT_DIR: 'off' }), undefined);
  });

  it('fingerprints the config content, the weight files and the backend', () => {
    const copy = mkdtempSync(join(tmpdir(), 'hipcode-model-'));
    cpSync(model.dir, copy, { recursive: true });
    const files = model.checkpoint.files.map((file) => join(copy, file.slice(model.dir.length)));
    const like = (changes: Partial<LoadedModel>) => ({ ...model, dir: copy, ...changes }) as LoadedModel;
    const base = like({ checkpoint: { ...model.checkpoint, files } });
    const fingerprint = snapshotFingerprint(base);
    assert.match(fingerprint, /^hipcode-kv-1 cpu f32 [0-9a-f]{64}$/);
    assert.equal(snapshotFingerprint(base), fingerprint);
    utimesSync(files[0], new Date(), new Date(2000, 1, 1));
    const touched = snapshotFingerprint(base);
    assert.notEqual(touched, fingerprint);
    writeFileSync(join(copy, 'config.json'), '{}');
    assert.notEqual(snapshotFingerprint(base), touched);
    rmSync(copy, { recursive: true, force: true });
  });

  it('opening the folder removes the temporaries of writers that died, not of live ones', () => {
    const dead = join(dir, 'a.kv.tmp-999999999-0');
    const live = join(dir, `b.kv.tmp-${process.pid}-0`);
    writeFileSync(dead, 'partial');
    writeFileSync(live, 'partial');
    const snapshots = Snapshots.open(model, { HIPCODE_SNAPSHOT_DIR: dir });
    assert.equal(snapshots?.dir, dir);
    assert.deepEqual([existsSync(dead), existsSync(live)], [false, true]);
    rmSync(live);
  });

  it('keys one file per set of roots and reads the ids of a snapshot with its fingerprint', async () => {
    const snapshots = new Snapshots(dir, 'fp');
    assert.equal(snapshots.pathFor(['/a', '/b']), snapshots.pathFor(['/b', '/a/']));
    assert.notEqual(snapshots.pathFor(['/a']), snapshots.pathFor(['/b']));
    assert.notEqual(new Snapshots(dir, 'other').pathFor(['/a']), snapshots.pathFor(['/a']));
    const path = snapshots.pathFor(['/a']);
    const session = model.native.createSession({ maxTokens: 64, seed: 0 });
    await session.forward(Int32Array.of(5, 6, 7, 8), 'none');
    await session.saveSnapshot(path, 'fp', 3);
    session.dispose();
    assert.deepEqual(snapshots.peekIds(path), [5, 6, 7]);
    assert.equal(new Snapshots(dir, 'other').peekIds(path), undefined);
    assert.equal(snapshots.peekIds(join(dir, 'missing.kv')), undefined);
  });
});
