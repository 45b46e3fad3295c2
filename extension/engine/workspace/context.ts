// The workspace context: scan, order, render and budget in one call, with the report of what was left out.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { HipError } from '../errors';
import { applyBudget } from './budget';
import { orderFiles } from './order';
import { renderFile, type RenderedFile, type Tokenize } from './render';
import { scanWorkspace } from './scan';
import type { ExcludedEntry, ScanOptions, WorkspaceFile } from './types';

export interface ContextProgress {
  phase: 'scan' | 'tokenize';
  /** Files scanned (scan) or tokenized so far (tokenize). */
  files: number;
  tokens: number;
  totalFiles: number;
  /** tokenize: tokens per second so far. */
  tokensPerSecond?: number;
  /** tokenize: seconds left, estimated from the bytes left at the rate so far. */
  etaSeconds?: number;
}

export interface ContextOptions extends ScanOptions {
  tokenize: Tokenize;
  /** Tokens the context may take. */
  budget: number;
  /** Called after the scan and after every batch of tokenized files. */
  onProgress?: (progress: ContextProgress) => void;
  /** Files rendered before, by path: one whose text is unchanged keeps its tokens (not tokenized again). */
  reuse?: ReadonlyMap<string, RenderedFile>;
}

/** Files tokenized between two progress reports (and two turns of the event loop, where cancels arrive). */
const TOKENIZE_BATCH = 64;

export interface WorkspaceContext {
  roots: string[];
  /** Files in the context, in context order. */
  included: RenderedFile[];
  /** Files left out by the scan (sorted by path), then those over the budget (in context order). */
  excluded: ExcludedEntry[];
  tokens: number;
  budget: number;
  /** Every file the scan accepted, rendered, in context order (included ones and those over the budget). */
  scanned: RenderedFile[];
  /** What the scan left out (the head of `excluded`), sorted by path. */
  scanExcluded: ExcludedEntry[];
}

/** Tokens per second so far and the seconds left, from the bytes left at the bytes-per-second so far. */
function rates(tokens: number, bytes: number, totalBytes: number, seconds: number) {
  if (seconds <= 0) return { tokensPerSecond: 0, etaSeconds: 0 };
  const round = (x: number) => Math.round(x * 10) / 10;
  const bytesPerSecond = bytes / seconds;
  return {
    tokensPerSecond: round(tokens / seconds),
    etaSeconds: round(bytesPerSecond > 0 ? (totalBytes - bytes) / bytesPerSecond : 0),
  };
}

/** The earlier rendering of `file` when its path and text are unchanged (with the new time and size). */
function reused(
  file: WorkspaceFile,
  previous: ReadonlyMap<string, RenderedFile> | undefined,
): RenderedFile | undefined {
  const before = previous?.get(file.path);
  if (before === undefined || before.source !== file.text) return undefined;
  return { ...before, mtimeMs: file.mtimeMs, bytes: file.bytes };
}

/** Renders `files` in order (reusing options.reuse), with progress and a cancel check between batches. */
export async function renderInBatches(
  files: readonly WorkspaceFile[],
  options: Pick<ContextOptions, 'tokenize' | 'reuse' | 'signal' | 'onProgress'>,
): Promise<RenderedFile[]> {
  const rendered: RenderedFile[] = [];
  const totalBytes = files.reduce((sum, file) => sum + file.bytes, 0);
  const started = performance.now();
  let tokens = 0;
  let bytes = 0;
  for (let start = 0; start < files.length; start += TOKENIZE_BATCH) {
    await nextTurn();
    if (options.signal?.aborted) throw new HipError('E_CANCELLED', 'the workspace sync was cancelled');
    for (const file of files.slice(start, start + TOKENIZE_BATCH)) {
      const one = reused(file, options.reuse) ?? renderFile(file, options.tokenize);
      rendered.push(one);
      tokens += one.tokens;
      bytes += one.bytes;
    }
    const seconds = (performance.now() - started) / 1000;
    options.onProgress?.({
      phase: 'tokenize',
      files: rendered.length,
      tokens,
      totalFiles: files.length,
      ...rates(tokens, bytes, totalBytes, seconds),
    });
  }
  return rendered;
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
  const totalFiles = scan.files.length;
  options.onProgress?.({ phase: 'scan', files: totalFiles, tokens: 0, totalFiles });
  const rendered = await renderInBatches(orderFiles(scan.files), options);
  return assembleContext(scan.roots, rendered, scan.excluded, options.budget);
}

/** The context of rendered files (in context order) and the scan's exclusions, with the budget applied. */
export function assembleContext(
  roots: string[],
  scanned: RenderedFile[],
  scanExcluded: ExcludedEntry[],
  budget: number,
): WorkspaceContext {
  const budgeted = applyBudget(scanned, budget);
  return {
    roots,
    included: budgeted.included,
    excluded: [...scanExcluded, ...budgeted.excluded],
    tokens: budgeted.tokens,
    budget,
    scanned,
    scanExcluded,
  };
}

/** The context text: the included blocks concatenated in context order. */
export function contextText(context: WorkspaceContext): string {
  return context.included.map((file) => file.text).join('');
}
