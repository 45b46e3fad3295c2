// The context view: what the model sees — ingest progress, the budget, the treemap, included and excluded files.
import type { ContextReport } from '../../extension/engine/protocol';
import type { HostMessage, ViewState } from '../protocol';
import { postButton } from '../shared/buttons';
import { h, replaceChildren } from '../shared/dom';
import { formatCount } from '../shared/format';
import { progressBlock } from '../shared/progress';
import { post } from '../shared/vscode';
import { budgetMeter } from './budget';
import { exclusionsList } from './exclusions';
import { FilesTable } from './files-table';
import { Treemap } from './treemap';

function section(name: string, title: string, ...body: (Node | null)[]): HTMLElement {
  return h(
    'section',
    { class: `context-section section-${name}`, 'aria-label': title },
    h('h2', {}, title),
    ...body,
  );
}

export class ContextView {
  private state: ViewState | undefined;
  private readonly status = h('p', { class: 'ingest-status' });
  private readonly progress = h('div', { class: 'ingest-progress-host' });
  private readonly cancel = postButton(
    'Cancel',
    { type: 'cancelIngest' },
    { icon: 'close', secondary: true, ariaLabel: 'Cancel ingest' },
  );
  private readonly reingest = postButton(
    'Re-ingest',
    { type: 'reingest' },
    { icon: 'refresh', ariaLabel: 'Re-ingest workspace' },
  );
  private readonly ingest = h(
    'div',
    { class: 'ingest' },
    this.status,
    this.progress,
    this.cancel,
    this.reingest,
  );
  private readonly summary = h('div', { class: 'summary' });
  private readonly treemap = new Treemap();
  private readonly files = new FilesTable();
  private readonly excluded = h('div');
  private readonly report = h('div', { class: 'report' });

  constructor(root: HTMLElement) {
    this.report.append(
      section('budget', 'Budget', this.summary),
      section('treemap', 'Where the tokens go', this.treemap.element),
      section('files', 'Included files', this.files.element),
      section('excluded', 'Left out', this.excluded),
    );
    root.replaceChildren(
      h('div', { class: 'context' }, section('ingest', 'Ingest', this.ingest), this.report),
    );
    this.files.element.addEventListener('click', (event) => this.openFile(event.target as Element));
    this.files.element.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') this.openFile(event.target as Element);
    });
  }

  handle(message: HostMessage): void {
    switch (message.type) {
      case 'state':
        this.state = message.state;
        this.renderIngest();
        this.renderReport(message.state.report);
        return;
      case 'engine':
        if (this.state) this.state.engine = message.engine;
        return this.renderIngest();
      case 'progress':
        if (this.state) this.state.progress = message.progress ?? undefined;
        return this.renderIngest();
      case 'report':
        if (this.state) this.state.report = message.report;
        this.renderIngest();
        return this.renderReport(message.report);
      default:
        return;
    }
  }

  /** The sentence shown when no ingest runs. */
  private static idleStatus(state: ViewState): string {
    const { engine, report } = state;
    if (engine.phase === 'restricted')
      return 'The workspace is not trusted: nothing is read in Restricted Mode.';
    if (engine.phase === 'noModel') return 'Choose a model in the chat view to read the workspace.';
    if (!report) return 'The workspace has not been read yet.';
    const summary = `${formatCount(report.totals.includedFiles)} files, ${formatCount(report.totals.tokens)} tokens in context.`;
    const restored = report.restoredTokens
      ? ` ${formatCount(report.restoredTokens)} tokens were restored from the saved context instead of prefilled.`
      : '';
    return summary + restored;
  }

  /** Updates the ingest section in place (its buttons stay, so keyboard focus survives progress ticks). */
  private renderIngest(): void {
    const state = this.state;
    if (!state) return;
    const { progress, engine } = state;
    const canIngest = engine.phase === 'ready' || engine.phase === 'stopped' || engine.phase === 'crashed';
    replaceChildren(this.progress, progress ? progressBlock(progress) : null);
    this.status.textContent = ContextView.idleStatus(state);
    this.status.hidden = !!progress;
    this.cancel.hidden = !progress;
    this.reingest.hidden = !!progress || !canIngest;
  }

  private renderReport(report: ContextReport | undefined): void {
    this.report.hidden = !report;
    if (!report) return;
    this.summary.replaceChildren(budgetMeter(report.totals));
    this.treemap.update(report.included);
    this.files.update(report.included);
    this.excluded.replaceChildren(exclusionsList(report.excluded));
  }

  private openFile(target: Element): void {
    const path = target.closest('.file-link')?.getAttribute('data-path');
    if (path) post({ type: 'openReference', path, startLine: 1, endLine: 1 });
  }
}
