// The `hipcode.*` settings: read and validated (each problem names the setting and what it expects), and which
// changes need an engine restart or a re-ingest. No vscode import: the reader is passed in.
import { KV_DTYPE_CHOICES, type AttentionMode, type KvDtype } from '../engine/native';
import type { BackendChoice } from '../engine/protocol';
import { parseSize } from '../engine/size';

export interface Settings {
  modelPath: string;
  modelFolders: string[];
  backend: BackendChoice;
  device: number;
  threads: number;
  /** Bytes; 0 = what the weights leave free. */
  gpuKvBudget: number;
  /** Bytes of pinned host memory for KV pages beyond the GPU budget; 0 = none; 'auto' = the engine chooses. */
  hostKvBudget: number | 'auto';
  /** How the KV cache keeps its rows; 'auto' = the backend's own (bf16 on CUDA, f32 on the CPU). */
  kvDtype: KvDtype | 'auto';
  attention: AttentionMode;
  /** 0 = the model's context. */
  maxContextTokens: number;
  include: string[];
  exclude: string[];
  maxFileBytes: number;
  maxTokens: number;
  temperature: number;
  seed: number;
  autoIngest: boolean;
}

export const DEFAULT_SETTINGS: Settings = {
  modelPath: '',
  modelFolders: [],
  backend: 'auto',
  device: 0,
  threads: 0,
  gpuKvBudget: 0,
  hostKvBudget: 'auto',
  kvDtype: 'auto',
  attention: 'auto',
  maxContextTokens: 0,
  include: [],
  exclude: [],
  maxFileBytes: 2 ** 20,
  maxTokens: 512,
  temperature: 0,
  seed: 0,
  autoIngest: true,
};

/** Settings that take effect only when the engine restarts (they choose how the model is loaded). */
export const RESTART_SETTINGS: readonly (keyof Settings)[] = [
  'modelPath',
  'backend',
  'device',
  'threads',
  'gpuKvBudget',
  'hostKvBudget',
  'kvDtype',
  'attention',
];

/** Settings that change what is in the context (a re-ingest applies them). */
export const REINGEST_SETTINGS: readonly (keyof Settings)[] = [
  'maxContextTokens',
  'include',
  'exclude',
  'maxFileBytes',
];

export interface ReadSettings {
  settings: Settings;
  /** One sentence per invalid setting (its default is used instead). */
  problems: string[];
}

type Check<T> = (value: unknown) => T | undefined;

const text: Check<string> = (value) => (typeof value === 'string' ? value.trim() : undefined);
const flag: Check<boolean> = (value) => (typeof value === 'boolean' ? value : undefined);
const globs: Check<string[]> = (value) =>
  Array.isArray(value) && value.every((item) => typeof item === 'string' && item.trim() !== '')
    ? value.map((item: string) => item.trim())
    : undefined;
const integer =
  (min: number): Check<number> =>
  (value) =>
    typeof value === 'number' && Number.isSafeInteger(value) && value >= min ? value : undefined;
const oneOf =
  <T extends string>(...choices: T[]): Check<T> =>
  (value) =>
    choices.includes(value as T) ? (value as T) : undefined;
const size: Check<number> = (value) => {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value !== 'string') return undefined;
  return value.trim() === '' ? 0 : parseSize(value);
};
/** A size where "auto" or empty leaves the choice to the engine (and 0 means none). */
const autoSize: Check<number | 'auto'> = (value) =>
  typeof value === 'string' && /^(auto)?$/i.test(value.trim()) ? 'auto' : size(value);
const temperature: Check<number> = (value) =>
  typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;

/** Each setting: its key under `hipcode.` (as package.json contributes it), its check, and what it expects. */
const SETTINGS: { [K in keyof Settings]: { key: string; check: Check<Settings[K]>; expected: string } } = {
  modelPath: { key: 'modelPath', check: text, expected: 'a folder path (or empty)' },
  modelFolders: { key: 'modelFolders', check: globs, expected: 'a list of folder paths' },
  backend: { key: 'backend', check: oneOf('auto', 'cpu', 'cuda'), expected: '"auto", "cpu" or "cuda"' },
  device: { key: 'device', check: integer(0), expected: 'a CUDA device number (0, 1, …)' },
  threads: { key: 'threads', check: integer(0), expected: 'a number of threads (0 = all)' },
  gpuKvBudget: {
    key: 'gpuKvBudget',
    check: size,
    expected: 'a size such as "16G" or "512M" (empty = automatic)',
  },
  hostKvBudget: {
    key: 'hostKvBudget',
    check: autoSize,
    expected: 'a size such as "48G" or "512M" ("auto" = automatic, "0" = none)',
  },
  kvDtype: {
    key: 'kvDtype',
    check: oneOf(...KV_DTYPE_CHOICES),
    expected: '"auto", "f32", "bf16" or "fp8-e4m3"',
  },
  attention: { key: 'attention', check: oneOf('auto', 'dense', 'hip'), expected: '"auto", "dense" or "hip"' },
  maxContextTokens: {
    key: 'maxContextTokens',
    check: integer(0),
    expected: 'a number of tokens (0 = the model context)',
  },
  include: { key: 'include', check: globs, expected: 'a list of non-empty globs' },
  exclude: { key: 'exclude', check: globs, expected: 'a list of non-empty globs' },
  maxFileBytes: { key: 'maxFileSize', check: size, expected: 'a size such as "1M" or "256K"' },
  maxTokens: { key: 'generation.maxTokens', check: integer(1), expected: 'a number of tokens, at least 1' },
  temperature: { key: 'generation.temperature', check: temperature, expected: 'a number >= 0 (0 = greedy)' },
  seed: { key: 'generation.seed', check: integer(0), expected: 'an integer >= 0' },
  autoIngest: { key: 'autoIngest', check: flag, expected: 'true or false' },
};

/** The key of each setting under `hipcode.`. */
export const SETTING_KEYS = Object.fromEntries(
  Object.entries(SETTINGS).map(([name, { key }]) => [name, key]),
) as Record<keyof Settings, string>;

function readOne<K extends keyof Settings>(
  key: K,
  get: (key: string) => unknown,
  problems: string[],
): Settings[K] {
  const { key: name, check, expected } = SETTINGS[key];
  const raw = get(name);
  if (raw === undefined || raw === null) return DEFAULT_SETTINGS[key];
  const value = check(raw);
  if (value !== undefined) return value;
  problems.push(
    `hipcode.${name} must be ${expected}, got ${JSON.stringify(raw)}; using the default ` +
      `${JSON.stringify(DEFAULT_SETTINGS[key])}. Fix it in the settings.`,
  );
  return DEFAULT_SETTINGS[key];
}

/** Reads every setting through `get` (the key below `hipcode.`), falling back to defaults for invalid values. */
export function readSettings(get: (key: string) => unknown): ReadSettings {
  const problems: string[] = [];
  const settings = Object.fromEntries(
    (Object.keys(SETTINGS) as (keyof Settings)[]).map((key) => [key, readOne(key, get, problems)]),
  ) as unknown as Settings;
  return { settings, problems };
}

/** The settings whose values differ (compared by value). */
export function changedSettings(before: Settings, after: Settings): (keyof Settings)[] {
  return (Object.keys(before) as (keyof Settings)[]).filter(
    (key) => JSON.stringify(before[key]) !== JSON.stringify(after[key]),
  );
}
