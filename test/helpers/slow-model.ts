// A model folder whose generation takes long enough to cancel or queue behind: a Llama of a few tens of millions of
// zero bf16 weights (greedy decoding repeats token 0 and never ends early), a long context, the qwen3 tokenizer.
import { copyFileSync, mkdtempSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { modelDir } from './fixtures';

const HIDDEN = 512;
const INTERMEDIATE = 1536;
const LAYERS = 8;
const HEADS = 8;
const VOCAB = 403;
export const SLOW_MODEL_CONTEXT = 4096;

const CONFIG = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  hidden_size: HIDDEN,
  intermediate_size: INTERMEDIATE,
  num_hidden_layers: LAYERS,
  num_attention_heads: HEADS,
  num_key_value_heads: HEADS,
  head_dim: HIDDEN / HEADS,
  hidden_act: 'silu',
  max_position_embeddings: SLOW_MODEL_CONTEXT,
  rms_norm_eps: 1e-6,
  rope_theta: 10000.0,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  vocab_size: VOCAB,
  bos_token_id: 400,
  eos_token_id: 402,
};

function tensorShapes(): [string, number[]][] {
  const shapes: [string, number[]][] = [['model.embed_tokens.weight', [VOCAB, HIDDEN]]];
  for (let il = 0; il < LAYERS; il++) {
    const p = `model.layers.${il}`;
    shapes.push(
      [`${p}.input_layernorm.weight`, [HIDDEN]],
      [`${p}.self_attn.q_proj.weight`, [HIDDEN, HIDDEN]],
      [`${p}.self_attn.k_proj.weight`, [HIDDEN, HIDDEN]],
      [`${p}.self_attn.v_proj.weight`, [HIDDEN, HIDDEN]],
      [`${p}.self_attn.o_proj.weight`, [HIDDEN, HIDDEN]],
      [`${p}.post_attention_layernorm.weight`, [HIDDEN]],
      [`${p}.mlp.gate_proj.weight`, [INTERMEDIATE, HIDDEN]],
      [`${p}.mlp.up_proj.weight`, [INTERMEDIATE, HIDDEN]],
      [`${p}.mlp.down_proj.weight`, [HIDDEN, INTERMEDIATE]],
    );
  }
  shapes.push(['model.norm.weight', [HIDDEN]]);
  return shapes;
}

/** Writes the safetensors header and leaves the zero data as a sparse hole. */
function writeZeroWeights(path: string): void {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const [name, shape] of tensorShapes()) {
    const bytes = shape.reduce((a, b) => a * b, 1) * 2;
    header[name] = { dtype: 'BF16', shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const text = Buffer.from(JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(text.length));
  writeFileSync(path, Buffer.concat([length, text]));
  truncateSync(path, 8 + text.length + offset);
}

/** Creates the slow model in a new temporary folder and returns the folder. */
export function makeSlowModel(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hipcode-slow-model-'));
  const tokenizerFrom = modelDir('qwen3');
  for (const file of [
    'tokenizer.json',
    'tokenizer_config.json',
    'chat_template.jinja',
    'generation_config.json',
  ])
    copyFileSync(join(tokenizerFrom, file), join(dir, file));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(CONFIG, null, 2));
  writeZeroWeights(join(dir, 'model.safetensors'));
  return dir;
}
