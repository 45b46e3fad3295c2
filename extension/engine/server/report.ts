// The protocol's view of the engine's state: the context report, and prefill and snapshot-load progress.
import type { PrefillProgress } from '../answer/context-session';
import type { ContextReport, ProgressParams } from '../protocol';
import type { WorkspaceContext } from '../workspace';

export function contextReport(context: WorkspaceContext, modelContext: number): ContextReport {
  return {
    roots: context.roots,
    included: context.included.map((f) => ({
      path: f.path,
      language: f.language,
      bytes: f.bytes,
      tokens: f.tokens,
    })),
    excluded: context.excluded.map((e) => ({ path: e.path, kind: e.kind, code: e.code, reason: e.reason })),
    totals: {
      includedFiles: context.included.length,
      excludedEntries: context.excluded.length,
      tokens: context.tokens,
      budget: context.budget,
      modelContext,
    },
  };
}

/** Which request progress belongs to. */
export type ProgressBase = Pick<ProgressParams, 'requestId' | 'method'>;

/** ProgressParams of a prefill chunk, or of a snapshot load (phase 'restore'). */
export function prefillProgress(
  base: ProgressBase,
  files: number,
  step: PrefillProgress,
  phase: 'prefill' | 'restore' = 'prefill',
): ProgressParams {
  return {
    ...base,
    phase,
    files,
    totalFiles: files,
    tokens: step.done,
    totalTokens: step.total,
    tokensPerSecond: step.tokensPerSecond,
    etaSeconds: step.etaSeconds,
  };
}
