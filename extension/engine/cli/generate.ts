// `hipcode generate`: streams generated text to stdout, or prints {"ids": [...]} with --json.
import { HipError } from '../errors';
import { generateTokens } from '../generate';
import type { LoadedModel, ModelFiles } from '../model/load';
import type { SamplingParams } from '../native';
import { Detokenizer } from '../text/detokenizer';
import { encodeChat, singleTurn } from '../text/prompt';
import type { TextTokenizer } from '../text/tokenizer';
import {
  checkIdsInVocab,
  exactlyOne,
  idsFlag,
  intFlag,
  MODEL_OPTIONS,
  numberFlag,
  optionalString,
  parseFlags,
  usage,
  type Values,
} from './args';
import { withModel } from './open-model';
import { writeJson, writeOut } from './output';

const OPTIONS = {
  ...MODEL_OPTIONS,
  prompt: { type: 'string' },
  chat: { type: 'string' },
  ids: { type: 'string' },
  system: { type: 'string' },
  'max-tokens': { type: 'string' },
  temperature: { type: 'string' },
  'top-p': { type: 'string' },
  'top-k': { type: 'string' },
  'min-p': { type: 'string' },
  'repetition-penalty': { type: 'string' },
  seed: { type: 'string' },
  json: { type: 'boolean' },
} as const;

const DEFAULT_MAX_TOKENS = 256;

function samplingFlags(values: Values): SamplingParams {
  return {
    temperature: numberFlag(values, 'temperature', 0, 0),
    topP: numberFlag(values, 'top-p', 1, 0, 1),
    topK: intFlag(values, 'top-k', 0),
    minP: numberFlag(values, 'min-p', 0, 0, 1),
    repetitionPenalty: numberFlag(values, 'repetition-penalty', 1, Number.MIN_VALUE),
  };
}

function tokenizerOf(model: LoadedModel): TextTokenizer {
  if (!model.tokenizer) throw new HipError('E_INTERNAL', 'the tokenizer was not loaded');
  return model.tokenizer;
}

/** The prompt ids from --prompt (special tokens added), --chat (template) or --ids. */
function promptIds(values: Values, input: string, model: LoadedModel): number[] {
  const tokenizer = tokenizerOf(model);
  if (input === 'ids') return idsFlag(values);
  if (input === 'prompt') return tokenizer.encode(optionalString(values, 'prompt') ?? '');
  const messages = singleTurn(optionalString(values, 'chat') ?? '', optionalString(values, 'system'));
  return encodeChat(model.dir, tokenizer, messages);
}

interface GenerateFlags {
  input: string;
  maxTokens: number;
  seed: number;
  sampling: SamplingParams;
}

/** Validates every flag before the (slow) model load. */
function generateFlags(values: Values): GenerateFlags {
  const input = exactlyOne(values, ['prompt', 'chat', 'ids']);
  if (values.system !== undefined && input !== 'chat') throw usage('--system only applies with --chat');
  if (input === 'ids') idsFlag(values);
  return {
    input,
    maxTokens: intFlag(values, 'max-tokens', DEFAULT_MAX_TOKENS, 1),
    seed: intFlag(values, 'seed', 0),
    sampling: samplingFlags(values),
  };
}

async function run(values: Values, flags: GenerateFlags, model: LoadedModel): Promise<void> {
  const tokenizer = tokenizerOf(model);
  const prompt = promptIds(values, flags.input, model);
  const session = model.native.createSession({
    maxTokens: prompt.length + flags.maxTokens,
    seed: flags.seed,
  });
  const detokenizer = new Detokenizer((ids) => tokenizer.decode(ids));
  const generated: number[] = [];
  try {
    const options = { maxTokens: flags.maxTokens, sampling: flags.sampling, stopIds: tokenizer.stopIds };
    for await (const id of generateTokens(session, prompt, options)) {
      generated.push(id);
      if (values.json || tokenizer.stopIds.has(id)) continue;
      const text = detokenizer.push(id);
      if (text) await writeOut(text);
    }
  } finally {
    session.dispose();
  }
  if (values.json) return writeJson({ ids: generated });
  await writeOut(detokenizer.flush() + (process.stdout.isTTY ? '\n' : ''));
}

export async function generateCommand(args: string[]): Promise<void> {
  const values = parseFlags('generate', args, OPTIONS);
  const flags = generateFlags(values);
  const check = (files: ModelFiles) => {
    if (flags.input === 'ids') checkIdsInVocab(idsFlag(values), files.config.vocabSize);
  };
  await withModel(values, { tokenizer: true, check }, (model) => run(values, flags, model));
}
