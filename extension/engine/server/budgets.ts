// Token budgets of the engine: the context's share of the model, and each answer's.
import { BOUNDARY_MARGIN, defaultAnswerTokens, type AskPrompt } from '../answer/prompt';
import { HipError } from '../errors';

/** Tokens reserved for the question when the context is built (the question is not known yet). */
function questionReserve(modelContext: number): number {
  return Math.min(256, Math.floor(modelContext / 8));
}

/** The context budget of a sync: the model context less prompt, question and answer reserves, capped. */
export function contextBudget(
  prompt: AskPrompt,
  modelContext: number,
  maxTokens: number | undefined,
): number {
  const reserve =
    prompt.overhead('?') +
    questionReserve(modelContext) +
    defaultAnswerTokens(modelContext) +
    BOUNDARY_MARGIN;
  return Math.max(0, Math.min(modelContext - reserve, maxTokens ?? Number.MAX_SAFE_INTEGER));
}

/** The answer's token budget: the request's, or the default within what the prompt leaves; E_CONTEXT_FULL. */
export function answerTokens(
  promptTokens: number,
  requested: number | undefined,
  modelContext: number,
): number {
  const left = modelContext - promptTokens;
  const maxTokens = requested ?? Math.min(defaultAnswerTokens(modelContext), left);
  if (maxTokens >= 1 && promptTokens + maxTokens <= modelContext) return maxTokens;
  throw new HipError(
    'E_CONTEXT_FULL',
    `the prompt (${promptTokens} tokens) plus maxTokens ${maxTokens} exceed the model's ${modelContext}-token ` +
      `context; ask for at most ${Math.max(0, left)} tokens, or sync with a smaller maxTokens`,
  );
}
