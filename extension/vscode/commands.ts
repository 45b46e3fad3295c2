// The command-palette commands (their titles and keybindings are in package.json).
import { relative } from 'node:path';
import * as vscode from 'vscode';
import type { HipCode } from './hipcode';
import { STATUS_MENU_COMMAND } from './status-bar';
import { CHAT_VIEW_ID, CONTEXT_VIEW_ID } from './webview-hub';

/** The fenced selection of `editor` with where it comes from. */
function selectionQuestion(editor: vscode.TextEditor, question: string): string {
  const { document, selection } = editor;
  const folder = vscode.workspace.getWorkspaceFolder(document.uri);
  const path = folder ? relative(folder.uri.fsPath, document.uri.fsPath) : document.uri.fsPath;
  // A selection that ends at the start of a line does not take that line.
  const end =
    selection.end.character === 0 && selection.end.line > selection.start.line
      ? selection.end.line
      : selection.end.line + 1;
  const lines = `${selection.start.line + 1}-${end}`;
  const code = document.getText(selection);
  return `${question}\n\nThe code, from ${path}:${lines}:\n\`\`\`${document.languageId}\n${code}\n\`\`\``;
}

function focusChat(): Thenable<unknown> {
  return vscode.commands.executeCommand(`${CHAT_VIEW_ID}.focus`);
}

async function askAboutSelection(hipcode: HipCode): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor || editor.selection.isEmpty) {
    void vscode.window.showInformationMessage(
      'HiPCode: select some code first, then run "Ask about Selection".',
    );
    return;
  }
  const question = await vscode.window.showInputBox({
    title: 'HiPCode: Ask about Selection',
    prompt: 'What do you want to know about the selected code?',
    placeHolder: 'Explain this code and where it is used',
  });
  if (question === undefined) return;
  await focusChat();
  hipcode.ask(selectionQuestion(editor, question.trim() || 'Explain this code and where it is used.'));
}

async function explainFile(hipcode: HipCode): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor) {
    void vscode.window.showInformationMessage('HiPCode: open a file first, then run "Explain Current File".');
    return;
  }
  const uri = editor.document.uri;
  const folder = vscode.workspace.getWorkspaceFolder(uri);
  const path = folder ? relative(folder.uri.fsPath, uri.fsPath) : uri.fsPath;
  await focusChat();
  hipcode.ask(
    `Explain ${path}: what it is for, its main parts, and where the rest of the workspace uses it.`,
  );
}

async function whereIs(hipcode: HipCode): Promise<void> {
  await focusChat();
  hipcode.prefill('Where is ');
}

async function statusMenu(): Promise<void> {
  const items: (vscode.QuickPickItem & { command: string })[] = [
    { label: '$(comment-discussion) Open chat', command: `${CHAT_VIEW_ID}.focus` },
    { label: '$(list-tree) Show context report', command: 'hipcode.showContext' },
    { label: '$(refresh) Re-ingest workspace', command: 'hipcode.reingest' },
    { label: '$(file-submodule) Select model', command: 'hipcode.selectModel' },
    { label: '$(debug-restart) Restart engine', command: 'hipcode.restartEngine' },
    { label: '$(output) Show engine log', command: 'hipcode.showLog' },
    { label: '$(settings-gear) Open settings', command: 'hipcode.openSettings' },
  ];
  const picked = await vscode.window.showQuickPick(items, { title: 'HiPCode' });
  if (picked) await vscode.commands.executeCommand(picked.command);
}

/** Registers every HiPCode command. */
export function registerCommands(hipcode: HipCode): vscode.Disposable[] {
  const commands: Record<string, () => unknown> = {
    'hipcode.askAboutSelection': () => askAboutSelection(hipcode),
    'hipcode.explainFile': () => explainFile(hipcode),
    'hipcode.whereIs': () => whereIs(hipcode),
    'hipcode.reingest': () => hipcode.reingest(),
    'hipcode.selectModel': () => hipcode.selectModel(),
    'hipcode.showContext': () => vscode.commands.executeCommand(`${CONTEXT_VIEW_ID}.focus`),
    'hipcode.restartEngine': () => hipcode.restart(),
    'hipcode.showLog': () => hipcode.showLog(),
    'hipcode.openSettings': () => vscode.commands.executeCommand('workbench.action.openSettings', 'hipcode.'),
    'hipcode.newChat': () => hipcode.newChat(),
    'hipcode.stop': () => hipcode.stop(),
    'hipcode.openChatPanel': () => hipcode.openChatPanel(),
    [STATUS_MENU_COMMAND]: statusMenu,
  };
  return Object.entries(commands).map(([id, run]) => vscode.commands.registerCommand(id, run));
}
