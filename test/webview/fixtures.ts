// View states, turns and a context report for the webview tests.
import type { ContextReport } from '../../extension/engine/protocol';
import type { EngineState, Turn, ViewKind, ViewState } from '../../webview/protocol';

export const READY: EngineState = {
  phase: 'ready',
  backend: 'cuda',
  modelContext: 131072,
  contextTokens: 5000,
};

export function viewState(view: ViewKind, patch: Partial<ViewState> = {}): ViewState {
  return { view, engine: READY, turns: [], ...patch };
}

export function turn(patch: Partial<Turn> & { id: string }): Turn {
  return { question: 'What does it do?', answer: '', status: 'done', references: [], ...patch };
}

/** Six files in three folders; tokens chosen so areas differ a lot. */
export const REPORT: ContextReport = {
  roots: ['/work/repo'],
  included: [
    { path: 'src/engine/model.ts', language: 'typescript', bytes: 40000, tokens: 12000 },
    { path: 'src/engine/attention.cu', language: 'cuda-cpp', bytes: 20000, tokens: 6000 },
    { path: 'src/ui/view.ts', language: 'typescript', bytes: 8000, tokens: 3000 },
    { path: 'docs/guide.md', language: 'markdown', bytes: 6000, tokens: 1500 },
    { path: 'README.md', language: 'markdown', bytes: 3000, tokens: 1000 },
    { path: 'test/model.test.ts', language: 'typescript', bytes: 2000, tokens: 500 },
  ],
  excluded: [
    { path: 'node_modules', kind: 'folder', code: 'default', reason: 'dependency folder (default exclude)' },
    { path: '.git', kind: 'folder', code: 'default', reason: 'version control folder (default exclude)' },
    { path: 'build/out.log', kind: 'file', code: 'gitignore', reason: 'ignored by .gitignore (build/)' },
    { path: 'assets/logo.png', kind: 'file', code: 'binary', reason: 'binary file' },
  ],
  totals: { includedFiles: 6, excludedEntries: 4, tokens: 24000, budget: 100000, modelContext: 131072 },
};
