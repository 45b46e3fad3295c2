// Builds the end-to-end tests' model: the mistral fixture's tokenizer and template with seeded weights designed so
// that greedy decoding answers every question with a fixed citation, then repeats it until the token limit
// (`In a.py:1 a.py:1 …`). Layers are real and run, but their outputs are scaled down so the last token decides
// the next through the embedding and the LM head: a successor table written into the weights.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { askPrompt } from '../extension/engine/answer/prompt';
import { loadTokenizer } from '../extension/engine/text/tokenizer';

const BASE = join(__dirname, '..', 'test', 'fixtures', 'models', 'mistral');

export interface CitingModelOptions {
  /** The answer's first words; its tokens must be distinct. The part from `loopFrom` repeats. */
  answer: string;
  loopFrom: string;
  hiddenSize: number;
  intermediateSize: number;
  layers: number;
  heads: number;
  kvHeads: number;
  contextLength: number;
}

export const CITING_MODEL: CitingModelOptions = {
  answer: 'In a.py:1',
  loopFrom: ' a.py:1',
  hiddenSize: 1024,
  intermediateSize: 2816,
  layers: 8,
  heads: 8,
  kvHeads: 2,
  contextLength: 4096,
};

/** Seeded values of mean 0 and variance 1, uniform in [-√3, √3] (xorshift32). */
function unitValues(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (((state >>> 0) + 0.5) / 2 ** 32 - 0.5) * 2 * Math.sqrt(3);
  };
}

function toBf16(values: Float32Array): Buffer {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = (bits[i] + 0x7fff + ((bits[i] >>> 16) & 1)) >>> 16;
  return Buffer.from(out.buffer);
}

function randomTensor(size: number, scale: number, next: () => number): Float32Array {
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = next() * scale;
  return values;
}

/** The successor of each chain token: prompt end → answer tokens → back to the loop's start. */
function successors(dir: string, options: CitingModelOptions): Map<number, number> {
  const tokenizer = loadTokenizer(dir);
  const ids = tokenizer.encode(options.answer, { addSpecialTokens: false });
  if (new Set(ids).size !== ids.length) throw new Error(`the answer '${options.answer}' repeats a token`);
  const loop = tokenizer.encode(options.loopFrom, { addSpecialTokens: false });
  const loopStart = ids.length - loop.length;
  if (loopStart < 0 || loop.some((id, i) => ids[loopStart + i] !== id)) {
    throw new Error(`'${options.loopFrom}' does not tokenize as the end of '${options.answer}'`);
  }
  const promptEnd = askPrompt(dir, tokenizer).encode('', '?').at(-1)!;
  if (ids.includes(promptEnd)) throw new Error('the answer contains the prompt’s last token');
  const next = new Map<number, number>([[promptEnd, ids[0]]]);
  ids.forEach((id, i) => next.set(id, i + 1 < ids.length ? ids[i + 1] : ids[loopStart]));
  return next;
}

/** Writes the model into `dir` (config, tokenizer files, model.safetensors); returns `dir`. */
export function makeCitingModel(dir: string, options: CitingModelOptions = CITING_MODEL, seed = 7): string {
  mkdirSync(dir, { recursive: true });
  for (const file of ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) {
    copyFileSync(join(BASE, file), join(dir, file));
  }
  const base = JSON.parse(readFileSync(join(BASE, 'config.json'), 'utf8'));
  const { hiddenSize: h, intermediateSize: m, heads, kvHeads } = options;
  const headDim = h / heads;
  const vocab: number = base.vocab_size;
  const config = {
    ...base,
    hidden_size: h,
    intermediate_size: m,
    num_hidden_layers: options.layers,
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    head_dim: headDim,
    max_position_embeddings: options.contextLength,
    sliding_window: null,
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));

  const next = unitValues(seed);
  const tensors: [string, number[], Float32Array][] = [];
  const embed = randomTensor(vocab * h, 1, next);
  tensors.push(['model.embed_tokens.weight', [vocab, h], embed]);
  const ones = (n: number): Float32Array => new Float32Array(n).fill(1);
  for (let layer = 0; layer < options.layers; layer++) {
    const p = `model.layers.${layer}`;
    tensors.push(
      [`${p}.input_layernorm.weight`, [h], ones(h)],
      [`${p}.self_attn.q_proj.weight`, [h, h], randomTensor(h * h, 0.02, next)],
      [
        `${p}.self_attn.k_proj.weight`,
        [kvHeads * headDim, h],
        randomTensor(kvHeads * headDim * h, 0.02, next),
      ],
      [
        `${p}.self_attn.v_proj.weight`,
        [kvHeads * headDim, h],
        randomTensor(kvHeads * headDim * h, 0.02, next),
      ],
      [`${p}.self_attn.o_proj.weight`, [h, h], randomTensor(h * h, 1e-3, next)],
      [`${p}.post_attention_layernorm.weight`, [h], ones(h)],
      [`${p}.mlp.gate_proj.weight`, [m, h], randomTensor(m * h, 0.02, next)],
      [`${p}.mlp.up_proj.weight`, [m, h], randomTensor(m * h, 0.02, next)],
      [`${p}.mlp.down_proj.weight`, [h, m], randomTensor(h * m, 1e-3, next)],
    );
  }
  tensors.push(['model.norm.weight', [h], ones(h)]);
  const head = randomTensor(vocab * h, 0.02, next);
  for (const [from, to] of successors(dir, options)) {
    const row = embed.subarray(from * h, (from + 1) * h);
    const norm = Math.hypot(...row);
    for (let i = 0; i < h; i++) head[to * h + i] += (8 * row[i]) / norm;
  }
  tensors.push(['lm_head.weight', [vocab, h], head]);
  writeSafetensors(join(dir, 'model.safetensors'), tensors);
  return dir;
}

function writeSafetensors(path: string, tensors: [string, number[], Float32Array][]): void {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  const data: Buffer[] = [];
  let offset = 0;
  for (const [name, shape, values] of tensors) {
    const bytes = toBf16(values);
    header[name] = { dtype: 'BF16', shape, data_offsets: [offset, offset + bytes.length] };
    data.push(bytes);
    offset += bytes.length;
  }
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(headerBytes.length));
  writeFileSync(path, Buffer.concat([length, headerBytes, ...data]));
}
