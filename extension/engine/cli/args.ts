// Command-line parsing helpers: node:util parseArgs wrapped so every mistake is an E_USAGE naming the flag.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { HipError } from '../errors';
import type { BackendChoice } from '../model/load';
import { KV_DTYPE_CHOICES, type AttentionMode, type HipSpec, type KvDtype } from '../native';
import { parseSize } from '../size';

export type Options = NonNullable<ParseArgsConfig['options']>;
export type Values = Record<string, string | boolean | undefined>;

/** Options every model command accepts. */
export const MODEL_OPTIONS: Options = {
  model: { type: 'string' },
  backend: { type: 'string' },
  threads: { type: 'string' },
  device: { type: 'string' },
  'gpu-kv-budget': { type: 'string' },
  'host-kv-budget': { type: 'string' },
  attention: { type: 'string' },
};

export function usage(message: string): HipError {
  return new HipError('E_USAGE', `${message} (run 'hipcode help' for usage)`);
}

/** Parses the flags of one command; unknown flags, missing values and positionals become E_USAGE. */
export function parseFlags(command: string, args: string[], options: Options): Values {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values as Values;
  } catch (error) {
    throw usage(`${command}: ${(error as Error).message}`);
  }
}

export function requireString(values: Values, flag: string): string {
  const value = values[flag];
  if (typeof value !== 'string' || value === '') throw usage(`--${flag} is required and takes a value`);
  return value;
}

export function optionalString(values: Values, flag: string): string | undefined {
  const value = values[flag];
  return typeof value === 'string' ? value : undefined;
}

/** An integer flag ≥ min; absent → fallback. */
export function intFlag(values: Values, flag: string, fallback: number, min = 0): number {
  const text = optionalString(values, flag);
  if (text === undefined) return fallback;
  const value = /^[+]?\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min) {
    throw usage(`--${flag} expects an integer >= ${min}, got '${text}'`);
  }
  return value;
}

/** A number flag within [min, max]; absent → fallback. */
export function numberFlag(
  values: Values,
  flag: string,
  fallback: number,
  min: number,
  max = Infinity,
): number {
  const text = optionalString(values, flag);
  if (text === undefined) return fallback;
  const value = text.trim() === '' ? NaN : Number(text);
  if (!Number.isFinite(value) || value < min || value > max) {
    const range = max === Infinity ? `>= ${min}` : `between ${min} and ${max}`;
    throw usage(`--${flag} expects a number ${range}, got '${text}'`);
  }
  return value;
}

/** Parses --ids "1,2,3" into non-negative integers. */
export function idsFlag(values: Values, flag = 'ids'): number[] {
  const text = requireString(values, flag);
  const parts = text.split(',').map((part) => part.trim());
  const ids = parts.map((part) => (/^\d+$/.test(part) ? Number(part) : NaN));
  if (ids.some((id) => !Number.isSafeInteger(id))) {
    throw usage(`--${flag} expects comma-separated non-negative token ids like 1,2,3, got '${text}'`);
  }
  return ids;
}

export function backendFlag(values: Values): BackendChoice {
  const value = optionalString(values, 'backend') ?? 'auto';
  if (value === 'auto' || value === 'cpu' || value === 'cuda') return value;
  throw usage(`--backend expects cpu, cuda or auto, got '${value}'`);
}

export function attentionFlag(values: Values): AttentionMode {
  const value = optionalString(values, 'attention') ?? 'dense';
  if (value === 'dense' || value === 'hip' || value === 'auto') return value;
  throw usage(`--attention expects dense, hip or auto, got '${value}'`);
}

/** --kv-dtype: how the KV cache keeps its rows (default auto: the backend's). */
export function kvDtypeFlag(values: Values): KvDtype | 'auto' {
  const value = optionalString(values, 'kv-dtype') ?? 'auto';
  const known = KV_DTYPE_CHOICES.find((choice) => choice === value);
  if (!known) throw usage(`--kv-dtype expects one of ${KV_DTYPE_CHOICES.join(', ')}, got '${value}'`);
  return known;
}

/** HIPCODE_HIP: a JSON object of HiP knobs (HipSpec in native.ts, e.g. {"thresholdTokens": 4096}) for
 * --attention hip|auto; absent → the defaults. */
export function hipSpecFromEnv(env: NodeJS.ProcessEnv = process.env): HipSpec | undefined {
  const text = env.HIPCODE_HIP;
  if (text === undefined || text.trim() === '') return undefined;
  let spec: unknown;
  try {
    spec = JSON.parse(text);
  } catch (error) {
    throw usage(`HIPCODE_HIP must be a JSON object of HiP settings: ${(error as Error).message}`);
  }
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
    throw usage(`HIPCODE_HIP must be a JSON object of HiP settings, got '${text}'`);
  }
  return spec as HipSpec;
}

/** Exactly one of `flags` must be given; returns its name. */
export function exactlyOne(values: Values, flags: string[]): string {
  const given = flags.filter((flag) => values[flag] !== undefined);
  if (given.length !== 1) {
    const list = flags.map((flag) => `--${flag}`).join(', ');
    throw usage(
      `give exactly one of ${list}${given.length > 1 ? ` (got ${given.map((f) => `--${f}`).join(' and ')})` : ''}`,
    );
  }
  return given[0];
}

/** Checks each id is a valid token of a vocabulary of `vocabSize`. */
export function checkIdsInVocab(ids: number[], vocabSize: number, flag = 'ids'): void {
  const bad = ids.find((id) => id >= vocabSize);
  if (bad !== undefined) {
    throw new HipError(
      'E_INVALID_ARGUMENT',
      `--${flag}: token id ${bad} is outside the vocabulary (0..${vocabSize - 1})`,
    );
  }
}

/** A byte size flag: a number with an optional K/M/G/T suffix (powers of 1024), e.g. 16G; absent → 0. */
export function sizeFlag(values: Values, flag: string): number {
  return optionalSizeFlag(values, flag) ?? 0;
}

/** A byte size flag as sizeFlag reads it, but absent → undefined (for flags whose absence means automatic). */
export function optionalSizeFlag(values: Values, flag: string): number | undefined {
  const text = optionalString(values, flag);
  if (text === undefined) return undefined;
  const bytes = parseSize(text);
  if (bytes === undefined)
    throw usage(`--${flag} expects a size such as 16G, 512M or a number of bytes, got '${text}'`);
  return bytes;
}

/** The values of a flag that may be repeated (none → []); each must be non-empty. */
export function listFlag(values: Values, flag: string): string[] {
  const raw: unknown = values[flag];
  const items = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  if (items.some((item) => typeof item !== 'string' || item === ''))
    throw usage(`--${flag} takes a non-empty value`);
  return items as string[];
}
