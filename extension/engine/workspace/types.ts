// Types of the workspace context: scanned files, excluded entries with their reasons, and scan options.

/** A text file the scan accepted, with its content. */
export interface WorkspaceFile {
  /** Display path: posix, relative to its root; prefixed with the root's label when several roots are scanned. */
  path: string;
  absPath: string;
  text: string;
  /** Size in bytes of the UTF-8 text. */
  bytes: number;
  /** Modification time in ms (an unsaved editor buffer counts as modified now). */
  mtimeMs: number;
}

/** Stable machine-readable class of an exclusion; `reason` says it in words. */
export type ExcludeCode =
  | 'default'
  | 'gitignore'
  | 'user-exclude'
  | 'not-included'
  | 'size'
  | 'binary'
  | 'encoding'
  | 'minified'
  | 'generated'
  | 'unreadable'
  | 'symlink'
  | 'special'
  | 'budget';

/** A file, or a whole folder (pruned without looking inside), left out of the context. */
export interface ExcludedEntry {
  path: string;
  kind: 'file' | 'folder';
  code: ExcludeCode;
  reason: string;
}

export interface ScanOptions {
  /** Folders to scan (at least one). */
  roots: readonly string[];
  /** Gitignore-style globs relative to each root; when given, only files matching one are kept. */
  include?: readonly string[];
  /** Gitignore-style globs relative to each root; matching files and folders are left out. */
  exclude?: readonly string[];
  /** Per-file size cap in bytes (default 1 MiB). */
  maxFileBytes?: number;
  /** Apply the default excludes (VCS, dependency and build folders, lockfiles, minified files); default true. */
  defaultExcludes?: boolean;
  /** Honour .gitignore files; default true. */
  gitignore?: boolean;
  /** Unsaved editor buffers by absolute path: their text replaces what is on disk. */
  buffers?: ReadonlyMap<string, string>;
  /** Cancels the scan (it then throws E_CANCELLED). */
  signal?: AbortSignal;
  /** Folders and .gitignore files read at once (default 32). */
  concurrency?: number;
}

export interface ScanResult {
  /** Absolute root folders, as given (resolved). */
  roots: string[];
  /** Accepted files, sorted by path. */
  files: WorkspaceFile[];
  /** Every file or folder left out, sorted by path. */
  excluded: ExcludedEntry[];
}

export interface PathScanResult {
  /** Files among the paths the scan accepted. */
  files: WorkspaceFile[];
  /** Paths among them left out, with why. */
  excluded: ExcludedEntry[];
  /** Display paths of the given paths inside the roots (what a caller replaces), in the order given. */
  paths: string[];
  /** A full scan is needed instead (a folder, a symlink, a root or a .gitignore among the paths). */
  rescan: boolean;
}
