// Tests config.json parsing: architectures, derived fields, biases, sliding windows and every RoPE layout and type
// against hand-computed RopeSpecs (transformers 5 semantics).
import assert from 'node:assert/strict';
import { HipError } from '../../extension/engine/errors';
import { parseModelConfig, toGeometry } from '../../extension/engine/model/config';
import type { RopeSpec } from '../../extension/engine/native';

const FILE = '/models/x/config.json';

function llama(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: 64,
    intermediate_size: 128,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    vocab_size: 100,
    rms_norm_eps: 1e-5,
    max_position_embeddings: 256,
    rope_theta: 500000,
    ...extra,
  };
}

function withArch(arch: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return llama({ architectures: [arch], ...extra });
}

function rope(extra: Record<string, unknown>): RopeSpec {
  return parseModelConfig(llama(extra), FILE).rope;
}

/** Fields of a RopeSpec that the type does not use, at their neutral values. */
const NEUTRAL = {
  factor: 1,
  originalMaxPositionEmbeddings: 256,
  lowFreqFactor: 1,
  highFreqFactor: 1,
  betaFast: 32,
  betaSlow: 1,
  attentionFactor: 1,
  truncate: true,
};

function assertHipError(fn: () => unknown, code: string, names: string[]): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof HipError, `expected a HipError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    for (const name of names) assert.ok(error.message.includes(name), `'${name}' not in: ${error.message}`);
    return true;
  });
}

describe('model config', () => {
  it('parses a classic Llama config', () => {
    const config = parseModelConfig(llama({ torch_dtype: 'bfloat16', eos_token_id: [5, 7] }), FILE);
    assert.equal(config.architecture, 'LlamaForCausalLM');
    assert.equal(config.headDim, 16);
    assert.equal(config.numKvHeads, 2);
    assert.equal(config.rmsNormEps, 1e-5);
    assert.equal(config.tieWordEmbeddings, false);
    assert.equal(config.dtype, 'bfloat16');
    assert.deepEqual(config.eosTokenIds, [5, 7]);
    assert.deepEqual(config.rope, { type: 'default', theta: 500000, ...NEUTRAL });
    assert.equal(config.slidingWindow, 0);
  });

  it('builds the native geometry', () => {
    const geometry = toGeometry(parseModelConfig(llama(), FILE));
    assert.deepEqual(geometry, {
      hiddenSize: 64,
      intermediateSize: 128,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 2,
      headDim: 16,
      vocabSize: 100,
      rmsNormEps: 1e-5,
      slidingWindow: 0,
      maxPositionEmbeddings: 256,
      rope: { type: 'default', theta: 500000, ...NEUTRAL },
    });
  });

  it('defaults num_key_value_heads to num_attention_heads and reads dtype (new layout)', () => {
    const raw = llama({ dtype: 'float16' });
    delete raw.num_key_value_heads;
    const config = parseModelConfig(raw, FILE);
    assert.equal(config.numKvHeads, 4);
    assert.equal(config.dtype, 'float16');
  });

  it('keeps an explicit head_dim and rejects an odd one', () => {
    assert.equal(parseModelConfig(llama({ head_dim: 24 }), FILE).headDim, 24);
    assertHipError(() => parseModelConfig(llama({ head_dim: 15 }), FILE), 'E_CONFIG', [
      FILE,
      'head_dim',
      '15',
    ]);
  });

  it('falls back to model_type when architectures is absent', () => {
    const raw = llama({ model_type: 'qwen3' });
    delete raw.architectures;
    assert.equal(parseModelConfig(raw, FILE).architecture, 'Qwen3ForCausalLM');
  });

  it('rejects unsupported architectures listing the supported ones', () => {
    assertHipError(() => parseModelConfig(withArch('GPT2LMHeadModel'), FILE), 'E_UNSUPPORTED', [
      FILE,
      'GPT2LMHeadModel',
      'LlamaForCausalLM',
      'Qwen3ForCausalLM',
    ]);
  });

  it('rejects activations other than silu', () => {
    assertHipError(() => parseModelConfig(llama({ hidden_act: 'gelu' }), FILE), 'E_UNSUPPORTED', ['gelu']);
  });

  it('names a missing or invalid field', () => {
    const raw = llama();
    delete raw.hidden_size;
    assertHipError(() => parseModelConfig(raw, FILE), 'E_CONFIG', [FILE, 'hidden_size', 'positive integer']);
    assertHipError(() => parseModelConfig(llama({ vocab_size: 1.5 }), FILE), 'E_CONFIG', [
      'vocab_size',
      '1.5',
    ]);
    assertHipError(() => parseModelConfig(llama({ rms_norm_eps: '1e-6' }), FILE), 'E_CONFIG', [
      'rms_norm_eps',
    ]);
  });

  it('rejects kv heads that do not divide the heads', () => {
    assertHipError(() => parseModelConfig(llama({ num_key_value_heads: 3 }), FILE), 'E_CONFIG', [
      'num_key_value_heads',
    ]);
  });

  it('sets the biases per architecture', () => {
    const pick = (arch: string, extra: Record<string, unknown> = {}) => {
      const c = parseModelConfig(withArch(arch, extra), FILE);
      return [c.qkvBias, c.oBias, c.mlpBias, c.qkNorm];
    };
    assert.deepEqual(pick('LlamaForCausalLM'), [false, false, false, false]);
    assert.deepEqual(pick('LlamaForCausalLM', { attention_bias: true, mlp_bias: true }), [
      true,
      true,
      true,
      false,
    ]);
    assert.deepEqual(pick('MistralForCausalLM', { attention_bias: true }), [false, false, false, false]);
    assert.deepEqual(pick('Qwen2ForCausalLM'), [true, false, false, false]);
    assert.deepEqual(pick('Qwen3ForCausalLM'), [false, false, false, true]);
    assert.deepEqual(pick('Qwen3ForCausalLM', { attention_bias: true }), [true, true, false, true]);
  });

  it('reads tie_word_embeddings', () => {
    assert.equal(
      parseModelConfig(withArch('Qwen2ForCausalLM', { tie_word_embeddings: true }), FILE).tieWordEmbeddings,
      true,
    );
  });

  it('handles sliding windows', () => {
    const window = (arch: string, extra: Record<string, unknown>) =>
      parseModelConfig(withArch(arch, extra), FILE).slidingWindow;
    assert.equal(window('MistralForCausalLM', { sliding_window: 8 }), 8);
    assert.equal(window('MistralForCausalLM', { sliding_window: null }), 0);
    assert.equal(window('MistralForCausalLM', {}), 4096);
    assert.equal(window('Qwen2ForCausalLM', { sliding_window: 4, use_sliding_window: false }), 0);
    assertHipError(
      () => window('Qwen3ForCausalLM', { sliding_window: 4, use_sliding_window: true }),
      'E_UNSUPPORTED',
      ['sliding-window layers of Qwen2/Qwen3 are not supported'],
    );
  });
});

describe('rope parameters', () => {
  it('linear, legacy "type" key (classic layout)', () => {
    assert.deepEqual(rope({ rope_theta: 10000, rope_scaling: { type: 'linear', factor: 2.5 } }), {
      ...NEUTRAL,
      type: 'linear',
      theta: 10000,
      factor: 2.5,
    });
  });

  it('dynamic uses max_position_embeddings as the original length', () => {
    assert.deepEqual(
      rope({ max_position_embeddings: 16, rope_scaling: { rope_type: 'dynamic', factor: 2 } }),
      {
        ...NEUTRAL,
        type: 'dynamic',
        theta: 500000,
        factor: 2,
        originalMaxPositionEmbeddings: 16,
      },
    );
  });

  it('llama3 from rope_parameters (new layout, theta inside the dict)', () => {
    const raw = llama({
      rope_theta: undefined,
      rope_parameters: {
        rope_type: 'llama3',
        rope_theta: 10000,
        factor: 8,
        low_freq_factor: 1,
        high_freq_factor: 4,
        original_max_position_embeddings: 64,
      },
    });
    assert.deepEqual(parseModelConfig(raw, FILE).rope, {
      ...NEUTRAL,
      type: 'llama3',
      theta: 10000,
      factor: 8,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositionEmbeddings: 64,
    });
  });

  it('llama3 requires its fields', () => {
    assertHipError(
      () => rope({ rope_scaling: { rope_type: 'llama3', factor: 8, high_freq_factor: 4 } }),
      'E_CONFIG',
      [FILE, 'rope_scaling', 'low_freq_factor'],
    );
  });

  it('yarn defaults: attention factor 0.1·ln(factor)+1, betas 32/1, truncate', () => {
    const spec = rope({
      max_position_embeddings: 128,
      rope_parameters: {
        rope_type: 'yarn',
        rope_theta: 10000,
        factor: 4,
        original_max_position_embeddings: 32,
      },
    });
    assert.deepEqual(spec, {
      ...NEUTRAL,
      type: 'yarn',
      theta: 10000,
      factor: 4,
      originalMaxPositionEmbeddings: 32,
      attentionFactor: 1.1386294361119891, // 0.1 · ln 4 + 1
    });
  });

  it('yarn: explicit attention_factor, beta 0 means default, truncate false, original from max positions', () => {
    const spec = rope({
      rope_scaling: {
        type: 'yarn',
        factor: 2,
        attention_factor: 0.5,
        beta_fast: 0,
        beta_slow: 2,
        truncate: false,
      },
    });
    assert.equal(spec.attentionFactor, 0.5);
    assert.equal(spec.betaFast, 32);
    assert.equal(spec.betaSlow, 2);
    assert.equal(spec.truncate, false);
    assert.equal(spec.originalMaxPositionEmbeddings, 256);
    assert.equal(spec.factor, 2);
  });

  it('yarn: mscale / mscale_all_dim', () => {
    const both = rope({ rope_scaling: { rope_type: 'yarn', factor: 4, mscale: 2, mscale_all_dim: 1 } });
    assert.ok(Math.abs(both.attentionFactor - (1 + 0.2 * Math.log(4)) / (1 + 0.1 * Math.log(4))) < 1e-15);
    const onlyOne = rope({ rope_scaling: { rope_type: 'yarn', factor: 4, mscale: 2 } });
    assert.ok(Math.abs(onlyOne.attentionFactor - (1 + 0.1 * Math.log(4))) < 1e-15);
  });

  it('takes the full_attention entry of per-layer-type rope_parameters', () => {
    const spec = rope({
      rope_parameters: {
        full_attention: { rope_type: 'linear', rope_theta: 1000, factor: 3 },
        sliding_attention: { rope_type: 'default', rope_theta: 10 },
      },
    });
    assert.deepEqual(spec, { ...NEUTRAL, type: 'linear', theta: 1000, factor: 3 });
    assertHipError(
      () => rope({ rope_parameters: { sliding_attention: { rope_type: 'default', rope_theta: 10 } } }),
      'E_UNSUPPORTED',
      ['full_attention'],
    );
  });

  it('rejects unsupported rope types, partial rotary factors and unknown keys', () => {
    assertHipError(
      () => rope({ rope_scaling: { rope_type: 'longrope', short_factor: [] } }),
      'E_UNSUPPORTED',
      ['longrope'],
    );
    assertHipError(() => rope({ rope_scaling: { type: 'mrope', mrope_section: [1] } }), 'E_UNSUPPORTED', [
      'mrope',
    ]);
    assertHipError(() => rope({ partial_rotary_factor: 0.5 }), 'E_UNSUPPORTED', [
      'partial_rotary_factor',
      '0.5',
    ]);
    assertHipError(
      () => rope({ rope_parameters: { rope_type: 'default', rope_theta: 1, partial_rotary_factor: 0.25 } }),
      'E_UNSUPPORTED',
      ['partial_rotary_factor'],
    );
    assertHipError(
      () => rope({ rope_scaling: { rope_type: 'linear', factor: 2, mscale: 3 } }),
      'E_UNSUPPORTED',
      ["'mscale'", 'linear'],
    );
  });

  it('accepts partial_rotary_factor 1', () => {
    assert.equal(rope({ partial_rotary_factor: 1 }).type, 'default');
  });
});
