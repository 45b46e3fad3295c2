// Every open HiPCode webview (chat view, chat panels, context view) and the UI state they render: a webview gets
// the whole state when it posts `ready`, and each change afterwards as a message.
import * as vscode from 'vscode';
import type { ContextReport } from '../engine/protocol';
import type {
  EngineState,
  HostMessage,
  IngestProgress,
  ModelChoice,
  Turn,
  ViewKind,
  ViewState,
  WebviewMessage,
} from '../../webview/protocol';
import { makeNonce, webviewHtml } from '../../webview/html';

/** The state all views share: a view's state without its kind. */
export type UiState = Omit<ViewState, 'view'>;

export const CHAT_VIEW_ID = 'hipcode.chat';
export const CONTEXT_VIEW_ID = 'hipcode.context';

interface Attached {
  webview: vscode.Webview;
  view: ViewKind;
  ready: boolean;
}

export class WebviewHub implements vscode.Disposable {
  private readonly attached = new Set<Attached>();

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly state: UiState,
    private readonly onMessage: (message: WebviewMessage, view: ViewKind) => void,
  ) {}

  /** The conversation's turns (the chat controller changes them in place). */
  get turns(): Turn[] {
    return this.state.turns;
  }

  /** The webview assets' folder (dist/webview), the only local resource root. */
  get assetsRoot(): vscode.Uri {
    return vscode.Uri.joinPath(this.extensionUri, 'dist', 'webview');
  }

  /** Sets up `webview` to show `view` and routes its messages until `lifetime` ends. */
  attach(webview: vscode.Webview, view: ViewKind, lifetime: { onDidDispose: vscode.Event<void> }): void {
    const entry: Attached = { webview, view, ready: false };
    webview.options = { enableScripts: true, localResourceRoots: [this.assetsRoot] };
    const asset = (name: string): string =>
      webview.asWebviewUri(vscode.Uri.joinPath(this.assetsRoot, name)).toString();
    webview.html = webviewHtml({
      view,
      title: view === 'chat' ? 'HiPCode Chat' : 'HiPCode Context',
      scriptUri: asset('main.js'),
      styleUri: asset('main.css'),
      codiconsUri: asset('codicon.css'),
      cspSource: webview.cspSource,
      nonce: makeNonce(),
    });
    this.attached.add(entry);
    const subscription = webview.onDidReceiveMessage((message: WebviewMessage) => {
      if (message?.type === 'ready') {
        entry.ready = true;
        void webview.postMessage({ type: 'state', state: this.viewState(view) } satisfies HostMessage);
        return;
      }
      this.onMessage(message, view);
    });
    lifetime.onDidDispose(() => {
      this.attached.delete(entry);
      subscription.dispose();
    });
  }

  private viewState(view: ViewKind): ViewState {
    return { view, ...this.state };
  }

  /** Sends `message` to every ready webview (of `view` when given). */
  post(message: HostMessage, view?: ViewKind): void {
    for (const entry of this.attached) {
      if (entry.ready && (view === undefined || entry.view === view)) void entry.webview.postMessage(message);
    }
  }

  /** Re-sends the whole state to every ready webview. */
  refresh(): void {
    for (const entry of this.attached) {
      if (entry.ready) void entry.webview.postMessage({ type: 'state', state: this.viewState(entry.view) });
    }
  }

  setEngine(engine: EngineState): void {
    this.state.engine = engine;
    this.post({ type: 'engine', engine });
  }

  setProgress(progress: IngestProgress | null): void {
    this.state.progress = progress ?? undefined;
    this.post({ type: 'progress', progress });
  }

  setReport(report: ContextReport): void {
    this.state.report = report;
    this.post({ type: 'report', report });
  }

  setModels(models: ModelChoice[] | undefined, gpuNote?: string): void {
    this.state.models = models;
    this.state.gpuNote = gpuNote;
    this.refresh();
  }

  /** Registers the sidebar's chat and context views. */
  registerViews(): vscode.Disposable[] {
    const provider = (view: ViewKind): vscode.WebviewViewProvider => ({
      resolveWebviewView: (webviewView) => this.attach(webviewView.webview, view, webviewView),
    });
    const options = { webviewOptions: { retainContextWhenHidden: true } };
    return [
      vscode.window.registerWebviewViewProvider(CHAT_VIEW_ID, provider('chat'), options),
      vscode.window.registerWebviewViewProvider(CONTEXT_VIEW_ID, provider('context'), options),
    ];
  }

  /** Opens the chat in an editor panel (the same conversation as the sidebar's). */
  openChatPanel(): void {
    const panel = vscode.window.createWebviewPanel(
      'hipcode.chatPanel',
      'HiPCode Chat',
      vscode.ViewColumn.Beside,
      { enableScripts: true, retainContextWhenHidden: true, localResourceRoots: [this.assetsRoot] },
    );
    this.attach(panel.webview, 'chat', panel);
  }

  dispose(): void {
    this.attached.clear();
  }
}
