// Opens a cited `path:line` of an answer: the context's display path back to the file, the lines selected.
import * as vscode from 'vscode';
import { fileOfContextPath } from '../engine/workspace/roots';

/** Shows the file with lines startLine..endLine (1-based) selected and revealed. */
export async function openReference(
  roots: readonly string[],
  path: string,
  startLine: number,
  endLine: number,
): Promise<void> {
  const file = fileOfContextPath(roots, path);
  if (!file) {
    void vscode.window.showWarningMessage(`HiPCode: ${path} is not in any workspace folder.`);
    return;
  }
  try {
    const document = await vscode.workspace.openTextDocument(vscode.Uri.file(file));
    const last = Math.min(Math.max(endLine, startLine), document.lineCount) - 1;
    const first = Math.min(Math.max(startLine, 1), document.lineCount) - 1;
    const selection = new vscode.Range(first, 0, last, document.lineAt(last).text.length);
    await vscode.window.showTextDocument(document, { selection, preview: true });
  } catch (error) {
    void vscode.window.showWarningMessage(`HiPCode: cannot open ${path}: ${(error as Error).message}`);
  }
}
