// Context order: stable files first (oldest modification time, then path), so an edit invalidates only a suffix.
import type { WorkspaceFile } from './types';

/** Compares by modification time (oldest first), then by path (code-unit order, locale independent). */
export function compareStable(a: WorkspaceFile, b: WorkspaceFile): number {
  if (a.mtimeMs !== b.mtimeMs) return a.mtimeMs - b.mtimeMs;
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

/** A new array of `files` in context order; the input is left as it is. */
export function orderFiles(files: readonly WorkspaceFile[]): WorkspaceFile[] {
  return [...files].sort(compareStable);
}
