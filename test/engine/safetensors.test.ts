// Tests safetensors header validation and checkpoint discovery (single file and sharded) on small temp files.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HipError } from '../../extension/engine/errors';
import { openCheckpoint } from '../../extension/engine/model/checkpoint';
import { readSafetensorsHeader } from '../../extension/engine/model/safetensors';
import { packed, tempDir, writeRaw, writeSafetensors } from './safetensors-writer';

/** Asserts `fn` throws a HipError with `code` whose message contains every string of `names`. */
function assertHipError(fn: () => unknown, code: string, names: string[]): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof HipError, `expected a HipError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    for (const name of names) assert.ok(error.message.includes(name), `'${name}' not in: ${error.message}`);
    return true;
  });
}

describe('safetensors header', () => {
  it('maps each tensor to its absolute offset, dtype and shape', () => {
    const file = join(tempDir(), 'model.safetensors');
    const header = JSON.stringify({
      a: { dtype: 'BF16', shape: [2, 3], data_offsets: [0, 12] },
      b: { dtype: 'F32', shape: [4], data_offsets: [12, 28] },
      c: { dtype: 'F16', shape: [], data_offsets: [28, 30] },
    });
    writeRaw(file, header, 30);
    const tensors = readSafetensorsHeader(file);
    const start = 8 + Buffer.byteLength(header);
    assert.deepEqual(tensors.get('a'), { file, offset: start, dtype: 'bf16', shape: [2, 3] });
    assert.deepEqual(tensors.get('b'), { file, offset: start + 12, dtype: 'f32', shape: [4] });
    assert.deepEqual(tensors.get('c'), { file, offset: start + 28, dtype: 'f16', shape: [] });
    assert.equal(tensors.size, 3);
  });

  it('allows __metadata__', () => {
    const file = join(tempDir(), 'm.safetensors');
    writeSafetensors(file, packed({ w: ['F32', [2]] }));
    assert.deepEqual([...readSafetensorsHeader(file).keys()], ['w']);
  });

  it('rejects a file shorter than 8 bytes', () => {
    const file = join(tempDir(), 'short.safetensors');
    writeFileSync(file, Buffer.alloc(5));
    assertHipError(() => readSafetensorsHeader(file), 'E_SAFETENSORS', [file, '5 bytes']);
  });

  it('rejects a header length beyond the file', () => {
    const file = join(tempDir(), 'len.safetensors');
    writeRaw(file, '{}', 0, 1000);
    assertHipError(() => readSafetensorsHeader(file), 'E_SAFETENSORS', [file, '1000']);
  });

  it('rejects a truncated data section', () => {
    const file = join(tempDir(), 'trunc.safetensors');
    writeRaw(file, JSON.stringify({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }), 10);
    assertHipError(() => readSafetensorsHeader(file), 'E_SAFETENSORS', [file, "'w'", '16', '10 bytes']);
  });

  it('rejects malformed JSON', () => {
    const file = join(tempDir(), 'json.safetensors');
    writeRaw(file, '{"w": {"dtype": ', 0);
    assertHipError(() => readSafetensorsHeader(file), 'E_SAFETENSORS', [file, 'not valid JSON']);
  });

  it('rejects a header that is not an object', () => {
    const file = join(tempDir(), 'array.safetensors');
    writeRaw(file, '[1, 2]', 0);
    assertHipError(() => readSafetensorsHeader(file), 'E_SAFETENSORS', [file, 'object']);
  });

  it('rejects begin > end', () => {
    const file = join(tempDir(), 'order.safetensors');
    writeRaw(file, JSON.stringify({ w: { dtype: 'F32', shape: [0], data_offsets: [8, 4] } }), 8);
    assertHipError(() => readSafetensorsHeader(file), 'E_SAFETENSORS', [file, "'w'", 'begin > end']);
  });

  it('rejects overlapping tensors', () => {
    const file = join(tempDir(), 'overlap.safetensors');
    const header = {
      first: { dtype: 'F32', shape: [4], data_offsets: [0, 16] },
      second: { dtype: 'F32', shape: [4], data_offsets: [8, 24] },
    };
    writeRaw(file, JSON.stringify(header), 24);
    assertHipError(() => readSafetensorsHeader(file), 'E_SAFETENSORS', [
      file,
      "'first'",
      "'second'",
      'overlap',
    ]);
  });

  it('rejects shape × dtype size ≠ byte length', () => {
    const file = join(tempDir(), 'size.safetensors');
    writeRaw(file, JSON.stringify({ w: { dtype: 'BF16', shape: [3, 2], data_offsets: [0, 24] } }), 24);
    assertHipError(() => readSafetensorsHeader(file), 'E_SAFETENSORS', [file, "'w'", '12 bytes', '24 bytes']);
  });

  it('rejects a bad shape', () => {
    const file = join(tempDir(), 'shape.safetensors');
    writeRaw(file, JSON.stringify({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }), 4);
    assertHipError(() => readSafetensorsHeader(file), 'E_SAFETENSORS', [file, "'w'", 'shape']);
  });

  it('rejects unsupported dtypes with E_UNSUPPORTED naming tensor and dtype', () => {
    const file = join(tempDir(), 'dtype.safetensors');
    writeRaw(file, JSON.stringify({ 'q.weight': { dtype: 'I8', shape: [4], data_offsets: [0, 4] } }), 4);
    assertHipError(() => readSafetensorsHeader(file), 'E_UNSUPPORTED', [file, "'q.weight'", 'I8']);
  });
});

describe('checkpoint discovery', () => {
  it('opens a single model.safetensors', () => {
    const dir = tempDir();
    writeSafetensors(join(dir, 'model.safetensors'), packed({ a: ['F32', [2]], b: ['BF16', [3]] }));
    const checkpoint = openCheckpoint(dir);
    assert.deepEqual(checkpoint.files, [join(dir, 'model.safetensors')]);
    assert.deepEqual([...checkpoint.tensors.keys()].sort(), ['a', 'b']);
  });

  it('opens shards through the index', () => {
    const dir = tempDir();
    writeSafetensors(join(dir, 'model-00001-of-00002.safetensors'), packed({ a: ['F32', [2]] }));
    writeSafetensors(join(dir, 'model-00002-of-00002.safetensors'), packed({ b: ['F32', [2]] }));
    const weightMap = { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' };
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: weightMap }));
    const checkpoint = openCheckpoint(dir);
    assert.equal(checkpoint.tensors.get('a')?.file, join(dir, 'model-00001-of-00002.safetensors'));
    assert.equal(checkpoint.tensors.get('b')?.file, join(dir, 'model-00002-of-00002.safetensors'));
    assert.equal(checkpoint.files.length, 2);
  });

  it('names a missing shard', () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'model.safetensors.index.json'),
      JSON.stringify({ weight_map: { a: 'gone.safetensors' } }),
    );
    assertHipError(() => openCheckpoint(dir), 'E_WEIGHTS', [join(dir, 'gone.safetensors'), 'missing']);
  });

  it('names a tensor listed in the index but absent from its shard', () => {
    const dir = tempDir();
    writeSafetensors(join(dir, 's1.safetensors'), packed({ a: ['F32', [2]] }));
    const weightMap = { a: 's1.safetensors', ghost: 's1.safetensors' };
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: weightMap }));
    assertHipError(() => openCheckpoint(dir), 'E_WEIGHTS', ["'ghost'", join(dir, 's1.safetensors')]);
  });

  it('rejects shard paths outside the folder', () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'model.safetensors.index.json'),
      JSON.stringify({ weight_map: { a: '../x.safetensors' } }),
    );
    assertHipError(() => openCheckpoint(dir), 'E_WEIGHTS', ["weight_map['a']"]);
  });

  it('says which files it looked for when there are no weights', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'sub'));
    assertHipError(() => openCheckpoint(dir), 'E_WEIGHTS', [
      'model.safetensors.index.json',
      'model.safetensors',
      dir,
    ]);
  });
});
