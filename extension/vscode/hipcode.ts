// The extension's parts wired together for one window: settings, workspace trust, the supervised engine, the
// webviews and the status bar; every webview message and command ends up here.
import * as vscode from 'vscode';
import type { ModelChoice, WebviewMessage } from '../../webview/protocol';
import { ChatController } from './chat';
import { EngineRequestError } from './engine-client';
import { LiveWorkspace } from './live-workspace';
import { discoverModels } from './models';
import { openReference } from './references';
import {
  changedSettings,
  readSettings,
  REINGEST_SETTINGS,
  RESTART_SETTINGS,
  type Settings,
} from './settings';
import { StatusBar } from './status-bar';
import { Supervisor, type Crash } from './supervisor';
import { WebviewHub } from './webview-hub';

const CPU_NOTE =
  'No usable NVIDIA GPU was found (the engine log says why), so the engine runs on the CPU: fine for small ' +
  'workspaces and small models, slow for whole repositories. With an NVIDIA GPU and its driver, choose ' +
  'hipcode.backend "cuda" or "auto".';

function readConfiguration(): ReturnType<typeof readSettings> {
  const configuration = vscode.workspace.getConfiguration('hipcode');
  return readSettings((key) => configuration.get(key));
}

function workspaceRoots(): string[] {
  return (vscode.workspace.workspaceFolders ?? [])
    .filter((folder) => folder.uri.scheme === 'file')
    .map((folder) => folder.uri.fsPath);
}

export class HipCode implements vscode.Disposable {
  private settings: Settings;
  private readonly log = vscode.window.createOutputChannel('HiPCode Engine', { log: true });
  private readonly hub: WebviewHub;
  private readonly supervisor: Supervisor;
  private readonly chat: ChatController;
  private readonly statusBar = new StatusBar();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly context: vscode.ExtensionContext) {
    const { settings, problems } = readConfiguration();
    this.settings = settings;
    this.reportProblems(problems);
    this.hub = new WebviewHub(
      context.extensionUri,
      { engine: { phase: 'stopped' }, turns: ChatController.restore(context.workspaceState) },
      (message) => void this.onMessage(message),
    );
    this.supervisor = new Supervisor({
      script: vscode.Uri.joinPath(context.extensionUri, 'dist', 'engine.js').fsPath,
      log: (line) => this.engineLog(line),
    });
    this.chat = new ChatController(context.workspaceState, this.hub, this.supervisor, () => this.settings);
    this.supervisor.onState.add((state) => {
      this.hub.setEngine(state);
      this.statusBar.setState(state);
    });
    this.supervisor.onProgress.add((progress) => {
      this.hub.setProgress(progress);
      this.statusBar.setProgress(progress);
    });
    this.supervisor.onReport.add((report) => this.hub.setReport(report));
    this.supervisor.onCrash.add((crash) => void this.notifyCrash(crash));
    this.disposables.push(
      this.log,
      this.hub,
      this.statusBar,
      ...this.hub.registerViews(),
      vscode.workspace.onDidChangeConfiguration((event) => {
        if (event.affectsConfiguration('hipcode')) void this.settingsChanged();
      }),
      vscode.workspace.onDidGrantWorkspaceTrust(() => void this.boot()),
      vscode.workspace.onDidChangeWorkspaceFolders(() => void this.reingest()),
      new LiveWorkspace((changes) => this.supervisor.notifyChanges(changes)),
    );
  }

  private engineLog(line: string): void {
    const match = /^\[(info|warn|error|client)\] ?(.*)$/.exec(line);
    if (!match) return this.log.info(line);
    const [, level, text] = match;
    if (level === 'warn') this.log.warn(text);
    else if (level === 'error') this.log.error(text);
    else this.log.info(level === 'client' ? `(extension) ${text}` : text);
  }

  private reportProblems(problems: string[]): void {
    for (const problem of problems) {
      this.log.warn(problem);
      void vscode.window.showWarningMessage(`HiPCode: ${problem}`, 'Open settings').then((picked) => {
        if (picked) void vscode.commands.executeCommand('workbench.action.openSettings', 'hipcode.');
      });
    }
  }

  /** Starts what the window allows: nothing when untrusted, the model list without a model, else the engine. */
  async boot(): Promise<void> {
    if (!vscode.workspace.isTrusted) {
      await this.supervisor.idle(
        'restricted',
        'This workspace is in Restricted Mode: HiPCode reads no files and starts no engine until you trust it.',
      );
      return;
    }
    this.configureEngine();
    if (this.settings.modelPath === '') {
      await this.supervisor.idle(
        'noModel',
        'Choose a model to start: HiPCode needs a local Hugging Face model.',
      );
      await this.listModels();
      return;
    }
    await this.supervisor.start();
    this.afterStart();
  }

  /** Gives the supervisor the current settings and folders (read again by every start and sync). */
  private configureEngine(): void {
    this.supervisor.configure({
      settings: this.settings,
      roots: workspaceRoots(),
      buffers: () => this.unsavedBuffers(),
    });
  }

  private afterStart(): void {
    const cpuFallback = this.settings.backend === 'auto' && this.supervisor.state.backend === 'cpu';
    this.hub.setModels(undefined, cpuFallback ? CPU_NOTE : undefined);
  }

  private async listModels(): Promise<void> {
    this.hub.setModels(await this.findModels());
  }

  /** The models found in the Hugging Face cache and hipcode.modelFolders (none, logged, when discovery fails). */
  private async findModels(): Promise<ModelChoice[]> {
    const cli = vscode.Uri.joinPath(this.context.extensionUri, 'dist', 'hipcode.js').fsPath;
    try {
      return await discoverModels(cli, this.settings.modelFolders);
    } catch (error) {
      this.log.warn((error as Error).message);
      return [];
    }
  }

  private unsavedBuffers(): Record<string, string> {
    const buffers: Record<string, string> = {};
    for (const document of vscode.workspace.textDocuments) {
      if (document.isDirty && document.uri.scheme === 'file')
        buffers[document.uri.fsPath] = document.getText();
    }
    return buffers;
  }

  private async settingsChanged(): Promise<void> {
    const before = this.settings;
    const { settings, problems } = readConfiguration();
    this.settings = settings;
    this.reportProblems(problems);
    const changed = changedSettings(before, settings);
    if (changed.includes('modelPath')) return this.boot();
    const restart = changed.filter((key) => RESTART_SETTINGS.includes(key));
    if (restart.length > 0) {
      const picked = await vscode.window.showInformationMessage(
        `HiPCode: the change of ${restart.map((key) => `hipcode.${key}`).join(', ')} takes effect when the ` +
          'engine restarts.',
        'Restart engine',
      );
      if (picked) await this.restart();
      return;
    }
    this.configureEngine();
    if (changed.some((key) => REINGEST_SETTINGS.includes(key))) await this.reingest();
  }

  private async notifyCrash(crash: Crash): Promise<void> {
    const when =
      crash.restartInMs !== undefined ? ` Restarting in ${Math.round(crash.restartInMs / 1000)} s.` : '';
    const picked = await vscode.window.showErrorMessage(`${crash.message}${when}`, 'Show log', 'Restart');
    if (picked === 'Show log') this.showLog();
    if (picked === 'Restart') await this.restart();
  }

  private async onMessage(message: WebviewMessage): Promise<void> {
    switch (message.type) {
      case 'ask':
        return this.ask(message.question);
      case 'stop':
        return this.stop();
      case 'newChat':
        return this.newChat();
      case 'openReference':
        return openReference(workspaceRoots(), message.path, message.startLine, message.endLine);
      case 'copy':
        return vscode.env.clipboard.writeText(message.text);
      case 'insert':
        return this.insert(message.text);
      case 'reingest':
        return this.reingest();
      case 'cancelIngest':
        return this.supervisor.cancelSync();
      case 'selectModel':
        return message.dir ? this.useModel(message.dir) : this.browseModel();
      case 'restartEngine':
        return this.restart();
      case 'showLog':
        return this.showLog();
      case 'manageTrust':
        return void vscode.commands.executeCommand('workbench.trust.manage');
      case 'openChatPanel':
        return this.openChatPanel();
      case 'ready':
        return;
    }
  }

  ask(question: string): void {
    this.chat.ask(question).catch((error: EngineRequestError) => {
      void vscode.window.showWarningMessage(`HiPCode: ${error.message}`);
    });
  }

  prefill(text: string): void {
    this.hub.post({ type: 'prefill', text }, 'chat');
  }

  stop(): void {
    this.chat.stop();
  }

  newChat(): Promise<void> {
    return this.chat.newChat();
  }

  openChatPanel(): void {
    this.hub.openChatPanel();
  }

  showLog(): void {
    this.log.show(true);
  }

  private async insert(text: string): Promise<void> {
    const editor = vscode.window.activeTextEditor ?? vscode.window.visibleTextEditors[0];
    if (!editor) {
      void vscode.window.showInformationMessage('HiPCode: open an editor to insert the code into.');
      return;
    }
    await editor.edit((edit) => edit.replace(editor.selection, text));
  }

  async reingest(): Promise<void> {
    if (this.supervisor.state.phase !== 'ready' && this.supervisor.state.phase !== 'ingesting') {
      void vscode.window.showInformationMessage(
        `HiPCode: the workspace can be ingested once the engine is ready (it is ${this.supervisor.state.phase}).`,
      );
      return;
    }
    this.configureEngine();
    try {
      await this.supervisor.sync();
    } catch (error) {
      const e = error as EngineRequestError;
      if (e.code !== 'E_CANCELLED' && e.code !== 'E_ENGINE_EXITED') {
        void vscode.window.showWarningMessage(`HiPCode: the ingest failed: ${e.message}`);
      }
    }
  }

  async restart(): Promise<void> {
    if (this.settings.modelPath === '' || !vscode.workspace.isTrusted) return this.boot();
    this.configureEngine();
    await this.supervisor.restart();
    this.afterStart();
  }

  /** Quick pick of the discovered models, plus "Browse…". */
  async selectModel(): Promise<void> {
    const models = await this.findModels();
    const browse = {
      label: '$(folder-opened) Browse…',
      description: 'a folder with config.json and *.safetensors',
    };
    const items: (vscode.QuickPickItem & { model?: ModelChoice })[] = [
      ...models.map((model) => ({
        label: model.problem ? `$(error) ${model.name}` : model.name,
        description: model.problem ? 'not usable' : `${model.architecture}, context ${model.contextLength}`,
        detail: model.problem ?? model.dir,
        model,
      })),
      browse,
    ];
    const picked = await vscode.window.showQuickPick(items, {
      title: 'HiPCode: Select model',
      matchOnDetail: true,
    });
    if (!picked) return;
    if (!picked.model) return this.browseModel();
    if (picked.model.problem) {
      void vscode.window.showWarningMessage(
        `HiPCode: ${picked.model.name} cannot be used: ${picked.model.problem}`,
      );
      return;
    }
    await this.useModel(picked.model.dir);
  }

  private async browseModel(): Promise<void> {
    const folders = await vscode.window.showOpenDialog({
      canSelectFolders: true,
      canSelectFiles: false,
      canSelectMany: false,
      openLabel: 'Use this model',
      title: 'HiPCode: the folder of a Hugging Face model (config.json, tokenizer.json, *.safetensors)',
    });
    if (folders?.[0]) await this.useModel(folders[0].fsPath);
  }

  /** Saves the model in the user's settings (never the workspace's); the change restarts the engine. */
  private async useModel(dir: string): Promise<void> {
    await vscode.workspace
      .getConfiguration('hipcode')
      .update('modelPath', dir, vscode.ConfigurationTarget.Global);
  }

  async dispose(): Promise<void> {
    this.chat.stop();
    await this.supervisor.stop();
    for (const disposable of this.disposables) disposable.dispose();
  }
}
