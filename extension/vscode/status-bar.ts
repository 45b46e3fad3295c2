// The status-bar item: the engine's state, the tokens in context and the GPU memory; a click opens the menu.
import * as vscode from 'vscode';
import type { EngineState, IngestProgress } from '../../webview/protocol';

export const STATUS_MENU_COMMAND = 'hipcode.statusMenu';

function compact(tokens: number): string {
  if (tokens >= 1e6) return `${(tokens / 1e6).toFixed(2)}M`;
  if (tokens >= 1e3) return `${(tokens / 1e3).toFixed(1)}K`;
  return String(tokens);
}

function gigabytes(bytes: number): string {
  return (bytes / 2 ** 30).toFixed(1);
}

/** The item's text for a state (and the ingest's progress, when one runs). */
export function statusText(state: EngineState, progress?: IngestProgress): string {
  switch (state.phase) {
    case 'restricted':
      return '$(shield) HiPCode: restricted';
    case 'noModel':
      return '$(warning) HiPCode: no model';
    case 'starting':
      return '$(loading~spin) HiPCode: loading model';
    case 'ingesting': {
      const done = progress?.totalTokens
        ? ` ${Math.floor((100 * progress.tokens) / progress.totalTokens)}%`
        : '';
      return `$(loading~spin) HiPCode: ingesting${done}`;
    }
    case 'answering':
      return '$(loading~spin) HiPCode: answering';
    case 'crashed':
      return '$(error) HiPCode: engine stopped';
    case 'stopped':
      return '$(circle-slash) HiPCode: stopped';
    case 'ready': {
      const gpu = state.gpuMemory
        ? ` · GPU ${gigabytes(state.gpuMemory.used)}/${gigabytes(state.gpuMemory.total)} GB`
        : '';
      return `$(sparkle) HiPCode: ${compact(state.contextTokens ?? 0)} tokens${gpu}`;
    }
  }
}

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem(
    'hipcode.status',
    vscode.StatusBarAlignment.Left,
    50,
  );
  private state: EngineState = { phase: 'stopped' };
  private progress: IngestProgress | undefined;

  constructor() {
    this.item.name = 'HiPCode';
    this.item.command = STATUS_MENU_COMMAND;
    this.item.show();
    this.render();
  }

  setState(state: EngineState): void {
    this.state = state;
    this.render();
  }

  setProgress(progress: IngestProgress | null): void {
    this.progress = progress ?? undefined;
    this.render();
  }

  private render(): void {
    this.item.text = statusText(this.state, this.progress);
    const lines = [`HiPCode — ${this.state.phase}`];
    if (this.state.message) lines.push(this.state.message);
    if (this.state.modelDir) lines.push(`Model: ${this.state.modelDir}`);
    if (this.state.backend) lines.push(`Backend: ${this.state.backend}`);
    if (this.state.modelContext) lines.push(`Model context: ${this.state.modelContext} tokens`);
    lines.push('Click for the HiPCode menu');
    this.item.tooltip = lines.join('\n');
    const alarm = this.state.phase === 'crashed';
    this.item.backgroundColor = alarm ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}
