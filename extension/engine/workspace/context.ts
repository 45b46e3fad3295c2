// The workspace context: scan, order, render and budget in one call, with the report of what was left out.
import { HipError } from '../errors';
import { applyBudget } from './budget';
import { orderFiles } from './order';
import { renderFiles, type RenderedFile, type Tokenize } from './render';
import { scanWorkspace } from './scan';
import type { ExcludedEntry, ScanOptions } from './types';

export interface ContextOptions extends ScanOptions {
  tokenize: Tokenize;
  /** Tokens the context may take. */
  budget: number;
}

export interface WorkspaceContext {
  roots: string[];
  /** Files in the context, in context order. */
  included: RenderedFile[];
  /** Files left out by the scan (sorted by path), then those over the budget (in context order). */
  excluded: ExcludedEntry[];
  tokens: number;
  budget: number;
}

/** Builds the context of the workspace: every file either included (with its tokens) or excluded (with why). */
export async function buildContext(options: ContextOptions): Promise<WorkspaceContext> {
  if (!Number.isSafeInteger(options.budget) || options.budget < 0) {
    throw new HipError(
      'E_INVALID_ARGUMENT',
      `the token budget must be an integer >= 0, got ${options.budget}`,
    );
  }
  const scan = await scanWorkspace(options);
  const rendered = renderFiles(orderFiles(scan.files), options.tokenize);
  const budgeted = applyBudget(rendered, options.budget);
  return {
    roots: scan.roots,
    included: budgeted.included,
    excluded: [...scan.excluded, ...budgeted.excluded],
    tokens: budgeted.tokens,
    budget: options.budget,
  };
}

/** The context text: the included blocks concatenated in context order. */
export function contextText(context: WorkspaceContext): string {
  return context.included.map((file) => file.text).join('');
}
