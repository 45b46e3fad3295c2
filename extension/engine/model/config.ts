// Parses config.json of a supported Hugging Face causal LM into a typed ModelConfig and the native ModelGeometry.
import { join, resolve } from 'node:path';
import { HipError } from '../errors';
import { JsonFields, readJsonObject, type JsonObject } from '../json-file';
import type { ModelGeometry, RopeSpec } from '../native';
import { parseRope } from './rope';

export const CONFIG_FILE = 'config.json';

export type Architecture =
  'LlamaForCausalLM' | 'MistralForCausalLM' | 'Qwen2ForCausalLM' | 'Qwen3ForCausalLM';

const MODEL_TYPES: Record<string, Architecture> = {
  llama: 'LlamaForCausalLM',
  mistral: 'MistralForCausalLM',
  qwen2: 'Qwen2ForCausalLM',
  qwen3: 'Qwen3ForCausalLM',
};
const ARCHITECTURES = Object.values(MODEL_TYPES);

/** Defaults of the transformers config classes for fields a config.json may omit. */
const CLASS_DEFAULTS: Record<Architecture, { maxPositions: number }> = {
  LlamaForCausalLM: { maxPositions: 2048 },
  MistralForCausalLM: { maxPositions: 4096 * 32 },
  Qwen2ForCausalLM: { maxPositions: 32768 },
  Qwen3ForCausalLM: { maxPositions: 32768 },
};

export interface ModelConfig {
  architecture: Architecture;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  rmsNormEps: number;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  /** Biases on q_proj, k_proj, v_proj. */
  qkvBias: boolean;
  /** Bias on o_proj. */
  oBias: boolean;
  /** Biases on gate_proj, up_proj, down_proj. */
  mlpBias: boolean;
  /** Qwen3 per-head RMSNorm of q and k. */
  qkNorm: boolean;
  /** 0 = no sliding window. */
  slidingWindow: number;
  /** Declared weight dtype ('dtype' or 'torch_dtype'), e.g. "bfloat16"; null when absent. */
  dtype: string | null;
  rope: RopeSpec;
  eosTokenIds: number[];
}

function unsupported(message: string): HipError {
  return new HipError('E_UNSUPPORTED', message);
}

function architectureOf(raw: JsonObject, file: string): Architecture {
  const listed = Array.isArray(raw.architectures) ? raw.architectures[0] : undefined;
  if (typeof listed === 'string') {
    if ((ARCHITECTURES as string[]).includes(listed)) return listed as Architecture;
    throw unsupported(
      `${file}: architecture '${listed}' is not supported; supported: ${ARCHITECTURES.join(', ')}`,
    );
  }
  const modelType = raw.model_type;
  if (typeof modelType === 'string' && Object.hasOwn(MODEL_TYPES, modelType)) return MODEL_TYPES[modelType];
  throw unsupported(
    `${file}: model_type ${JSON.stringify(modelType ?? null)} (no 'architectures' entry) is not supported; ` +
      `supported: ${ARCHITECTURES.join(', ')}`,
  );
}

function checkUnsupportedFeatures(fields: JsonFields, arch: Architecture): void {
  const act = fields.string('hidden_act', 'silu');
  if (act !== 'silu')
    throw unsupported(`${fields.where}: hidden_act '${act}' is not supported (only 'silu')`);
  if (fields.has('quantization_config')) {
    throw unsupported(
      `${fields.where}: quantized checkpoints (quantization_config) are not supported; use bf16/fp16 weights`,
    );
  }
  const isQwen = arch === 'Qwen2ForCausalLM' || arch === 'Qwen3ForCausalLM';
  if (isQwen && fields.boolean('use_sliding_window', false)) {
    throw unsupported(
      `${fields.where}: sliding-window layers of Qwen2/Qwen3 are not supported (use_sliding_window is true)`,
    );
  }
  const layerTypes = fields.object.layer_types;
  if (Array.isArray(layerTypes) && layerTypes.some((t) => t !== 'full_attention')) {
    throw unsupported(`${fields.where}: layer_types other than 'full_attention' are not supported`);
  }
}

function headDimOf(fields: JsonFields, hidden: number, heads: number): number {
  const explicit = fields.has('head_dim');
  if (!explicit && hidden % heads !== 0) {
    fields.fail(
      'head_dim',
      `given, because hidden_size ${hidden} is not divisible by num_attention_heads ${heads}`,
    );
  }
  const headDim = explicit ? fields.positiveInt('head_dim') : hidden / heads;
  if (headDim % 2 !== 0) {
    throw new HipError('E_CONFIG', `${fields.where}: head_dim ${headDim} must be even for RoPE`);
  }
  return headDim;
}

/** Mistral: a number or null (none); transformers' MistralConfig defaults to 4096 when the field is absent. */
function slidingWindowOf(fields: JsonFields, arch: Architecture): number {
  if (arch !== 'MistralForCausalLM') return 0;
  if (fields.object.sliding_window === null) return 0;
  return fields.positiveInt('sliding_window', 4096);
}

function dtypeOf(fields: JsonFields): string | null {
  const value = fields.object.dtype ?? fields.object.torch_dtype;
  return typeof value === 'string' ? value : null;
}

/** Parses the object of a config.json; `file` names it in errors. */
export function parseModelConfig(raw: JsonObject, file: string): ModelConfig {
  const architecture = architectureOf(raw, file);
  const fields = new JsonFields(raw, file);
  checkUnsupportedFeatures(fields, architecture);
  const hiddenSize = fields.positiveInt('hidden_size');
  const numHeads = fields.positiveInt('num_attention_heads');
  const numKvHeads = fields.positiveInt('num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0) {
    fields.fail('num_key_value_heads', `a divisor of num_attention_heads (${numHeads})`);
  }
  const maxPositionEmbeddings = fields.positiveInt(
    'max_position_embeddings',
    CLASS_DEFAULTS[architecture].maxPositions,
  );
  const isLlama = architecture === 'LlamaForCausalLM';
  const attentionBias = fields.boolean('attention_bias', false);
  return {
    architecture,
    hiddenSize,
    intermediateSize: fields.positiveInt('intermediate_size'),
    numLayers: fields.positiveInt('num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim: headDimOf(fields, hiddenSize, numHeads),
    vocabSize: fields.positiveInt('vocab_size'),
    rmsNormEps: fields.positiveNumber('rms_norm_eps', 1e-6),
    maxPositionEmbeddings,
    tieWordEmbeddings: fields.boolean('tie_word_embeddings', false),
    qkvBias:
      architecture === 'Qwen2ForCausalLM' ||
      ((isLlama || architecture === 'Qwen3ForCausalLM') && attentionBias),
    oBias: (isLlama || architecture === 'Qwen3ForCausalLM') && attentionBias,
    mlpBias: isLlama && fields.boolean('mlp_bias', false),
    qkNorm: architecture === 'Qwen3ForCausalLM',
    slidingWindow: slidingWindowOf(fields, architecture),
    dtype: dtypeOf(fields),
    rope: parseRope(raw, file, maxPositionEmbeddings),
    eosTokenIds: fields.idList('eos_token_id'),
  };
}

/** Reads and parses `<dir>/config.json`. */
export function readModelConfig(dir: string): ModelConfig {
  const file = resolve(join(dir, CONFIG_FILE));
  const raw = readJsonObject(file, 'E_CONFIG', 'A Hugging Face model folder needs a valid config.json.');
  return parseModelConfig(raw, file);
}

/** The geometry the native addon builds the model from. */
export function toGeometry(config: ModelConfig): ModelGeometry {
  return {
    hiddenSize: config.hiddenSize,
    intermediateSize: config.intermediateSize,
    numLayers: config.numLayers,
    numHeads: config.numHeads,
    numKvHeads: config.numKvHeads,
    headDim: config.headDim,
    vocabSize: config.vocabSize,
    rmsNormEps: config.rmsNormEps,
    slidingWindow: config.slidingWindow,
    maxPositionEmbeddings: config.maxPositionEmbeddings,
    rope: config.rope,
  };
}
