// The model behind `hipcode serve`: renders requests into prompts (with the workspace when given), checks them
// against the context, and runs their completions one at a time in arrival order.
import { findReferences, type Reference, type SourceFile } from '../answer/citations';
import { HipError } from '../errors';
import type { SamplingParams } from '../native';
import type { ChatTemplate } from '../text/chat-template';
import type { TextTokenizer } from '../text/tokenizer';
import type { ChatRequest } from './chat-request';
import { Completer, type Completion } from './completer';
import { JobQueue } from './job-queue';
import { withWorkspace } from './workspace-prompt';

/** The workspace context put into every conversation. */
export interface ServedWorkspace {
  text: string;
  /** The files in the context, to check the answer's references against. */
  files: SourceFile[];
  tokens: number;
}

export interface ServedModelOptions {
  /** The model id clients name. */
  id: string;
  contextLength: number;
  /** Completion tokens of a request that gives no max_tokens (less when the context leaves less). */
  defaultMaxTokens: number;
  /** Sampling for what a request leaves out. */
  defaultSampling: SamplingParams;
  /** Requests that may wait while one runs. */
  queueSize: number;
  workspace?: ServedWorkspace;
}

/** A request rendered into prompt ids that fit the context. */
export interface PreparedChat {
  request: ChatRequest;
  ids: number[];
  maxTokens: number;
}

export interface ChatResult extends Completion {
  promptTokens: number;
  /** The answer's path:line references checked against the workspace (with --workspace only). */
  references?: Reference[];
}

export class ServedModel {
  private readonly queue: JobQueue;

  constructor(
    readonly options: ServedModelOptions,
    private readonly tokenizer: TextTokenizer,
    private readonly template: ChatTemplate,
    private readonly completer: Completer,
  ) {
    this.queue = new JobQueue(options.queueSize);
  }

  /** Renders and encodes the conversation; E_CONTEXT_FULL when prompt + completion exceed the context. */
  prepare(request: ChatRequest): PreparedChat {
    const { workspace, contextLength, defaultMaxTokens } = this.options;
    const messages = workspace ? withWorkspace(request.messages, workspace.text) : request.messages;
    const ids = this.tokenizer.encode(this.template.render(messages, true), { addSpecialTokens: false });
    const left = contextLength - ids.length;
    const maxTokens = request.maxTokens ?? Math.min(defaultMaxTokens, left);
    if (maxTokens < 1 || ids.length + maxTokens > contextLength) {
      throw new HipError(
        'E_CONTEXT_FULL',
        `This model's maximum context length is ${contextLength} tokens. However, you requested ` +
          `${ids.length + Math.max(maxTokens, 1)} tokens (${ids.length} in the messages` +
          `${workspace ? `, ${workspace.tokens} of them the workspace` : ''}, ${Math.max(maxTokens, 1)} in the ` +
          `completion). Please reduce the length of the messages or completion.`,
      );
    }
    return { request, ids, maxTokens };
  }

  /** Runs the completion when its turn comes (E_BUSY when the queue is full), streaming text to `onText`. */
  async complete(
    chat: PreparedChat,
    signal: AbortSignal,
    onText: (text: string) => void,
  ): Promise<ChatResult> {
    const { request, ids, maxTokens } = chat;
    const completion = await this.queue.run(signal, () =>
      this.completer.complete(ids, {
        maxTokens,
        sampling: request.sampling,
        seed: request.seed,
        stop: request.stop,
        signal,
        onText,
      }),
    );
    const workspace = this.options.workspace;
    const references = workspace ? findReferences(completion.text, workspace.files) : undefined;
    return { ...completion, promptTokens: ids.length, references };
  }

  /** Fails the waiting requests and every later one; the running one ends through its signal. */
  close(why: string): void {
    this.queue.close(why);
  }

  /** Drops the kept KV session. */
  dispose(): void {
    this.completer.close();
  }
}
