// Loads a model folder's tokenizer (tokenizer.json + tokenizer_config.json) and its stop ids and sampling defaults.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { HipError } from '../errors';
import { isObject, JsonFields, readJsonObject, type JsonObject } from '../json-file';

export const TOKENIZER_FILE = 'tokenizer.json';
export const TOKENIZER_CONFIG_FILE = 'tokenizer_config.json';
export const GENERATION_CONFIG_FILE = 'generation_config.json';

/** Sampling settings a model folder recommends (generation_config.json); absent fields are omitted. */
export interface GenerationDefaults {
  doSample?: boolean;
  temperature?: number;
  topP?: number;
  topK?: number;
  repetitionPenalty?: number;
}

export interface EncodeOptions {
  /** Add the post-processor's special tokens (e.g. BOS), like transformers' default. Default true. */
  addSpecialTokens?: boolean;
}

/** Special tokens of tokenizer_config.json as strings (chat templates use them). */
export type SpecialTokens = Partial<Record<'bos_token' | 'eos_token' | 'unk_token' | 'pad_token', string>>;

/** A token string of tokenizer_config.json: a string or an AddedToken object with `content`. */
function tokenString(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (isObject(value) && typeof value.content === 'string') return value.content;
  return undefined;
}

function specialTokensOf(config: JsonObject): SpecialTokens {
  const result: SpecialTokens = {};
  for (const key of ['bos_token', 'eos_token', 'unk_token', 'pad_token'] as const) {
    const token = tokenString(config[key]);
    if (token !== undefined) result[key] = token;
  }
  return result;
}

function generationDefaultsOf(generation: JsonObject, file: string): GenerationDefaults {
  const fields = new JsonFields(generation, file);
  const result: GenerationDefaults = {};
  if (fields.has('do_sample')) result.doSample = fields.boolean('do_sample', false);
  if (typeof generation.temperature === 'number') result.temperature = generation.temperature;
  if (typeof generation.top_p === 'number') result.topP = generation.top_p;
  if (typeof generation.top_k === 'number') result.topK = generation.top_k;
  if (typeof generation.repetition_penalty === 'number')
    result.repetitionPenalty = generation.repetition_penalty;
  return result;
}

/** The text side of a model: encode/decode with Hugging Face semantics, stop ids, special tokens. */
export class TextTokenizer {
  constructor(
    private readonly tokenizer: Tokenizer,
    /** Parsed tokenizer_config.json ({} when absent). */
    readonly config: JsonObject,
    readonly specialTokens: SpecialTokens,
    /** Token ids that end generation. */
    readonly stopIds: ReadonlySet<number>,
    readonly generationDefaults: GenerationDefaults,
    private readonly cleanUpSpaces: boolean,
  ) {}

  /** Equals transformers' `tok(text)["input_ids"]` (special tokens added by default). */
  encode(text: string, options: EncodeOptions = {}): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids;
  }

  /** Equals transformers' `tok.decode(ids)` (special tokens kept). */
  decode(ids: readonly number[]): string {
    if (ids.length === 0) return '';
    return this.tokenizer.decode([...ids], { clean_up_tokenization_spaces: this.cleanUpSpaces });
  }

  tokenToId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }
}

function readOptionalJson(path: string, code: 'E_TOKENIZER' | 'E_CONFIG'): JsonObject {
  if (!existsSync(path)) return {};
  return readJsonObject(path, code, 'Fix or delete the file, or download the model again.');
}

function createTokenizer(json: JsonObject, config: JsonObject, path: string): Tokenizer {
  try {
    return new Tokenizer(json, config);
  } catch (error) {
    throw new HipError(
      'E_TOKENIZER',
      `${path} could not be loaded (${(error as Error).message}); this tokenizer type may not be supported`,
    );
  }
}

/**
 * Loads the tokenizer of `dir`; `configEosIds` are config.json's eos_token_id. Stop ids are the union of those,
 * generation_config.json's eos_token_id and the id of tokenizer_config.json's eos_token.
 */
export function loadTokenizer(dir: string, configEosIds: readonly number[] = []): TextTokenizer {
  const path = resolve(join(dir, TOKENIZER_FILE));
  if (!existsSync(path)) {
    throw new HipError(
      'E_TOKENIZER',
      `${path} is missing; the model folder needs the Hugging Face fast-tokenizer file tokenizer.json ` +
        `(download it with the model, or use --ids to pass token ids directly)`,
    );
  }
  const json = readJsonObject(path, 'E_TOKENIZER', 'Download tokenizer.json again.');
  const configPath = resolve(join(dir, TOKENIZER_CONFIG_FILE));
  const config = readOptionalJson(configPath, 'E_TOKENIZER');
  const generationPath = resolve(join(dir, GENERATION_CONFIG_FILE));
  const generation = readOptionalJson(generationPath, 'E_CONFIG');
  const tokenizer = createTokenizer(json, config, path);
  const specialTokens = specialTokensOf(config);
  const eosFromConfig =
    specialTokens.eos_token === undefined ? undefined : tokenizer.token_to_id(specialTokens.eos_token);
  const stopIds = new Set([
    ...configEosIds,
    ...new JsonFields(generation, generationPath).idList('eos_token_id'),
    ...(eosFromConfig === undefined ? [] : [eosFromConfig]),
  ]);
  const cleanUp = new JsonFields(config, configPath, 'E_TOKENIZER').boolean(
    'clean_up_tokenization_spaces',
    false,
  );
  return new TextTokenizer(
    tokenizer,
    config,
    specialTokens,
    stopIds,
    generationDefaultsOf(generation, generationPath),
    cleanUp,
  );
}
