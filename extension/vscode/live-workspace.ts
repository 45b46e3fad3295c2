// Keeps the engine's context live: file creations, edits and deletions on disk and unsaved editor text go to the
// engine as `hipcode/didChangeFiles`, batched over a short quiet period (the engine re-reads only those files).
import * as vscode from 'vscode';
import type { DidChangeFilesParams } from '../engine/protocol';

const QUIET_MS = 250;

export class LiveWorkspace implements vscode.Disposable {
  private readonly changed = new Set<string>();
  private readonly deleted = new Set<string>();
  private readonly buffers = new Map<string, string | null>();
  private readonly disposables: vscode.Disposable[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly send: (params: DidChangeFilesParams) => void) {
    const watcher = vscode.workspace.createFileSystemWatcher('**/*');
    const onDisk = (set: Set<string>, other: Set<string>) => (uri: vscode.Uri) => {
      if (uri.scheme !== 'file') return;
      other.delete(uri.fsPath);
      set.add(uri.fsPath);
      this.schedule();
    };
    this.disposables.push(
      watcher,
      watcher.onDidCreate(onDisk(this.changed, this.deleted)),
      watcher.onDidChange(onDisk(this.changed, this.deleted)),
      watcher.onDidDelete(onDisk(this.deleted, this.changed)),
      vscode.workspace.onDidChangeTextDocument((event) => this.edited(event.document)),
      vscode.workspace.onDidSaveTextDocument((document) => this.released(document)),
      vscode.workspace.onDidCloseTextDocument((document) => this.released(document)),
    );
  }

  /** Unsaved text replaces the file's; a buffer that became clean again (undo to saved) goes back to disk. */
  private edited(document: vscode.TextDocument): void {
    if (document.uri.scheme !== 'file') return;
    if (document.isDirty) this.buffers.set(document.uri.fsPath, document.getText());
    else this.buffers.set(document.uri.fsPath, null);
    this.schedule();
  }

  private released(document: vscode.TextDocument): void {
    if (document.uri.scheme !== 'file') return;
    this.buffers.set(document.uri.fsPath, null);
    this.schedule();
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.flush(), QUIET_MS);
  }

  private flush(): void {
    const params: DidChangeFilesParams = {};
    if (this.changed.size > 0) params.changed = [...this.changed];
    if (this.deleted.size > 0) params.deleted = [...this.deleted];
    if (this.buffers.size > 0) params.buffers = Object.fromEntries(this.buffers);
    this.changed.clear();
    this.deleted.clear();
    this.buffers.clear();
    if (Object.keys(params).length > 0) this.send(params);
  }

  dispose(): void {
    clearTimeout(this.timer);
    for (const disposable of this.disposables) disposable.dispose();
  }
}
