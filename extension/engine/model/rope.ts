// Parses the RoPE settings of config.json (classic rope_theta/rope_scaling or rope_parameters) into a RopeSpec,
// resolving defaults exactly as transformers 5 modeling_rope_utils does.
import { HipError } from '../errors';
import { isObject, JsonFields, type JsonObject } from '../json-file';
import type { RopeSpec, RopeType } from '../native';

/** Keys every rope dict may hold besides the type-specific ones. */
const COMMON_KEYS = ['rope_type', 'type', 'rope_theta', 'partial_rotary_factor'];

/** Keys each supported rope type reads (transformers 5 `_validate_*_rope_parameters`). */
const TYPE_KEYS: Record<RopeType, string[]> = {
  default: [],
  linear: ['factor'],
  // transformers 5 scales dynamic NTK from config.max_position_embeddings and ignores this key
  dynamic: ['factor', 'original_max_position_embeddings'],
  llama3: ['factor', 'low_freq_factor', 'high_freq_factor', 'original_max_position_embeddings'],
  yarn: [
    'factor',
    'original_max_position_embeddings',
    'attention_factor',
    'beta_fast',
    'beta_slow',
    'mscale',
    'mscale_all_dim',
    'truncate',
  ],
};

const DEFAULT_THETA = 10000;

interface RopeSource {
  /** The rope dict ({} when the config has none). */
  dict: JsonObject;
  /** How errors name the dict, e.g. "config.json rope_scaling". */
  where: string;
}

function unsupported(message: string): HipError {
  return new HipError('E_UNSUPPORTED', message);
}

/** Picks the rope dict: rope_parameters (possibly per layer type), else rope_scaling, else none. */
function ropeSource(config: JsonObject, file: string): RopeSource {
  const params = config.rope_parameters;
  if (isObject(params)) {
    const values = Object.values(params);
    const perLayerType = values.length > 0 && values.every(isObject);
    if (!perLayerType) return { dict: params, where: `${file} rope_parameters` };
    const full = params.full_attention;
    if (!isObject(full)) {
      throw unsupported(
        `${file}: rope_parameters is keyed by layer type (${Object.keys(params).join(', ')}) without a ` +
          `'full_attention' entry; only full-attention layers are supported`,
      );
    }
    return { dict: full, where: `${file} rope_parameters.full_attention` };
  }
  if (params !== undefined && params !== null) {
    throw new HipError('E_CONFIG', `${file}: field 'rope_parameters' must be an object or null`);
  }
  const scaling = config.rope_scaling;
  if (isObject(scaling)) return { dict: scaling, where: `${file} rope_scaling` };
  if (scaling !== undefined && scaling !== null) {
    throw new HipError('E_CONFIG', `${file}: field 'rope_scaling' must be an object or null`);
  }
  return { dict: {}, where: file };
}

function ropeType(source: RopeSource): RopeType {
  const value = source.dict.rope_type ?? source.dict.type ?? 'default';
  if (typeof value === 'string' && Object.hasOwn(TYPE_KEYS, value)) return value as RopeType;
  throw unsupported(
    `${source.where}: rope type ${JSON.stringify(value)} is not supported; supported: ${Object.keys(TYPE_KEYS).join(', ')}`,
  );
}

function checkKeys(source: RopeSource, type: RopeType): void {
  const allowed = new Set([...COMMON_KEYS, ...TYPE_KEYS[type]]);
  for (const key of Object.keys(source.dict)) {
    if (!allowed.has(key)) {
      throw unsupported(
        `${source.where}: key '${key}' is not supported for rope type '${type}' (it would change the RoPE math); ` +
          `allowed keys: ${[...allowed].join(', ')}`,
      );
    }
  }
}

function checkPartialRotary(config: JsonFields, dict: JsonFields): void {
  for (const fields of [dict, config]) {
    if (!fields.has('partial_rotary_factor')) continue;
    const value = fields.positiveNumber('partial_rotary_factor');
    if (value !== 1) {
      throw unsupported(`${fields.where}: partial_rotary_factor = ${value} is not supported (only 1.0)`);
    }
  }
}

/** yarn/llama3 pretraining length: a top-level original_max_position_embeddings wins, as in transformers. */
function originalMax(config: JsonFields, dict: JsonFields, maxPositions: number): number {
  if (config.has('original_max_position_embeddings'))
    return config.positiveInt('original_max_position_embeddings');
  return dict.positiveInt('original_max_position_embeddings', maxPositions);
}

/** transformers' get_mscale: 0.1·m·ln(scale) + 1 above 1, else 1. */
function mscale(scale: number, m = 1): number {
  return scale <= 1 ? 1 : 0.1 * m * Math.log(scale) + 1;
}

function yarnAttentionFactor(dict: JsonFields, factor: number): number {
  if (dict.has('attention_factor')) return dict.positiveNumber('attention_factor');
  const m = dict.has('mscale') ? dict.positiveNumber('mscale') : 0;
  const mAll = dict.has('mscale_all_dim') ? dict.positiveNumber('mscale_all_dim') : 0;
  return m && mAll ? mscale(factor, m) / mscale(factor, mAll) : mscale(factor);
}

/** transformers reads beta_fast/beta_slow with `or`, so 0 and null mean the default. */
function orDefault(dict: JsonFields, field: string, fallback: number): number {
  if (dict.object[field] === 0) return fallback;
  return dict.positiveNumber(field, fallback);
}

function neutralSpec(theta: number, maxPositions: number): RopeSpec {
  return {
    type: 'default',
    theta,
    factor: 1,
    originalMaxPositionEmbeddings: maxPositions,
    lowFreqFactor: 1,
    highFreqFactor: 1,
    betaFast: 32,
    betaSlow: 1,
    attentionFactor: 1,
    truncate: true,
  };
}

function yarnSpec(base: RopeSpec, config: JsonFields, dict: JsonFields, maxPositions: number): RopeSpec {
  const original = originalMax(config, dict, maxPositions);
  const factor = dict.positiveNumber('factor', maxPositions / original);
  return {
    ...base,
    type: 'yarn',
    factor,
    originalMaxPositionEmbeddings: original,
    attentionFactor: yarnAttentionFactor(dict, factor),
    betaFast: orDefault(dict, 'beta_fast', 32),
    betaSlow: orDefault(dict, 'beta_slow', 1),
    truncate: dict.boolean('truncate', true),
  };
}

/** Builds the RopeSpec of a config.json object; `maxPositions` is its validated max_position_embeddings. */
export function parseRope(raw: JsonObject, file: string, maxPositions: number): RopeSpec {
  const source = ropeSource(raw, file);
  const config = new JsonFields(raw, file);
  const dict = new JsonFields(source.dict, source.where);
  const type = ropeType(source);
  checkKeys(source, type);
  checkPartialRotary(config, dict);
  const theta = dict.has('rope_theta')
    ? dict.positiveNumber('rope_theta')
    : config.positiveNumber('rope_theta', DEFAULT_THETA);
  const base = neutralSpec(theta, maxPositions);
  switch (type) {
    case 'default':
      return base;
    case 'linear':
      return { ...base, type, factor: dict.positiveNumber('factor') };
    case 'dynamic':
      return { ...base, type, factor: dict.positiveNumber('factor') };
    case 'llama3':
      return {
        ...base,
        type,
        factor: dict.positiveNumber('factor'),
        lowFreqFactor: dict.positiveNumber('low_freq_factor'),
        highFreqFactor: dict.positiveNumber('high_freq_factor'),
        originalMaxPositionEmbeddings: originalMax(config, dict, maxPositions),
      };
    case 'yarn':
      return yarnSpec(base, config, dict, maxPositions);
  }
}
