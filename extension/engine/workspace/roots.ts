// How the context names files of several workspace folders: each folder's files under a label (its base name,
// numbered when two folders share one); a single folder's files have no label.
import { basename, join, resolve } from 'node:path';

/** The label of each root, in order ('' for a single root). */
export function rootLabels(roots: readonly string[]): string[] {
  if (roots.length < 2) return roots.map(() => '');
  const seen = new Map<string, number>();
  return roots.map((root) => {
    const name = basename(resolve(root)) || 'root';
    const count = (seen.get(name) ?? 0) + 1;
    seen.set(name, count);
    return count === 1 ? name : `${name}-${count}`;
  });
}

/** The absolute file of a context path, given the roots the context was built from (undefined if none fits). */
export function fileOfContextPath(roots: readonly string[], path: string): string | undefined {
  if (roots.length === 1) return join(resolve(roots[0]), path);
  const slash = path.indexOf('/');
  if (slash < 0) return undefined;
  const index = rootLabels(roots).indexOf(path.slice(0, slash));
  return index < 0 ? undefined : join(resolve(roots[index]), path.slice(slash + 1));
}
