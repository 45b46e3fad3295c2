// Incremental context updates: re-scans only the changed paths, keeps the tokens of the other files, re-orders.
import {
  buildContext,
  assembleContext,
  renderInBatches,
  type ContextOptions,
  type WorkspaceContext,
} from './context';
import { orderFiles } from './order';
import type { RenderedFile } from './render';
import { scanPaths } from './scan';
import type { ExcludedEntry } from './types';

/** What changed since the context was built (absolute paths). */
export interface WorkspaceChanges {
  /** Files created or modified on disk, and paths whose editor buffer changed or closed. */
  changed: readonly string[];
  /** Files or folders deleted on disk. */
  deleted: readonly string[];
}

export interface UpdateResult {
  context: WorkspaceContext;
  /** Whether the whole workspace was scanned again (a .gitignore, a folder or a symlink changed). */
  rescanned: boolean;
}

/** Whether `path` is `at` or inside the folder `at` (display paths). */
function within(path: string, at: string): boolean {
  return path === at || path.startsWith(`${at}/`);
}

function byPath(a: ExcludedEntry, b: ExcludedEntry): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

/** Every rendered file by path, so a full rescan tokenizes only what changed. */
function reuseMap(context: WorkspaceContext): Map<string, RenderedFile> {
  return new Map(context.scanned.map((file) => [file.path, file]));
}

/**
 * Applies `changes` to `previous` with the scan rules and budget of `options` (those of the sync that built it;
 * options.buffers holds the current editor buffers). Only the changed paths are read and tokenized; a changed
 * .gitignore, folder or symlink rescans everything, reusing the tokens of unchanged files. The order stays stable
 * first: a changed file's new modification time moves it to the end.
 */
export async function updateContext(
  previous: WorkspaceContext,
  changes: WorkspaceChanges,
  options: ContextOptions,
): Promise<UpdateResult> {
  const paths = [...new Set([...changes.deleted, ...changes.changed])];
  const scan = await scanPaths(options, paths);
  if (scan.rescan) {
    const context = await buildContext({ ...options, reuse: reuseMap(previous) });
    return { context, rescanned: true };
  }
  const gone = (path: string) => scan.paths.some((at) => within(path, at));
  const kept = previous.scanned.filter((file) => !gone(file.path));
  const rendered = await renderInBatches(scan.files, options);
  const scanned = orderFiles([...kept, ...rendered]);
  const scanExcluded = [...previous.scanExcluded.filter((e) => !gone(e.path)), ...scan.excluded].sort(byPath);
  return {
    context: assembleContext(previous.roots, scanned, scanExcluded, previous.budget),
    rescanned: false,
  };
}
