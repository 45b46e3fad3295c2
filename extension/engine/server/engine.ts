// The engine's state behind the protocol: the loaded model, its tokenizer and prompt, and the synced workspace
// context. No JSON-RPC here: cancellation comes in as an AbortSignal, streaming as callbacks.
import { resolve } from 'node:path';
import { findReferences } from '../answer/citations';
import { askPrompt, BOUNDARY_MARGIN, defaultAnswerTokens, type AskPrompt } from '../answer/prompt';
import { streamAnswer } from '../answer/stream';
import { HipError } from '../errors';
import { GREEDY } from '../generate';
import { loadModelFiles, readModelFiles, type LoadedModel } from '../model/load';
import type {
  AskParams,
  AskResult,
  ContextReport,
  InitializeParams,
  InitializeResult,
  ProgressParams,
  StatusResult,
  SyncWorkspaceParams,
} from '../protocol';
import { PROTOCOL_VERSION } from '../protocol';
import type { TextTokenizer } from '../text/tokenizer';
import { buildContext, contextText, DEFAULT_MAX_FILE_BYTES, type WorkspaceContext } from '../workspace';
import type { Logger } from './log';

interface Loaded {
  model: LoadedModel;
  tokenizer: TextTokenizer;
  prompt: AskPrompt;
  backend: 'cpu' | 'cuda';
}

/** Tokens reserved for the question when the context is built (the question is not known yet). */
function questionReserve(modelContext: number): number {
  return Math.min(256, Math.floor(modelContext / 8));
}

function cancelled(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new HipError('E_CANCELLED', `${what} was cancelled`);
}

function optionalInt(value: unknown, name: string, min: number): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new HipError(
      'E_INVALID_ARGUMENT',
      `${name} must be an integer >= ${min}, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function stringList(value: unknown, name: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string' || item === '')) {
    throw new HipError('E_INVALID_ARGUMENT', `${name} must be an array of non-empty strings`);
  }
  return value as string[];
}

export class Engine {
  private loaded: Loaded | undefined;
  private context: WorkspaceContext | undefined;
  private running = new Set<string>();

  constructor(private readonly log: Logger) {}

  /** Runs `work` as the only `kind` operation in flight (E_BUSY otherwise). */
  private async exclusive<T>(kind: string, work: () => Promise<T>): Promise<T> {
    if (this.running.has(kind)) {
      throw new HipError('E_BUSY', `another ${kind} is running; wait for it or cancel it first`);
    }
    this.running.add(kind);
    try {
      return await work();
    } finally {
      this.running.delete(kind);
    }
  }

  private requireModel(): Loaded {
    if (!this.loaded) {
      throw new HipError('E_INVALID_ARGUMENT', 'no model is loaded; send hipcode/initialize first');
    }
    return this.loaded;
  }

  private checkIdle(what: string): void {
    if (this.running.size > 0) {
      throw new HipError('E_BUSY', `cannot ${what} while ${[...this.running].join(' and ')} is running`);
    }
  }

  async initialize(params: InitializeParams): Promise<InitializeResult> {
    if (typeof params?.modelDir !== 'string' || params.modelDir === '') {
      throw new HipError('E_INVALID_ARGUMENT', 'initialize needs modelDir, a Hugging Face model folder');
    }
    const backend = params.backend ?? 'auto';
    if (!['cpu', 'cuda', 'auto'].includes(backend)) {
      throw new HipError(
        'E_INVALID_ARGUMENT',
        `backend must be cpu, cuda or auto, got ${JSON.stringify(backend)}`,
      );
    }
    const threads = optionalInt(params.threads, 'threads', 0);
    const device = optionalInt(params.device, 'device', 0);
    this.checkIdle('initialize');
    return this.exclusive('initialize', async () => {
      this.log.info(`loading ${resolve(params.modelDir)} (backend ${backend})`);
      const files = readModelFiles(params.modelDir);
      const model = await loadModelFiles(files, {
        backend,
        threads,
        device,
        log: (line) => this.log.warn(line),
      });
      const tokenizer = model.tokenizer;
      if (!tokenizer) throw new HipError('E_INTERNAL', 'the model was loaded without its tokenizer');
      let prompt: AskPrompt;
      try {
        prompt = askPrompt(model.dir, tokenizer);
      } catch (error) {
        model.native.dispose();
        throw error;
      }
      this.dispose();
      const loadedBackend = model.native.backend === 'cuda' ? 'cuda' : 'cpu';
      this.loaded = { model, tokenizer, prompt, backend: loadedBackend };
      this.log.info(`model loaded on ${loadedBackend}: ${model.config.architecture}`);
      return {
        protocolVersion: PROTOCOL_VERSION,
        model: {
          dir: model.dir,
          architecture: model.config.architecture,
          contextLength: model.config.maxPositionEmbeddings,
          vocabSize: model.config.vocabSize,
        },
        backend: loadedBackend,
      };
    });
  }

  /** The context budget of a sync: the model context less prompt, question and answer reserves, capped. */
  private syncBudget(loaded: Loaded, maxTokens: number | undefined): number {
    const modelContext = loaded.model.config.maxPositionEmbeddings;
    const reserve =
      loaded.prompt.overhead('?') +
      questionReserve(modelContext) +
      defaultAnswerTokens(modelContext) +
      BOUNDARY_MARGIN;
    return Math.max(0, Math.min(modelContext - reserve, maxTokens ?? Number.MAX_SAFE_INTEGER));
  }

  /** scan → order → render → budget, as buildContext does, with progress and cancellation between batches. */
  async syncWorkspace(
    params: SyncWorkspaceParams,
    signal: AbortSignal,
    progress: (params: ProgressParams) => void,
  ): Promise<ContextReport> {
    const loaded = this.requireModel();
    const roots = stringList(params?.roots, 'roots');
    if (!roots || roots.length === 0) {
      throw new HipError('E_INVALID_ARGUMENT', 'syncWorkspace needs roots, at least one folder');
    }
    const include = stringList(params.include, 'include');
    const exclude = stringList(params.exclude, 'exclude');
    const maxTokens = optionalInt(params.maxTokens, 'maxTokens', 0);
    const maxFileBytes = optionalInt(params.maxFileBytes, 'maxFileBytes', 1) ?? DEFAULT_MAX_FILE_BYTES;
    const buffers = params.buffers ? new Map(Object.entries(params.buffers)) : undefined;
    const requestId = params.requestId;
    return this.exclusive('syncWorkspace', async () => {
      const started = performance.now();
      const budget = this.syncBudget(loaded, maxTokens);
      const tokenize = (text: string): readonly number[] =>
        loaded.tokenizer.encode(text, { addSpecialTokens: false });
      this.context = await buildContext({
        roots,
        include,
        exclude,
        maxFileBytes,
        buffers,
        signal,
        tokenize,
        budget,
        onProgress: (step) => progress({ requestId, ...step }),
      });
      const seconds = (performance.now() - started) / 1000;
      this.log.info(
        `context: ${this.context.included.length} files, ${this.context.tokens} of ${budget} tokens, ` +
          `${this.context.excluded.length} excluded (${seconds.toFixed(2)} s)`,
      );
      return this.report(this.context, loaded.model.config.maxPositionEmbeddings);
    });
  }

  private report(context: WorkspaceContext, modelContext: number): ContextReport {
    return {
      roots: context.roots,
      included: context.included.map((f) => ({
        path: f.path,
        language: f.language,
        bytes: f.bytes,
        tokens: f.tokens,
      })),
      excluded: context.excluded.map((e) => ({ path: e.path, kind: e.kind, code: e.code, reason: e.reason })),
      totals: {
        includedFiles: context.included.length,
        excludedEntries: context.excluded.length,
        tokens: context.tokens,
        budget: context.budget,
        modelContext,
      },
    };
  }

  async ask(params: AskParams, signal: AbortSignal, delta: (text: string) => void): Promise<AskResult> {
    const loaded = this.requireModel();
    if (typeof params?.question !== 'string' || params.question.trim() === '') {
      throw new HipError('E_INVALID_ARGUMENT', 'ask needs a non-empty question');
    }
    const requested = optionalInt(params.maxTokens, 'maxTokens', 1);
    const seed = optionalInt(params.seed, 'seed', 0) ?? 0;
    const temperature = params.temperature ?? 0;
    if (typeof temperature !== 'number' || !(temperature >= 0)) {
      throw new HipError('E_INVALID_ARGUMENT', `temperature must be a number >= 0, got ${temperature}`);
    }
    return this.exclusive('ask', async () => {
      const context = this.context;
      const modelContext = loaded.model.config.maxPositionEmbeddings;
      const ids = loaded.prompt.encode(context ? contextText(context) : '', params.question);
      const left = modelContext - ids.length;
      let maxTokens = requested ?? defaultAnswerTokens(modelContext);
      if (requested === undefined) maxTokens = Math.min(maxTokens, left);
      if (maxTokens < 1 || ids.length + maxTokens > modelContext) {
        throw new HipError(
          'E_CONTEXT_FULL',
          `the prompt (${ids.length} tokens) plus maxTokens ${maxTokens} exceed the model's ${modelContext}-token ` +
            `context; ask for at most ${Math.max(0, left)} tokens, or sync with a smaller maxTokens`,
        );
      }
      cancelled(signal, 'the answer');
      const { answer, generated, timings } = await streamAnswer(loaded.model.native, loaded.tokenizer, ids, {
        maxTokens,
        sampling: { ...GREEDY, temperature },
        seed,
        signal,
        onText: delta,
      });
      this.log.info(
        `answered: ${ids.length} prompt tokens, ${generated} generated in ${timings.totalSeconds.toFixed(2)} s`,
      );
      return {
        answer,
        references: findReferences(
          answer,
          (context?.included ?? []).map((file) => ({ path: file.path, text: file.source })),
        ),
        usage: { contextTokens: context?.tokens ?? 0, promptTokens: ids.length, generatedTokens: generated },
        timings,
      };
    });
  }

  status(): StatusResult {
    return {
      backend: this.loaded?.backend ?? null,
      modelDir: this.loaded?.model.dir ?? null,
      contextTokens: this.context?.tokens ?? 0,
      files: this.context?.included.length ?? 0,
      busy: this.running.size > 0,
    };
  }

  shutdown(): void {
    this.checkIdle('shut down');
    this.dispose();
    this.log.info('model disposed');
  }

  /** Disposes the native model (if any) and drops the context. */
  dispose(): void {
    this.context = undefined;
    const loaded = this.loaded;
    this.loaded = undefined;
    loaded?.model.native.dispose();
  }
}
