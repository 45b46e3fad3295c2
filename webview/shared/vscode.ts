// The typed bridge to the extension host: posts WebviewMessages, receives HostMessages, keeps per-view UI state.
import type { HostMessage, WebviewMessage } from '../protocol';

/** What the webview keeps across hide/show through `vscode.setState`. */
export interface PersistedState {
  draft?: string;
}

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

const api: VsCodeApi = acquireVsCodeApi();

export function post(message: WebviewMessage): void {
  api.postMessage(message);
}

export function persisted(): PersistedState {
  const state = api.getState();
  return typeof state === 'object' && state !== null ? (state as PersistedState) : {};
}

export function persist(patch: PersistedState): void {
  api.setState({ ...persisted(), ...patch });
}

/** Calls `handler` for each message the host sends (messages without a string `type` are ignored). */
export function onHostMessage(handler: (message: HostMessage) => void): void {
  window.addEventListener('message', (event: MessageEvent<unknown>) => {
    const data = event.data;
    if (typeof data === 'object' && data !== null && typeof (data as { type?: unknown }).type === 'string') {
      handler(data as HostMessage);
    }
  });
}
