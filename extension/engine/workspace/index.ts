// Public API of the workspace context module (engine side, no VS Code dependency).
//
// buildContext(options) = scanWorkspace → orderFiles → renderFiles → applyBudget:
// - scan: roots walked with nested .gitignore files (deeper files win, `!negation` works), default excludes
//   (defaults.ts), user gitignore-style include/exclude globs, a size cap (1 MiB), content checks (NUL byte in
//   the first 8 KiB → binary, invalid UTF-8, mean line length > 1000 → minified, a generated marker in the first
//   5 lines). Symlinks are resolved after the plain tree, in path order: folders outside the roots or already
//   walked (loops) are not followed, a file is read once. Unreadable entries are reported, never thrown.
// - order: oldest modification first, then path, so an edit invalidates only a suffix of the context.
// - render: `<file path="src/a.ts" language="typescript">\n…text…\n</file>\n` per file; tokens include the tags.
// - budget: first fit in that order; every file left out gets a reason with the tokens it needed.
// updateContext(context, changes, options) re-scans only changed paths (a changed .gitignore, folder or symlink:
// everything, reusing the tokens of unchanged files), re-orders and re-applies the budget.
export { applyBudget, type BudgetResult } from './budget';
export {
  buildContext,
  contextText,
  type ContextOptions,
  type ContextProgress,
  type WorkspaceContext,
} from './context';
export { DEFAULT_MAX_FILE_BYTES } from './defaults';
export { languageOf } from './languages';
export { compareStable, orderFiles } from './order';
export { fileBlock, renderFile, renderFiles, type RenderedFile, type Tokenize } from './render';
export { classifyContent, scanPaths, scanWorkspace } from './scan';
export type {
  ExcludeCode,
  ExcludedEntry,
  PathScanResult,
  ScanOptions,
  ScanResult,
  WorkspaceFile,
} from './types';
export { updateContext, type UpdateResult, type WorkspaceChanges } from './update';
