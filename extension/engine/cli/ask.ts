// `hipcode ask`: answers a question over the workspace context, streaming the answer, then checks its citations.
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { findReferences } from '../answer/citations';
import { askPrompt, BOUNDARY_MARGIN, defaultAnswerTokens } from '../answer/prompt';
import { streamAnswer, tokensPerSecond } from '../answer/stream';
import type { AskResult as AnswerResult } from '../protocol';
import { HipError } from '../errors';
import { GREEDY } from '../generate';
import { readModelConfig } from '../model/config';
import { checkModelDir, type LoadedModel } from '../model/load';
import type { SamplingParams } from '../native';
import { loadTokenizer, type TextTokenizer } from '../text/tokenizer';
import { contextText, type WorkspaceContext } from '../workspace';
import { intFlag, listFlag, MODEL_OPTIONS, numberFlag, usage, type Values } from './args';
import { withModel } from './open-model';
import { writeJson, writeOut } from './output';
import { flagsContext, WORKSPACE_OPTIONS } from './workspace-flags';

const OPTIONS = {
  ...MODEL_OPTIONS,
  ...WORKSPACE_OPTIONS,
  'max-tokens': { type: 'string' },
  'max-context-tokens': { type: 'string' },
  temperature: { type: 'string' },
  seed: { type: 'string' },
  json: { type: 'boolean' },
} as const;

/** What `hipcode ask --json` prints: the protocol's ask result and what went into the context. */
export interface AskResult extends AnswerResult {
  context: { files: number; excluded: number; budget: number; modelContext: number };
}

interface AskFlags {
  values: Values;
  question: string;
  model: string;
  roots: string[];
  /** Answer tokens; 0 (not given) until the model context sets the default. */
  maxTokens: number;
  maxContextTokens: number;
  sampling: SamplingParams;
  seed: number;
  json: boolean;
}

function log(line: string): void {
  process.stderr.write(`hipcode ask: ${line}\n`);
}

/** Parses the flags and the one positional question; every mistake is E_USAGE. */
function parseAsk(args: string[]): AskFlags {
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({ args, options: OPTIONS, strict: true, allowPositionals: true }) as typeof parsed;
  } catch (error) {
    throw usage(`ask: ${(error as Error).message}`);
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1 || positionals[0].trim() === '')
    throw usage(`ask takes the question as one argument (quote it), got ${positionals.length}`);
  const model = values.model;
  if (typeof model !== 'string' || model === '') throw usage('--model is required and takes a value');
  const roots = listFlag(values, 'workspace');
  if (roots.length === 0) throw usage('--workspace is required and takes a folder');
  const temperature = numberFlag(values, 'temperature', 0, 0);
  return {
    values,
    question: positionals[0],
    model: resolve(model),
    roots,
    maxTokens: intFlag(values, 'max-tokens', 0, 1),
    maxContextTokens: intFlag(values, 'max-context-tokens', Number.MAX_SAFE_INTEGER, 0),
    sampling: { ...GREEDY, temperature },
    seed: intFlag(values, 'seed', 0),
    json: values.json === true,
  };
}

/** The tokens the workspace context may take: the model context less the prompt and answer reserve. */
function contextBudget(flags: AskFlags, modelContext: number, overhead: number): number {
  const left = modelContext - overhead - flags.maxTokens - BOUNDARY_MARGIN;
  if (left < 0) {
    throw new HipError(
      'E_CONTEXT_FULL',
      `the question and prompt (${overhead} tokens) plus --max-tokens ${flags.maxTokens} do not fit the model's ` +
        `${modelContext}-token context; lower --max-tokens or shorten the question`,
    );
  }
  return Math.min(left, flags.maxContextTokens);
}

/** The encoded prompt can exceed the sum of its parts where tokens merge at the seams; never past the model. */
function checkFits(promptTokens: number, maxTokens: number, modelContext: number): void {
  if (promptTokens + maxTokens <= modelContext) return;
  throw new HipError(
    'E_CONTEXT_FULL',
    `the prompt (${promptTokens} tokens) plus --max-tokens ${maxTokens} exceed the model's ${modelContext}-token ` +
      `context; lower --max-context-tokens or --max-tokens`,
  );
}

/** "3 binary, 1 over the token budget" and the paths of each class (at most 5 named). */
function summariseExcluded(context: WorkspaceContext): void {
  if (context.excluded.length === 0) return;
  const byCode = new Map<string, string[]>();
  for (const entry of context.excluded) {
    const paths = byCode.get(entry.code) ?? [];
    paths.push(entry.kind === 'folder' ? `${entry.path}/` : entry.path);
    byCode.set(entry.code, paths);
  }
  log(`excluded ${context.excluded.length} (run 'hipcode context' for every reason):`);
  for (const [code, paths] of byCode) {
    const named = paths.slice(0, 5).join(', ') + (paths.length > 5 ? `, … ${paths.length - 5} more` : '');
    log(`  ${paths.length} ${code}: ${named}`);
  }
}

/** Prefills the prompt and streams the answer (to stdout unless --json), timing both phases. */
function generate(model: LoadedModel, tokenizer: TextTokenizer, prompt: number[], flags: AskFlags) {
  return streamAnswer(model.native, tokenizer, prompt, {
    maxTokens: flags.maxTokens,
    sampling: flags.sampling,
    seed: flags.seed,
    onText: (text) => (flags.json ? undefined : writeOut(text)),
    onFirstToken: (seconds) =>
      log(
        `prefill: ${prompt.length} tokens in ${seconds.toFixed(2)} s ` +
          `(${tokensPerSecond(prompt.length, seconds)} tokens/s)`,
      ),
  });
}

/** The references and timings in words, after the streamed answer. */
function formatTail(result: AskResult): string {
  const lines = ['', '', `References (${result.references.length}):`];
  for (const ref of result.references) {
    const lines_ = ref.startLine === ref.endLine ? `${ref.startLine}` : `${ref.startLine}-${ref.endLine}`;
    lines.push(
      `  ${ref.verified ? '✓' : '✗'} ${ref.path}:${lines_}${ref.problem ? ` — ${ref.problem}` : ''}`,
    );
  }
  if (result.references.length === 0) lines.push('  (none)');
  const { timings: t, usage: u } = result;
  lines.push(
    `Timings: first token ${t.firstTokenSeconds.toFixed(2)} s, prefill ${t.prefillTokensPerSecond} tokens/s ` +
      `(${u.promptTokens} tokens), decode ${t.decodeTokensPerSecond} tokens/s (${u.generatedTokens} tokens)`,
  );
  return `${lines.join('\n')}\n`;
}

export async function askCommand(args: string[]): Promise<void> {
  const flags = parseAsk(args);
  checkModelDir(flags.model);
  const config = readModelConfig(flags.model);
  const modelContext = config.maxPositionEmbeddings;
  if (flags.maxTokens === 0) flags.maxTokens = defaultAnswerTokens(modelContext);
  const tokenizer = loadTokenizer(flags.model, config.eosTokenIds);
  const prompt = askPrompt(flags.model, tokenizer);
  const budget = contextBudget(flags, modelContext, prompt.overhead(flags.question));
  log(`scanning ${flags.roots.join(', ')} (context budget ${budget} of the model's ${modelContext} tokens)`);
  const context = await flagsContext(flags.values, flags.roots, budget, tokenizer);
  log(
    `context: ${context.included.length} files, ${context.tokens} tokens; ${context.excluded.length} excluded`,
  );
  summariseExcluded(context);
  const ids = prompt.encode(contextText(context), flags.question);
  checkFits(ids.length, flags.maxTokens, modelContext);
  const run = await withModel(flags.values, { tokenizer: false }, (model) =>
    generate(model, tokenizer, ids, flags),
  );
  const result: AskResult = {
    answer: run.answer,
    references: findReferences(
      run.answer,
      context.included.map((file) => ({ path: file.path, text: file.source })),
    ),
    usage: {
      contextTokens: context.tokens,
      promptTokens: ids.length,
      cachedTokens: 0,
      generatedTokens: run.generated,
    },
    timings: run.timings,
    context: { files: context.included.length, excluded: context.excluded.length, budget, modelContext },
  };
  await (flags.json ? writeJson(result) : writeOut(formatTail(result)));
}
