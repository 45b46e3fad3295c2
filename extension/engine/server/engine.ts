// The engine's state behind the protocol: the loaded model, its tokenizer, prompt and KV session, and the synced
// workspace context. No JSON-RPC here: cancellation comes in as an AbortSignal, notifications go out as callbacks.
import { randomInt } from 'node:crypto';
import { resolve } from 'node:path';
import { findReferences } from '../answer/citations';
import { ContextPrompt } from '../answer/context-prompt';
import {
  commonPrefixLength,
  ContextSession,
  type PrefillProgress,
  type PrefillResult,
} from '../answer/context-session';
import { askPrompt, defaultAnswerTokens, type AskPrompt, type ChatTurn } from '../answer/prompt';
import { streamOnSession } from '../answer/stream';
import { HipError, toHipError } from '../errors';
import { GREEDY } from '../generate';
import { loadModelFiles, readModelFiles, type LoadedModel } from '../model/load';
import { KV_DTYPE_CHOICES, loadAddon } from '../native';
import type {
  AskParams,
  AskResult,
  ContextChangedParams,
  ContextReport,
  DidChangeFilesParams,
  InitializeParams,
  InitializeResult,
  ModelInfo,
  ProgressParams,
  StatusResult,
  SyncWorkspaceParams,
} from '../protocol';
import { AskRequest, DidChangeFilesNotification, PROTOCOL_VERSION, SyncWorkspaceRequest } from '../protocol';
import type { TextTokenizer } from '../text/tokenizer';
import {
  buildContext,
  DEFAULT_MAX_FILE_BYTES,
  updateContext,
  type ContextOptions,
  type WorkspaceContext,
} from '../workspace';
import { answerTokens, contextBudget } from './budgets';
import { ChangeQueue, type PendingChanges } from './change-queue';
import { fitHistory, historyParam } from './history';
import type { Logger } from './log';
import { optionalChoice, optionalInt, stringList } from './params';
import { contextReport, prefillProgress, type ProgressBase } from './report';
import { Snapshots } from './snapshots';
import { gpuStatus, memoryStatus } from './status';
import { Turns } from './turns';

interface Loaded {
  model: LoadedModel;
  tokenizer: TextTokenizer;
  prompt: AskPrompt;
  backend: 'cpu' | 'cuda';
  /** The CUDA device ordinal asked for. */
  device: number;
  info: ModelInfo;
  /** The context's KV session, sized to the model's context: the synced workspace's stable prefix. */
  session: ContextSession;
  /**
   * The fork of `session` the last ask ran in (its question and answer on top of the context), which a follow-up
   * continues; disposed when the context changes.
   */
  chat: ContextSession | undefined;
  /** Where the context's KV is saved after a sync and restored from at the next; undefined when off. */
  snapshots: Snapshots | undefined;
}

/** The synced workspace: its context, its prompt, and the options it was read with (updates read with the same). */
interface Workspace {
  context: WorkspaceContext;
  prompt: ContextPrompt;
  options: Omit<ContextOptions, 'signal' | 'onProgress'> & { buffers: Map<string, string> };
}

/** Where the engine's notifications go. */
export interface EngineEvents {
  progress(params: ProgressParams): void;
  contextChanged(params: ContextChangedParams): void;
}

/** Questions whose prompts differ right after the context: their common prefix is the stable one. */
const PROBE_QUESTIONS = ['a', 'Z?'] as const;

/** An ask's parameters, validated. */
interface AskRequestOptions {
  question: string;
  history: ChatTurn[];
  /** maxTokens when given. */
  requested: number | undefined;
  seed: number | undefined;
  temperature: number;
  base: ProgressBase;
}

/** Validates AskParams (E_INVALID_ARGUMENT naming the field). */
function askRequest(params: AskParams): AskRequestOptions {
  if (typeof params?.question !== 'string' || params.question.trim() === '') {
    throw new HipError('E_INVALID_ARGUMENT', 'ask needs a non-empty question');
  }
  const temperature = params.temperature ?? 0;
  if (typeof temperature !== 'number' || !(temperature >= 0)) {
    throw new HipError('E_INVALID_ARGUMENT', `temperature must be a number >= 0, got ${temperature}`);
  }
  return {
    question: params.question,
    history: historyParam(params.history),
    requested: optionalInt(params.maxTokens, 'maxTokens', 1),
    seed: optionalInt(params.seed, 'seed', 0),
    temperature,
    base: { requestId: params.requestId, method: AskRequest.method },
  };
}

/** A session over the whole model context (it never samples: asks run in its forks, seeded by Engine.chatFor). */
function openSession(model: LoadedModel): ContextSession {
  const capacity = model.config.maxPositionEmbeddings;
  return new ContextSession(model.native.createSession({ maxTokens: capacity, seed: 0 }), capacity);
}

export class Engine {
  private loaded: Loaded | undefined;
  private workspace: Workspace | undefined;
  private running = new Set<string>();
  /** Turns on the KV session and the context: a sync's commit and prefill, an ask, an update. */
  private readonly turns = new Turns();
  /** Each prompt's stable prefix (stablePrefix), computed once. */
  private readonly stablePrefixes = new WeakMap<ContextPrompt, number[]>();
  private readonly changes = new ChangeQueue(() => void this.applyChanges());
  /** Aborts the prefill of an update or a snapshot save, which any request takes over. */
  private background = new AbortController();
  /** A sync's context still to be saved as a snapshot (retried after a request took the session over). */
  private snapshotDue = false;
  /** Snapshot saves running or waiting for their turn (background work: status does not count them as busy). */
  private snapshotTurns = 0;
  /** The save of a live-updated context, waiting for the edits to settle. */
  private snapshotTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: Logger,
    private readonly events: EngineEvents,
  ) {}

  private get context(): WorkspaceContext | undefined {
    return this.workspace?.context;
  }

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

  /** Stops an update's prefill so that a request can take the session. */
  private preempt(): void {
    this.background.abort();
    this.background = new AbortController();
  }

  async initialize(params: InitializeParams): Promise<InitializeResult> {
    if (typeof params?.modelDir !== 'string' || params.modelDir === '') {
      throw new HipError('E_INVALID_ARGUMENT', 'initialize needs modelDir, a Hugging Face model folder');
    }
    const backend = optionalChoice(params.backend, 'backend', ['cpu', 'cuda', 'auto'] as const) ?? 'auto';
    const attention =
      optionalChoice(params.attention, 'attention', ['dense', 'hip', 'auto'] as const) ?? 'dense';
    const gpuKvBudget = optionalInt(params.gpuKvBudget, 'gpuKvBudget', 0);
    // Absent stays undefined: the engine then sizes the host tier itself.
    const hostKvBudget = optionalInt(params.hostKvBudget, 'hostKvBudget', 0);
    const kvDtype = optionalChoice(params.kvDtype, 'kvDtype', KV_DTYPE_CHOICES);
    const threads = optionalInt(params.threads, 'threads', 0);
    const device = optionalInt(params.device, 'device', 0);
    this.checkIdle('initialize');
    return this.exclusive('initialize', async () => {
      this.log.info(`loading ${resolve(params.modelDir)} (backend ${backend}, attention ${attention})`);
      const files = readModelFiles(params.modelDir);
      const model = await loadModelFiles(files, {
        backend,
        threads,
        device,
        gpuKvBudget,
        hostKvBudget,
        kvDtype,
        attention,
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
      const info: ModelInfo = {
        dir: model.dir,
        architecture: model.config.architecture,
        contextLength: model.config.maxPositionEmbeddings,
        vocabSize: model.config.vocabSize,
      };
      const session = openSession(model);
      const snapshots = this.openSnapshots(model);
      this.loaded = {
        model,
        tokenizer,
        prompt,
        backend: loadedBackend,
        device: device ?? 0,
        info,
        session,
        chat: undefined,
        snapshots,
      };
      this.log.info(
        `model loaded on ${loadedBackend}: ${model.config.architecture}, KV cache in ${model.native.kvDtype} rows`,
      );
      return { protocolVersion: PROTOCOL_VERSION, model: info, backend: loadedBackend };
    });
  }

  /** The model's snapshot folder, or undefined (logged) when snapshots are off or the folder is unusable. */
  private openSnapshots(model: LoadedModel): Snapshots | undefined {
    try {
      const snapshots = Snapshots.open(model);
      this.log.info(snapshots ? `snapshots: ${snapshots.dir}` : 'snapshots: off');
      return snapshots;
    } catch (error) {
      this.log.warn(`snapshots: off (${toHipError(error).message})`);
      return undefined;
    }
  }

  /**
   * scan → order → render → budget (buildContext, with progress and cancellation between batches), then, in its
   * turn, the new context and its stable prefix into the KV session. Changes notified meanwhile apply after.
   */
  async syncWorkspace(params: SyncWorkspaceParams, signal: AbortSignal): Promise<ContextReport> {
    const loaded = this.requireModel();
    const roots = stringList(params?.roots, 'roots');
    if (!roots || roots.length === 0) {
      throw new HipError('E_INVALID_ARGUMENT', 'syncWorkspace needs roots, at least one folder');
    }
    const modelContext = loaded.model.config.maxPositionEmbeddings;
    const options: Workspace['options'] = {
      roots,
      include: stringList(params.include, 'include'),
      exclude: stringList(params.exclude, 'exclude'),
      maxFileBytes: optionalInt(params.maxFileBytes, 'maxFileBytes', 1) ?? DEFAULT_MAX_FILE_BYTES,
      buffers: new Map(Object.entries(params.buffers ?? {})),
      tokenize: (text) => loaded.tokenizer.encode(text, { addSpecialTokens: false }),
      budget: contextBudget(loaded.prompt, modelContext, optionalInt(params.maxTokens, 'maxTokens', 0)),
    };
    const base = { requestId: params.requestId, method: SyncWorkspaceRequest.method };
    return this.exclusive('syncWorkspace', async () => {
      // The sync reads every file now; changes notified from here on apply after it.
      this.changes.clear();
      try {
        return await this.sync(loaded, options, base, signal);
      } finally {
        this.changes.schedule();
      }
    });
  }

  private async sync(
    loaded: Loaded,
    options: Workspace['options'],
    base: ProgressBase & { method: string },
    signal: AbortSignal,
  ): Promise<ContextReport> {
    const started = performance.now();
    const context = await buildContext({
      ...options,
      signal,
      onProgress: (step) => this.events.progress({ ...base, ...step }),
    });
    const seconds = (performance.now() - started) / 1000;
    this.log.info(
      `context: ${context.included.length} files, ${context.tokens} of ${context.budget} tokens, ` +
        `${context.excluded.length} excluded (${seconds.toFixed(2)} s)`,
    );
    const prompt = new ContextPrompt(loaded.prompt, context.included);
    this.log.info(
      prompt.joinable
        ? 'prompt: joined from the files’ ids (checked against the whole encoding)'
        : 'prompt: the whole context is encoded for every question (tokens merge across file blocks)',
    );
    this.preempt();
    const report = contextReport(context, loaded.model.config.maxPositionEmbeddings);
    let restoredTokens = 0;
    await this.turns.run(signal, 'the workspace sync', async () => {
      this.workspace = { context, prompt, options };
      this.events.contextChanged({ ...base, report });
      this.dropChat(loaded);
      restoredTokens = await this.restoreContext(loaded, this.workspace, base, signal);
      await this.prefillContext(loaded, this.workspace, base, signal);
    });
    this.snapshotDue = loaded.snapshots !== undefined;
    this.saveSnapshotSoon();
    return restoredTokens > 0 ? { ...report, restoredTokens } : report;
  }

  /** Restores the workspace's stable prefix from its roots' snapshot when that gives more than the session holds. */
  private restoreContext(
    loaded: Loaded,
    workspace: Workspace,
    base: ProgressBase,
    signal: AbortSignal,
  ): Promise<number> {
    if (!loaded.snapshots) return Promise.resolve(0);
    const prefix = this.stablePrefix(workspace.prompt);
    const files = workspace.context.included.length;
    return loaded.snapshots.restore(
      loaded.session,
      workspace.options.roots,
      prefix,
      signal,
      this.log,
      (step) => this.events.progress(prefillProgress(base, files, step, 'restore')),
    );
  }

  /**
   * Saves the synced context's stable prefix as its roots' snapshot in a turn of its own, in the background: a
   * request preempts it (the save stops at its next chunk, leaving the last snapshot) and it runs again after.
   */
  private saveSnapshotSoon(): void {
    const loaded = this.loaded;
    const workspace = this.workspace;
    if (!this.snapshotDue || !loaded?.snapshots || !workspace) return;
    const signal = this.background.signal;
    this.snapshotTurns++;
    this.turns
      .run(signal, 'the snapshot', () => this.saveSnapshot(loaded, workspace, signal))
      .catch((error: unknown) => {
        const e = toHipError(error);
        if (e.code === 'E_CANCELLED')
          this.log.info('snapshot: taken over by a request or an update; saved later');
        else this.log.warn(`snapshot not saved: [${e.code}] ${e.message}`);
      })
      .finally(() => this.snapshotTurns--);
  }

  private async saveSnapshot(loaded: Loaded, workspace: Workspace, signal: AbortSignal): Promise<void> {
    const snapshots = loaded.snapshots;
    if (this.loaded !== loaded || this.workspace !== workspace || !snapshots) return;
    const prefix = this.stablePrefix(workspace.prompt);
    if (commonPrefixLength(loaded.session.held, prefix) < prefix.length) return; // a cancelled prefill
    await snapshots.save(loaded.session, workspace.options.roots, prefix, signal, this.log);
    this.snapshotDue = false;
  }

  /**
   * The prompt's ids up to where the question starts (compared, not assumed: tokens may merge there). Kept per
   * prompt: a prompt whose files do not join is encoded whole for each probe, and every ask needs the prefix.
   */
  private stablePrefix(prompt: ContextPrompt): number[] {
    const kept = this.stablePrefixes.get(prompt);
    if (kept) return kept;
    const [a, b] = PROBE_QUESTIONS.map((question) => prompt.encode(question));
    const prefix = a.slice(0, commonPrefixLength(a, b));
    this.stablePrefixes.set(prompt, prefix);
    return prefix;
  }

  /** Prefills the stable prefix of the workspace's prompt into the session (only past what it already holds). */
  private async prefillContext(
    loaded: Loaded,
    workspace: Workspace,
    base: ProgressBase,
    signal: AbortSignal,
  ): Promise<PrefillResult> {
    const prefix = this.stablePrefix(workspace.prompt);
    const files = workspace.context.included.length;
    const result = await loaded.session.prefill(prefix, {
      signal,
      onProgress: (step: PrefillProgress) => this.events.progress(prefillProgress(base, files, step)),
    });
    this.log.info(
      `prefill: ${result.prefilled} tokens in ${result.seconds.toFixed(2)} s, ${result.reused} reused ` +
        `(${prefix.length} held)`,
    );
    return result;
  }

  /**
   * Prefills what the context session lacks of the workspace's stable prefix (after a cancelled sync or update)
   * and returns how many tokens that was: 0 when it holds the whole prefix.
   */
  private async completeContext(loaded: Loaded, base: ProgressBase, signal: AbortSignal): Promise<number> {
    const workspace = this.workspace;
    if (!workspace) return 0;
    const prefix = this.stablePrefix(workspace.prompt);
    if (commonPrefixLength(loaded.session.held, prefix) === prefix.length) return 0;
    return (await this.prefillContext(loaded, workspace, base, signal)).prefilled;
  }

  /** Disposes the last ask's fork, which holds pages of a context that is about to change. */
  private dropChat(loaded: Loaded): void {
    loaded.chat?.dispose();
    loaded.chat = undefined;
  }

  /**
   * The session an ask runs in: the last ask's fork when the prompt shares more with it than with the context (a
   * follow-up question continues its chat), else a new fork of the context, seeded with the ask's seed when it
   * gives one (so that a sampled answer is reproducible without prefilling the context again).
   */
  private chatFor(loaded: Loaded, ids: readonly number[], seed: number | undefined): ContextSession {
    const chat = loaded.chat;
    const followUp =
      chat && commonPrefixLength(chat.held, ids) > commonPrefixLength(loaded.session.held, ids);
    if (followUp && seed === undefined) return chat;
    this.dropChat(loaded);
    const capacity = loaded.model.config.maxPositionEmbeddings;
    loaded.chat = loaded.session.fork({ maxTokens: capacity, seed: seed ?? randomInt(2 ** 31) });
    return loaded.chat;
  }

  /** Queues the changes of a didChangeFiles notification; they apply once a burst has settled. */
  didChangeFiles(params: DidChangeFilesParams): void {
    if (!this.workspace && !this.running.has('syncWorkspace')) {
      this.log.warn('didChangeFiles before any syncWorkspace: ignored');
      return;
    }
    this.changes.add(params);
  }

  /**
   * Applies the queued changes in the session's turn, then prefills what they changed (preemptible); a snapshot
   * save or an earlier update's prefill in progress gives way to them.
   */
  private async applyChanges(): Promise<void> {
    if (this.running.has('syncWorkspace')) return; // the sync schedules them again when it ends
    clearTimeout(this.snapshotTimer);
    this.preempt();
    const signal = this.background.signal;
    try {
      await this.turns.run(undefined, 'the update', async () => {
        const changes = this.changes.take();
        const loaded = this.loaded;
        const workspace = this.workspace;
        if (changes && loaded && workspace) await this.update(loaded, workspace, changes, signal);
      });
    } catch (error) {
      const e = toHipError(error);
      if (e.code === 'E_CANCELLED')
        this.log.info('update prefill: taken over by a request or a later update');
      else this.log.warn(`didChangeFiles: [${e.code}] ${e.message}`);
    }
  }

  private async update(
    loaded: Loaded,
    workspace: Workspace,
    changes: PendingChanges,
    signal: AbortSignal,
  ): Promise<void> {
    const base = { method: DidChangeFilesNotification.method };
    const modelContext = loaded.model.config.maxPositionEmbeddings;
    const buffers = new Map(workspace.options.buffers);
    for (const [path, text] of changes.buffers) {
      if (text === null) buffers.delete(path);
      else buffers.set(path, text);
    }
    const options = { ...workspace.options, buffers };
    const changed = [...changes.changed, ...changes.buffers.keys()];
    let result;
    try {
      result = await updateContext(
        workspace.context,
        { changed, deleted: changes.deleted },
        { ...options, onProgress: (step) => this.events.progress({ ...base, ...step }) },
      );
    } catch (error) {
      const { code, message } = toHipError(error);
      const report = contextReport(workspace.context, modelContext);
      this.events.contextChanged({ ...base, report, error: { code, message } });
      throw error;
    }
    if (this.loaded !== loaded) return; // disposed or replaced meanwhile
    const { context, rescanned } = result;
    const prompt = new ContextPrompt(loaded.prompt, context.included, workspace.prompt.joinable);
    this.workspace = { context, prompt, options };
    this.log.info(
      `update: ${changed.length} changed, ${changes.deleted.length} deleted${rescanned ? ' (rescanned)' : ''}; ` +
        `context ${context.included.length} files, ${context.tokens} tokens`,
    );
    this.events.contextChanged({ ...base, report: contextReport(context, modelContext), rescanned });
    this.dropChat(loaded);
    await this.prefillContext(loaded, this.workspace, base, signal);
    this.saveSnapshotAfterEdits(loaded);
  }

  /** Saves the updated context as a snapshot once no update has come for the snapshots' delay. */
  private saveSnapshotAfterEdits(loaded: Loaded): void {
    if (!loaded.snapshots) return;
    this.snapshotDue = true;
    clearTimeout(this.snapshotTimer);
    this.snapshotTimer = setTimeout(() => this.saveSnapshotSoon(), loaded.snapshots.delayMs);
    this.snapshotTimer.unref();
  }

  async ask(params: AskParams, signal: AbortSignal, delta: (text: string) => void): Promise<AskResult> {
    const loaded = this.requireModel();
    const request = askRequest(params);
    return this.exclusive('ask', async () => {
      this.preempt();
      try {
        return await this.turns.run(signal, 'the answer', () => this.answer(loaded, request, signal, delta));
      } finally {
        this.saveSnapshotSoon();
      }
    });
  }

  /** Fits the prompt, prefills past what the session holds, generates, checks the references. */
  private async answer(
    loaded: Loaded,
    request: AskRequestOptions,
    signal: AbortSignal,
    delta: (text: string) => void,
  ): Promise<AskResult> {
    const { history, requested, seed, temperature } = request;
    const context = this.context;
    const modelContext = loaded.model.config.maxPositionEmbeddings;
    const { ids, dropped } = fitHistory({
      prompt: this.workspace?.prompt ?? new ContextPrompt(loaded.prompt, [], false),
      contextTokens: context?.tokens ?? 0,
      question: request.question,
      history,
      reserve: requested ?? defaultAnswerTokens(modelContext),
      modelContext,
    });
    const maxTokens = answerTokens(ids.length, requested, modelContext);
    const started = performance.now();
    const files = context?.included.length ?? 0;
    const contextPrefilled = await this.completeContext(loaded, request.base, signal);
    const chat = this.chatFor(loaded, ids, temperature > 0 ? seed : undefined);
    const prefill = await chat.prefill(ids.slice(0, -1), {
      signal,
      onProgress: (step) => this.events.progress(prefillProgress(request.base, files, step)),
    });
    const cachedTokens = Math.max(0, prefill.reused - contextPrefilled);
    const { answer, generated, timings } = await streamOnSession(chat, loaded.tokenizer, ids.slice(-1), {
      maxTokens,
      sampling: { ...GREEDY, temperature },
      seed: seed ?? 0,
      signal,
      onText: delta,
      startedAt: started,
      prefillTokens: contextPrefilled + prefill.prefilled + 1,
    });
    const turns = history.length - dropped;
    this.log.info(
      `answered: ${ids.length} prompt tokens (${cachedTokens} cached, ${turns} turns, ${dropped} dropped), ` +
        `${generated} generated in ${timings.totalSeconds.toFixed(2)} s`,
    );
    const sources = (context?.included ?? []).map((file) => ({ path: file.path, text: file.source }));
    return {
      answer,
      references: findReferences(answer, sources),
      usage: {
        contextTokens: context?.tokens ?? 0,
        promptTokens: ids.length,
        cachedTokens,
        generatedTokens: generated,
        historyTurns: turns,
        droppedTurns: dropped,
      },
      timings,
    };
  }

  status(): StatusResult {
    const loaded = this.loaded;
    const result: StatusResult = {
      backend: loaded?.backend ?? null,
      modelDir: loaded?.model.dir ?? null,
      contextTokens: this.context?.tokens ?? 0,
      files: this.context?.included.length ?? 0,
      busy: this.running.size > 0 || this.turns.pending > this.snapshotTurns,
      model: loaded?.info ?? null,
      memory: memoryStatus(),
      kv: loaded
        ? {
            heldTokens: loaded.session.length,
            capacityTokens: loaded.session.capacity,
            chatTokens: loaded.chat?.length ?? 0,
            ...loaded.model.native.kvMemory,
          }
        : null,
    };
    const gpu = loaded?.backend === 'cuda' ? gpuStatus(loadAddon().probe(), loaded.device) : undefined;
    if (gpu) result.gpu = gpu;
    return result;
  }

  shutdown(): void {
    this.checkIdle('shut down');
    this.dispose();
    this.log.info('model disposed');
  }

  /** Disposes the KV session and the native model (if any) and drops the context and pending changes. */
  dispose(): void {
    this.preempt();
    clearTimeout(this.snapshotTimer);
    this.snapshotDue = false;
    this.changes.clear();
    this.workspace = undefined;
    const loaded = this.loaded;
    this.loaded = undefined;
    loaded?.chat?.dispose();
    loaded?.session.dispose();
    loaded?.model.native.dispose();
  }
}
