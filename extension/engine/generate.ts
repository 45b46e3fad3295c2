// The generation loop over a native session: prefill the prompt, then sample one token at a time until a stop.
import { HipError } from './errors';
import type { NativeSession, SamplingParams } from './native';

export interface GenerateOptions {
  /** Most tokens to generate (a stop token counts). */
  maxTokens: number;
  sampling: SamplingParams;
  /** Ids that end generation; the stop id itself is yielded. */
  stopIds: ReadonlySet<number>;
  signal?: AbortSignal;
}

/** Greedy decoding with every filter disabled. */
export const GREEDY: SamplingParams = { temperature: 0, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1 };

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new HipError('E_CANCELLED', 'generation was cancelled');
}

/** Yields each generated id; the session must be empty and hold prompt + maxTokens tokens. */
export async function* generateTokens(
  session: NativeSession,
  promptIds: readonly number[],
  options: GenerateOptions,
): AsyncGenerator<number> {
  if (promptIds.length === 0) {
    throw new HipError('E_INVALID_ARGUMENT', 'the prompt is empty; give at least one token to generate from');
  }
  let input = Int32Array.from(promptIds);
  for (let produced = 0; produced < options.maxTokens; produced++) {
    checkAborted(options.signal);
    const next = await session.step(input, options.sampling);
    yield next;
    if (options.stopIds.has(next)) return;
    input = Int32Array.of(next);
  }
}
