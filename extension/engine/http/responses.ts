// The OpenAI response objects of `hipcode serve`: the model list, chat.completion and chat.completion.chunk.
import type { FinishReason } from './completer';
import type { ChatResult } from './served-model';

export interface ModelObject {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
  /** Extension: the model's context length in tokens. */
  context_length: number;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
}

/** Extension: what HiPCode adds to a finished completion. */
export interface HipcodeExtra {
  references?: ChatResult['references'];
  timings: ChatResult['timings'];
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: {
    index: 0;
    message: { role: 'assistant'; content: string };
    logprobs: null;
    finish_reason: FinishReason;
  }[];
  usage: Usage;
  hipcode: HipcodeExtra;
}

export interface ChatChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: {
    index: 0;
    delta: { role?: 'assistant'; content?: string };
    logprobs: null;
    finish_reason: FinishReason | null;
  }[];
  /** null on every chunk but the last when stream_options.include_usage is set; absent otherwise. */
  usage?: Usage | null;
  hipcode?: HipcodeExtra;
}

/** What every object of one completion shares. */
export interface CompletionIdentity {
  id: string;
  created: number;
  model: string;
}

function usageOf(result: ChatResult): Usage {
  return {
    prompt_tokens: result.promptTokens,
    completion_tokens: result.completionTokens,
    total_tokens: result.promptTokens + result.completionTokens,
    prompt_tokens_details: { cached_tokens: result.cachedTokens },
  };
}

function extraOf(result: ChatResult): HipcodeExtra {
  return result.references
    ? { references: result.references, timings: result.timings }
    : { timings: result.timings };
}

export function chatCompletion(identity: CompletionIdentity, result: ChatResult): ChatCompletion {
  return {
    ...identity,
    object: 'chat.completion',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: result.text },
        logprobs: null,
        finish_reason: result.finishReason,
      },
    ],
    usage: usageOf(result),
    hipcode: extraOf(result),
  };
}

/** A chunk with a delta (the first one carries the role); `withUsage`: usage null, as include_usage wants. */
export function deltaChunk(
  identity: CompletionIdentity,
  delta: ChatChunk['choices'][0]['delta'],
  withUsage: boolean,
): ChatChunk {
  const chunk: ChatChunk = {
    ...identity,
    object: 'chat.completion.chunk',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: null }],
  };
  if (withUsage) chunk.usage = null;
  return chunk;
}

/** The chunk that ends the choice: an empty delta, the finish reason and HiPCode's extra. */
export function finishChunk(identity: CompletionIdentity, result: ChatResult, withUsage: boolean): ChatChunk {
  const chunk = deltaChunk(identity, {}, withUsage);
  chunk.choices[0].finish_reason = result.finishReason;
  chunk.hipcode = extraOf(result);
  return chunk;
}

/** The last chunk with include_usage: no choices, the usage. */
export function usageChunk(identity: CompletionIdentity, result: ChatResult): ChatChunk {
  return { ...identity, object: 'chat.completion.chunk', choices: [], usage: usageOf(result) };
}
