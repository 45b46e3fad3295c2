// Model discovery: the Hugging Face cache layout and configured folders, each model validated with its reason.
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { discoverModels, huggingFaceCacheDir } from '../../extension/engine/model/discover';
import { runCli } from '../helpers/cli';
import { modelDir } from '../helpers/fixtures';

function fakeCache(root: string): string {
  const cache = join(root, 'hub');
  const entry = join(cache, 'models--tiny-org--Qwen3-Tiny');
  cpSync(modelDir('qwen3'), join(entry, 'snapshots', 'abc123'), { recursive: true });
  mkdirSync(join(entry, 'snapshots', 'old999'), { recursive: true }); // an older, empty snapshot
  mkdirSync(join(entry, 'refs'), { recursive: true });
  writeFileSync(join(entry, 'refs', 'main'), 'abc123\n');
  mkdirSync(join(cache, 'datasets--someone--data'), { recursive: true }); // not a model
  return cache;
}

describe('model discovery', () => {
  let root: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'hipcode-models-'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('finds the cache location from HF_HUB_CACHE, then HF_HOME', () => {
    assert.equal(huggingFaceCacheDir({ HF_HUB_CACHE: '/x/hub', HF_HOME: '/y' }), '/x/hub');
    assert.equal(huggingFaceCacheDir({ HF_HOME: '/y' }), '/y/hub');
    assert.match(huggingFaceCacheDir({}), /\.cache\/huggingface\/hub$/);
  });

  it('lists cached snapshots and folders, usable first, with the reason for the others', () => {
    const cache = fakeCache(root);
    const folder = join(root, 'models');
    cpSync(modelDir('llama-sharded'), join(folder, 'llama'), { recursive: true });
    cpSync(modelDir('qwen2'), join(folder, 'no-tokenizer'), { recursive: true });
    rmSync(join(folder, 'no-tokenizer', 'tokenizer.json'));
    mkdirSync(join(folder, 'not-a-model'));
    const models = discoverModels([folder], cache);
    assert.deepEqual(
      models.map((m) => [m.id, m.usable]),
      [
        ['llama', true],
        ['tiny-org/Qwen3-Tiny', true],
        ['no-tokenizer', false],
      ],
    );
    const qwen3 = models.find((m) => m.id === 'tiny-org/Qwen3-Tiny');
    assert.equal(qwen3?.path, join(cache, 'models--tiny-org--Qwen3-Tiny', 'snapshots', 'abc123'));
    assert.equal(qwen3?.architecture, 'Qwen3ForCausalLM');
    assert.equal(qwen3?.contextLength, 256);
    assert.match(models[2].problem ?? '', /tokenizer\.json is missing/);
  });

  it('reports a broken checkpoint with the loader error', () => {
    const folder = join(root, 'broken');
    cpSync(modelDir('llama-sharded'), join(folder, 'sharded'), { recursive: true });
    rmSync(join(folder, 'sharded', 'model-00002-of-00005.safetensors'));
    const [model] = discoverModels([folder], join(root, 'no-cache'));
    assert.equal(model.usable, false);
    assert.match(model.problem ?? '', /^\[E_WEIGHTS\] .*model-00002-of-00005\.safetensors/);
  });

  it('hipcode models prints the list, or what to download when there is none', () => {
    const listed = runCli(['models', '--dir', join(root, 'models'), '--json']);
    assert.equal(listed.status, 0, listed.stderr);
    const json = JSON.parse(listed.stdout) as { models: { id: string }[] };
    assert.ok(json.models.some((m) => m.id === 'llama'));
    const empty = runCli(['models', '--dir', join(root, 'nothing-here')]);
    assert.equal(empty.status, 0, empty.stderr);
    assert.match(empty.stdout, /no models found in .*nothing-here[\s\S]*Download a Hugging Face checkpoint/);
  });
});
