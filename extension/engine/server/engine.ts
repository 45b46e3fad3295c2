// The engine's state behind the protocol: the loaded model, its tokenizer and prompt, and the synced workspace
// context. No JSON-RPC here: cancellation comes in as an AbortSignal, streaming as callbacks.
import { resolve } from 'node:path';
import { findReferences } from '../answer/citations';
import { commonPrefixLength, ContextSession, type PrefillProgress } from '../answer/context-session';
import { askPrompt, BOUNDARY_MARGIN, defaultAnswerTokens, type AskPrompt } from '../answer/prompt';
import { streamOnSession } from '../answer/stream';
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
import { AskRequest, PROTOCOL_VERSION, SyncWorkspaceRequest } from '../protocol';
import type { TextTokenizer } from '../text/tokenizer';
import { buildContext, contextText, DEFAULT_MAX_FILE_BYTES, type WorkspaceContext } from '../workspace';
import type { Logger } from './log';
import { optionalInt, stringList } from './params';
import { Turns } from './turns';

interface Loaded {
  model: LoadedModel;
  tokenizer: TextTokenizer;
  prompt: AskPrompt;
  backend: 'cpu' | 'cuda';
  /** The one KV session, sized to the model's context; replaced when an ask needs another seed. */
  session: ContextSession;
  sessionSeed: number;
}

type Progress = (params: ProgressParams) => void;

/** Questions whose prompts differ right after the context: their common prefix is the stable one. */
const PROBE_QUESTIONS = ['a', 'Z?'] as const;

/** A session over the whole model context. */
function openSession(model: LoadedModel, seed: number): ContextSession {
  const capacity = model.config.maxPositionEmbeddings;
  return new ContextSession(model.native.createSession({ maxTokens: capacity, seed }), capacity);
}

/** ProgressParams of a prefill chunk. */
function prefillProgress(
  base: Pick<ProgressParams, 'requestId' | 'method'>,
  files: number,
  step: PrefillProgress,
): ProgressParams {
  return {
    ...base,
    phase: 'prefill',
    files,
    totalFiles: files,
    tokens: step.done,
    totalTokens: step.total,
    tokensPerSecond: step.tokensPerSecond,
    etaSeconds: step.etaSeconds,
  };
}

/** Tokens reserved for the question when the context is built (the question is not known yet). */
function questionReserve(modelContext: number): number {
  return Math.min(256, Math.floor(modelContext / 8));
}

/** The answer's token budget: the request's, or the default within what the prompt leaves; E_CONTEXT_FULL. */
function answerTokens(promptTokens: number, requested: number | undefined, modelContext: number): number {
  const left = modelContext - promptTokens;
  const maxTokens = requested ?? Math.min(defaultAnswerTokens(modelContext), left);
  if (maxTokens >= 1 && promptTokens + maxTokens <= modelContext) return maxTokens;
  throw new HipError(
    'E_CONTEXT_FULL',
    `the prompt (${promptTokens} tokens) plus maxTokens ${maxTokens} exceed the model's ${modelContext}-token ` +
      `context; ask for at most ${Math.max(0, left)} tokens, or sync with a smaller maxTokens`,
  );
}

export class Engine {
  private loaded: Loaded | undefined;
  private context: WorkspaceContext | undefined;
  private running = new Set<string>();
  /** Turns on the KV session: a sync's prefill, an ask. */
  private readonly turns = new Turns();

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
      const session = openSession(model, 0);
      this.loaded = { model, tokenizer, prompt, backend: loadedBackend, session, sessionSeed: 0 };
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

  /**
   * scan → order → render → budget (buildContext, with progress and cancellation between batches), then the
   * context's stable prefix into the KV session, in its turn.
   */
  async syncWorkspace(
    params: SyncWorkspaceParams,
    signal: AbortSignal,
    progress: Progress,
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
    const base = { requestId: params.requestId, method: SyncWorkspaceRequest.method };
    return this.exclusive('syncWorkspace', async () => {
      const started = performance.now();
      const budget = this.syncBudget(loaded, maxTokens);
      const tokenize = (text: string): readonly number[] =>
        loaded.tokenizer.encode(text, { addSpecialTokens: false });
      const context = await buildContext({
        roots,
        include,
        exclude,
        maxFileBytes,
        buffers,
        signal,
        tokenize,
        budget,
        onProgress: (step) => progress({ ...base, ...step }),
      });
      const seconds = (performance.now() - started) / 1000;
      this.log.info(
        `context: ${context.included.length} files, ${context.tokens} of ${budget} tokens, ` +
          `${context.excluded.length} excluded (${seconds.toFixed(2)} s)`,
      );
      await this.turns.run(signal, 'the workspace sync', async () => {
        this.context = context;
        await this.prefillContext(loaded, context, signal, (step) =>
          progress(prefillProgress(base, context.included.length, step)),
        );
      });
      return this.report(context, loaded.model.config.maxPositionEmbeddings);
    });
  }

  /** The prompt's ids up to where the question starts (compared, not assumed: tokens may merge there). */
  private stablePrefix(loaded: Loaded, context: WorkspaceContext): number[] {
    const text = contextText(context);
    const [a, b] = PROBE_QUESTIONS.map((question) => loaded.prompt.encode(text, question));
    return a.slice(0, commonPrefixLength(a, b));
  }

  /** Prefills the stable prefix of `context` into the session (only past what it already holds). */
  private async prefillContext(
    loaded: Loaded,
    context: WorkspaceContext,
    signal: AbortSignal,
    onProgress: (step: PrefillProgress) => void,
  ): Promise<void> {
    const prefix = this.stablePrefix(loaded, context);
    const result = await loaded.session.prefill(prefix, { signal, onProgress });
    this.log.info(
      `prefill: ${result.prefilled} tokens in ${result.seconds.toFixed(2)} s, ${result.reused} reused ` +
        `(${prefix.length} held)`,
    );
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

  async ask(
    params: AskParams,
    signal: AbortSignal,
    delta: (text: string) => void,
    progress: Progress = () => undefined,
  ): Promise<AskResult> {
    const loaded = this.requireModel();
    if (typeof params?.question !== 'string' || params.question.trim() === '') {
      throw new HipError('E_INVALID_ARGUMENT', 'ask needs a non-empty question');
    }
    const requested = optionalInt(params.maxTokens, 'maxTokens', 1);
    const seed = optionalInt(params.seed, 'seed', 0);
    const temperature = params.temperature ?? 0;
    if (typeof temperature !== 'number' || !(temperature >= 0)) {
      throw new HipError('E_INVALID_ARGUMENT', `temperature must be a number >= 0, got ${temperature}`);
    }
    const base = { requestId: params.requestId, method: AskRequest.method };
    return this.exclusive('ask', () =>
      this.turns.run(signal, 'the answer', async () => {
        const context = this.context;
        const modelContext = loaded.model.config.maxPositionEmbeddings;
        const ids = loaded.prompt.encode(context ? contextText(context) : '', params.question);
        const maxTokens = answerTokens(ids.length, requested, modelContext);
        if (temperature > 0 && seed !== undefined) this.reseed(loaded, seed);
        const started = performance.now();
        const files = context?.included.length ?? 0;
        const prefill = await loaded.session.prefill(ids.slice(0, -1), {
          signal,
          onProgress: (step) => progress(prefillProgress(base, files, step)),
        });
        const { answer, generated, timings } = await streamOnSession(
          loaded.session,
          loaded.tokenizer,
          ids.slice(-1),
          {
            maxTokens,
            sampling: { ...GREEDY, temperature },
            seed: loaded.sessionSeed,
            signal,
            onText: delta,
            startedAt: started,
            prefillTokens: prefill.prefilled + 1,
          },
        );
        this.log.info(
          `answered: ${ids.length} prompt tokens (${prefill.reused} cached), ${generated} generated in ` +
            `${timings.totalSeconds.toFixed(2)} s`,
        );
        return {
          answer,
          references: findReferences(
            answer,
            (context?.included ?? []).map((file) => ({ path: file.path, text: file.source })),
          ),
          usage: {
            contextTokens: context?.tokens ?? 0,
            promptTokens: ids.length,
            cachedTokens: prefill.reused,
            generatedTokens: generated,
          },
          timings,
        };
      }),
    );
  }

  /** Restarts the session seeded with `seed`, so a sampled answer is reproducible (the context is prefilled again). */
  private reseed(loaded: Loaded, seed: number): void {
    loaded.session.dispose();
    loaded.session = openSession(loaded.model, seed);
    loaded.sessionSeed = seed;
    this.log.info(`KV session restarted with seed ${seed}`);
  }

  status(): StatusResult {
    return {
      backend: this.loaded?.backend ?? null,
      modelDir: this.loaded?.model.dir ?? null,
      contextTokens: this.context?.tokens ?? 0,
      files: this.context?.included.length ?? 0,
      busy: this.running.size > 0 || this.turns.busy,
    };
  }

  shutdown(): void {
    this.checkIdle('shut down');
    this.dispose();
    this.log.info('model disposed');
  }

  /** Disposes the KV session and the native model (if any) and drops the context. */
  dispose(): void {
    this.context = undefined;
    const loaded = this.loaded;
    this.loaded = undefined;
    loaded?.session.dispose();
    loaded?.model.native.dispose();
  }
}
