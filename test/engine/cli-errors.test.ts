// Broken checkpoints through the CLI: each gives one clear coded error naming the culprit and exit code 1, never a
// crash or a hang.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli';
import { loadAddon } from '../../extension/engine/native';
import { modelDir } from '../helpers/fixtures';

/** A private copy of a fixture model that a test may break. */
function copyFixture(name: string): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'hipcode-broken-')), name);
  cpSync(modelDir(name), dir, { recursive: true });
  return dir;
}

function editJson(path: string, edit: (value: Record<string, unknown>) => void): void {
  const value = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  edit(value);
  writeFileSync(path, JSON.stringify(value));
}

/** Rewrites the safetensors header of `file` (keeping the data section) after `edit`. */
function editSafetensorsHeader(
  file: string,
  edit: (header: Record<string, Record<string, unknown>>) => void,
): void {
  const bytes = readFileSync(file);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
  edit(header);
  let json = JSON.stringify(header);
  json += ' '.repeat(Math.max(0, headerLength - Buffer.byteLength(json)));
  assert.equal(Buffer.byteLength(json), headerLength, 'edited header must keep its length');
  writeFileSync(
    file,
    Buffer.concat([bytes.subarray(0, 8), Buffer.from(json), bytes.subarray(8 + headerLength)]),
  );
}

function expectFailure(args: string[], code: string, mentions: string[]): void {
  const result = runCli(args, 30_000);
  assert.equal(result.status, 1, `exit code 1 expected, got ${result.status}; stderr:\n${result.stderr}`);
  assert.equal(result.stdout, '', 'nothing on stdout');
  assert.match(result.stderr, new RegExp(`^hipcode: error \\[${code}\\]`), result.stderr);
  for (const mention of mentions)
    assert.ok(result.stderr.includes(mention), `stderr names ${mention}:\n${result.stderr}`);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
}

const logitsArgs = (dir: string) => ['logits', '--model', dir, '--ids', '1,2,3', '--backend', 'cpu'];

describe('CLI errors on broken checkpoints', () => {
  const made: string[] = [];
  const fixture = (name: string) => {
    const dir = copyFixture(name);
    made.push(dir);
    return dir;
  };
  after(() => made.forEach((dir) => rmSync(join(dir, '..'), { recursive: true, force: true })));

  it('a missing model folder', () => {
    const dir = join(tmpdir(), 'hipcode-no-such-model');
    expectFailure(logitsArgs(dir), 'E_MODEL_NOT_FOUND', [dir]);
  });

  it('a truncated safetensors file', () => {
    const dir = fixture('qwen3');
    const file = join(dir, 'model.safetensors');
    truncateSync(file, statSync(file).size - 1000);
    expectFailure(logitsArgs(dir), 'E_SAFETENSORS', [file]);
  });

  it('a file too short to hold a header', () => {
    const dir = fixture('qwen3');
    const file = join(dir, 'model.safetensors');
    truncateSync(file, 5);
    expectFailure(logitsArgs(dir), 'E_SAFETENSORS', [file]);
  });

  it('a corrupt (non-JSON) header', () => {
    const dir = fixture('qwen3');
    const file = join(dir, 'model.safetensors');
    const bytes = readFileSync(file);
    bytes.write('#', 8);
    writeFileSync(file, bytes);
    expectFailure(logitsArgs(dir), 'E_SAFETENSORS', [file]);
  });

  it('a header whose offsets run past the data', () => {
    const dir = fixture('qwen3');
    const file = join(dir, 'model.safetensors');
    editSafetensorsHeader(file, (header) => {
      const tensor = header['model.norm.weight'];
      const [, end] = tensor.data_offsets as number[];
      tensor.data_offsets = [end + 1e6, end + 1e6 + 128];
    });
    expectFailure(logitsArgs(dir), 'E_SAFETENSORS', [file, 'model.norm.weight']);
  });

  it('an unsupported weight dtype', () => {
    const dir = fixture('qwen3');
    const file = join(dir, 'model.safetensors');
    editSafetensorsHeader(file, (header) => {
      header['model.norm.weight'].dtype = 'I16';
    });
    expectFailure(logitsArgs(dir), 'E_UNSUPPORTED', ['model.norm.weight', 'I16']);
  });

  it('a missing weight tensor', () => {
    const dir = fixture('llama-sharded');
    const index = join(dir, 'model.safetensors.index.json');
    editJson(index, (value) => {
      delete (value.weight_map as Record<string, string>)['model.layers.1.mlp.down_proj.weight'];
    });
    expectFailure(logitsArgs(dir), 'E_WEIGHTS', ['model.layers.1.mlp.down_proj.weight']);
  });

  it('a missing shard', () => {
    const dir = fixture('llama-sharded');
    rmSync(join(dir, 'model-00002-of-00005.safetensors'));
    expectFailure(logitsArgs(dir), 'E_WEIGHTS', ['model-00002-of-00005.safetensors']);
  });

  it('a missing tokenizer', () => {
    const dir = fixture('qwen2');
    rmSync(join(dir, 'tokenizer.json'));
    expectFailure(['tokenize', '--model', dir, '--text', 'hi'], 'E_TOKENIZER', ['tokenizer.json']);
  });

  it('an unsupported architecture', () => {
    const dir = fixture('qwen2');
    editJson(join(dir, 'config.json'), (config) => {
      config.architectures = ['GPT2LMHeadModel'];
      config.model_type = 'gpt2';
    });
    expectFailure(logitsArgs(dir), 'E_UNSUPPORTED', ['GPT2LMHeadModel', 'config.json']);
  });

  it('an unsupported rope type', () => {
    const dir = fixture('qwen2-yarn');
    editJson(join(dir, 'config.json'), (config) => {
      (config.rope_parameters as Record<string, unknown>).rope_type = 'longrope';
    });
    expectFailure(logitsArgs(dir), 'E_UNSUPPORTED', ['longrope']);
  });

  it('a malformed config.json', () => {
    const dir = fixture('qwen2');
    writeFileSync(join(dir, 'config.json'), '{"architectures": ["Qwen2ForCausalLM"],');
    expectFailure(logitsArgs(dir), 'E_CONFIG', ['config.json']);
  });

  it('--backend cuda without a usable GPU says why', function () {
    const cuda = loadAddon().probe().cuda;
    if (cuda.available) this.skip();
    const args = ['logits', '--model', modelDir('qwen3'), '--ids', '1,2', '--backend', 'cuda'];
    expectFailure(args, 'E_BACKEND_UNAVAILABLE', [cuda.reason ?? '', '--backend cpu']);
  });

  it('token ids outside the vocabulary', () => {
    const args = ['logits', '--model', modelDir('qwen3'), '--ids', '1,99999', '--backend', 'cpu'];
    expectFailure(args, 'E_INVALID_ARGUMENT', ['99999']);
  });
});
