// Context order: stable files first (oldest modification time, then path), so an edit invalidates only a suffix.
import type { WorkspaceFile } from './types';

/** What the order looks at: a scanned file or a rendered one. */
export type Ordered = Pick<WorkspaceFile, 'mtimeMs' | 'path'>;

/** Compares by modification time (oldest first), then by path (code-unit order, locale independent). */
export function compareStable(a: Ordered, b: Ordered): number {
  if (a.mtimeMs !== b.mtimeMs) return a.mtimeMs - b.mtimeMs;
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

/** A new array of `files` in context order; the input is left as it is. */
export function orderFiles<T extends Ordered>(files: readonly T[]): T[] {
  return [...files].sort(compareStable);
}
