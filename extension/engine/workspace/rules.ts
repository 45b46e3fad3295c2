// Path rules of a scan: nested .gitignore files (deeper ones win) and the user's gitignore-style globs.
import ignore, { type Ignore } from 'ignore';

/** One .gitignore: its patterns apply to paths relative to the folder holding it. */
export interface GitignoreLayer {
  /** Folder of the .gitignore relative to the scan root, posix, '' for the root itself. */
  base: string;
  /** Where the file is, as reported in reasons (display path). */
  source: string;
  rules: Ignore;
}

export function parseGitignore(base: string, source: string, text: string): GitignoreLayer {
  return { base, source, rules: ignore({ allowRelativePaths: true }).add(text) };
}

function relativeTo(base: string, rel: string): string | undefined {
  if (base === '') return rel;
  return rel.startsWith(`${base}/`) ? rel.slice(base.length + 1) : undefined;
}

/**
 * The .gitignore that excludes `rel` (relative to the scan root, posix), or undefined when none does. Layers are
 * ordered root first; a deeper layer's match or negation (`!keep.txt`) overrides a shallower one's.
 */
export function gitignoreSource(
  layers: readonly GitignoreLayer[],
  rel: string,
  isDir: boolean,
): string | undefined {
  let source: string | undefined;
  for (const layer of layers) {
    const local = relativeTo(layer.base, rel);
    if (local === undefined || local === '') continue;
    const result = layer.rules.test(isDir ? `${local}/` : local);
    if (result.ignored) source = layer.source;
    else if (result.unignored) source = undefined;
  }
  return source;
}

/** A set of gitignore-style globs (e.g. `*.log`, `docs/**`, `/tmp/`), matched relative to a root. */
export class GlobSet {
  private readonly rules: Ignore;

  constructor(readonly patterns: readonly string[]) {
    this.rules = ignore({ allowRelativePaths: true }).add([...patterns]);
  }

  get empty(): boolean {
    return this.patterns.length === 0;
  }

  /** The pattern that matches `rel` (the last one, as git reports it), or undefined. */
  match(rel: string, isDir: boolean): string | undefined {
    if (this.patterns.length === 0) return undefined;
    const result = this.rules.test(isDir ? `${rel}/` : rel);
    return result.ignored ? (result.rule?.pattern ?? this.patterns[0]) : undefined;
  }
}
