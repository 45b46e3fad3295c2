// The VS Code extension's entry point: builds the window's HiPCode, registers its commands, starts the engine.
import type * as vscode from 'vscode';
import { registerCommands } from './commands';
import { HipCode } from './hipcode';

let hipcode: HipCode | undefined;

export function activate(context: vscode.ExtensionContext): void {
  hipcode = new HipCode(context);
  context.subscriptions.push(...registerCommands(hipcode));
  void hipcode.boot();
}

/** Stops the engine (shutdown, exit, or a kill after a grace period) before the window goes. */
export async function deactivate(): Promise<void> {
  await hipcode?.dispose();
  hipcode = undefined;
}
