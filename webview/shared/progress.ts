// Ingest progress as the views show it: phase, files, tokens, tokens/s and ETA, with a determinate bar.
import type { IngestProgress } from '../protocol';
import { h } from './dom';
import { formatCount, formatDuration, formatRate } from './format';

const PHASE_LABEL: Readonly<Record<IngestProgress['phase'], string>> = {
  scan: 'Scanning the workspace',
  tokenize: 'Tokenizing files',
  restore: 'Loading the saved context',
  prefill: 'Reading the context into the model',
};

/** Done and total for the bar: tokens when the phase knows its total, else files. */
function fraction(progress: IngestProgress): { done: number; total: number } {
  if (progress.totalTokens) return { done: progress.tokens, total: progress.totalTokens };
  return { done: progress.files, total: progress.totalFiles };
}

/** "120 / 480 files · 1,234,567 tokens · 9,876 tokens/s · ETA 2 min 05 s". */
export function progressDetails(progress: IngestProgress): string {
  const parts = [`${formatCount(progress.files)} / ${formatCount(progress.totalFiles)} files`];
  const tokens = progress.totalTokens
    ? `${formatCount(progress.tokens)} / ${formatCount(progress.totalTokens)} tokens`
    : `${formatCount(progress.tokens)} tokens`;
  parts.push(tokens);
  if (progress.tokensPerSecond !== undefined) parts.push(`${formatRate(progress.tokensPerSecond)} tokens/s`);
  if (progress.etaSeconds !== undefined) parts.push(`ETA ${formatDuration(progress.etaSeconds)}`);
  return parts.join(' · ');
}

/** The progress block: phase label, a bar (role="progressbar") and the details line. */
export function progressBlock(progress: IngestProgress): HTMLElement {
  const { done, total } = fraction(progress);
  const percent = total > 0 ? Math.min(100, Math.round((100 * done) / total)) : 0;
  const bar = h('progress', {
    class: 'progress-bar',
    max: 100,
    value: percent,
    'aria-label': PHASE_LABEL[progress.phase],
  });
  return h(
    'div',
    { class: 'ingest-progress', 'data-phase': progress.phase },
    h('div', { class: 'progress-phase' }, `${PHASE_LABEL[progress.phase]} — ${percent}%`),
    bar,
    h('div', { class: 'progress-details' }, progressDetails(progress)),
  );
}
