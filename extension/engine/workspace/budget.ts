// Token budget: files go in, in context order, while they fit; every file left out is listed with its reason.
import type { RenderedFile } from './render';
import type { ExcludedEntry } from './types';

export interface BudgetResult {
  included: RenderedFile[];
  /** Files over the budget, in context order, each with code 'budget' and the tokens it needed. */
  excluded: ExcludedEntry[];
  tokens: number;
  budget: number;
}

/**
 * Applies `budget` tokens to `files` (already in context order). Priority is the context order itself: each file
 * is taken if it still fits; a file that does not fit is skipped with its reason and the next, smaller files are
 * still taken when they fit ("first fit"), so no space is wasted and nothing is dropped silently.
 */
export function applyBudget(files: readonly RenderedFile[], budget: number): BudgetResult {
  const included: RenderedFile[] = [];
  const excluded: ExcludedEntry[] = [];
  let tokens = 0;
  for (const file of files) {
    const left = budget - tokens;
    if (file.tokens <= left) {
      included.push(file);
      tokens += file.tokens;
    } else {
      const reason = `over the token budget: needs ${file.tokens} tokens, ${left} left`;
      excluded.push({ path: file.path, kind: 'file', code: 'budget', reason });
    }
  }
  return { included, excluded, tokens, budget };
}
