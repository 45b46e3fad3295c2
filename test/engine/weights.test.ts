// Tests the mapping of Hugging Face tensor names to ModelWeightRefs: tied/untied heads, biases, missing, extra
// and mis-shaped tensors.
import assert from 'node:assert/strict';
import { HipError } from '../../extension/engine/errors';
import type { Checkpoint } from '../../extension/engine/model/checkpoint';
import { parseModelConfig, type ModelConfig } from '../../extension/engine/model/config';
import { mapWeights } from '../../extension/engine/model/weights';
import type { TensorRef } from '../../extension/engine/native';

// hidden 8, intermediate 12, 1 layer, 2 heads of 4, 1 kv head, vocab 10
function config(arch: string, extra: Record<string, unknown> = {}): ModelConfig {
  const raw = {
    architectures: [arch],
    hidden_size: 8,
    intermediate_size: 12,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    vocab_size: 10,
    ...extra,
  };
  return parseModelConfig(raw, 'config.json');
}

/** Hand-written tensor list of a one-layer Llama with these dims. */
function llamaTensors(): Record<string, number[]> {
  const p = 'model.layers.0';
  return {
    'model.embed_tokens.weight': [10, 8],
    [`${p}.input_layernorm.weight`]: [8],
    [`${p}.self_attn.q_proj.weight`]: [8, 8],
    [`${p}.self_attn.k_proj.weight`]: [4, 8],
    [`${p}.self_attn.v_proj.weight`]: [4, 8],
    [`${p}.self_attn.o_proj.weight`]: [8, 8],
    [`${p}.post_attention_layernorm.weight`]: [8],
    [`${p}.mlp.gate_proj.weight`]: [12, 8],
    [`${p}.mlp.up_proj.weight`]: [12, 8],
    [`${p}.mlp.down_proj.weight`]: [8, 12],
    'model.norm.weight': [8],
  };
}

function checkpoint(shapes: Record<string, number[]>): Checkpoint {
  const tensors = new Map<string, TensorRef>();
  let offset = 100;
  for (const [name, shape] of Object.entries(shapes)) {
    tensors.set(name, { file: '/m/model.safetensors', offset, dtype: 'bf16', shape });
    offset += 1000;
  }
  return { files: ['/m/model.safetensors'], tensors };
}

function assertHipError(fn: () => unknown, code: string, names: string[]): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof HipError, `expected a HipError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    for (const name of names) assert.ok(error.message.includes(name), `'${name}' not in: ${error.message}`);
    return true;
  });
}

describe('weight mapping', () => {
  it('maps an untied Llama', () => {
    const ckpt = checkpoint({ ...llamaTensors(), 'lm_head.weight': [10, 8] });
    const refs = mapWeights(config('LlamaForCausalLM'), ckpt);
    assert.equal(refs.layers.length, 1);
    assert.equal(refs.lmHead, ckpt.tensors.get('lm_head.weight'));
    assert.equal(refs.embed, ckpt.tensors.get('model.embed_tokens.weight'));
    assert.equal(refs.layers[0].k.weight, ckpt.tensors.get('model.layers.0.self_attn.k_proj.weight'));
    assert.equal(refs.layers[0].down.weight, ckpt.tensors.get('model.layers.0.mlp.down_proj.weight'));
    assert.equal(refs.layers[0].q.bias, undefined);
    assert.equal(refs.layers[0].qNorm, undefined);
  });

  it('uses the embeddings as lm_head when tied', () => {
    const ckpt = checkpoint(llamaTensors());
    const refs = mapWeights(config('LlamaForCausalLM', { tie_word_embeddings: true }), ckpt);
    assert.equal(refs.lmHead, refs.embed);
  });

  it('maps Qwen2 q/k/v biases and Qwen3 q/k norms', () => {
    const p = 'model.layers.0.self_attn';
    const qwen2 = checkpoint({
      ...llamaTensors(),
      [`${p}.q_proj.bias`]: [8],
      [`${p}.k_proj.bias`]: [4],
      [`${p}.v_proj.bias`]: [4],
      'lm_head.weight': [10, 8],
    });
    const refs2 = mapWeights(config('Qwen2ForCausalLM'), qwen2);
    assert.equal(refs2.layers[0].v.bias, qwen2.tensors.get(`${p}.v_proj.bias`));
    assert.equal(refs2.layers[0].o.bias, undefined);
    const qwen3 = checkpoint({ ...llamaTensors(), [`${p}.q_norm.weight`]: [4], [`${p}.k_norm.weight`]: [4] });
    const refs3 = mapWeights(config('Qwen3ForCausalLM', { tie_word_embeddings: true }), qwen3);
    assert.equal(refs3.layers[0].kNorm, qwen3.tensors.get(`${p}.k_norm.weight`));
  });

  it('names a missing tensor and the files', () => {
    const shapes = llamaTensors();
    delete shapes['model.layers.0.mlp.up_proj.weight'];
    assertHipError(
      () => mapWeights(config('LlamaForCausalLM', { tie_word_embeddings: true }), checkpoint(shapes)),
      'E_WEIGHTS',
      ['model.layers.0.mlp.up_proj.weight', '/m/model.safetensors'],
    );
  });

  it('requires lm_head when untied', () => {
    assertHipError(() => mapWeights(config('LlamaForCausalLM'), checkpoint(llamaTensors())), 'E_WEIGHTS', [
      'lm_head.weight',
    ]);
  });

  it('names a wrong shape with expected and actual', () => {
    const shapes = { ...llamaTensors(), 'model.layers.0.self_attn.k_proj.weight': [8, 8] };
    assertHipError(
      () => mapWeights(config('LlamaForCausalLM', { tie_word_embeddings: true }), checkpoint(shapes)),
      'E_WEIGHTS',
      ['model.layers.0.self_attn.k_proj.weight', '[8, 8]', '[4, 8]'],
    );
  });

  it('rejects a tensor that would change the math, ignores rotary inv_freq', () => {
    const tied = config('LlamaForCausalLM', { tie_word_embeddings: true });
    const extra = { ...llamaTensors(), 'model.layers.0.self_attn.o_proj.bias': [8] };
    assertHipError(() => mapWeights(tied, checkpoint(extra)), 'E_WEIGHTS', [
      'model.layers.0.self_attn.o_proj.bias',
    ]);
    const harmless = { ...llamaTensors(), 'model.layers.0.self_attn.rotary_emb.inv_freq': [2] };
    assert.equal(mapWeights(tied, checkpoint(harmless)).layers.length, 1);
  });
});
