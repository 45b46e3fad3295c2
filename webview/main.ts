// The webview bundle's entry: shows the chat or the context view (body[data-view]), announces `ready` once its
// listener is attached, and renders nothing until the host's first `state` arrives.
import './shared/elements';
import { ChatView } from './chat/chat-view';
import { ContextView } from './context/context-view';
import type { HostMessage } from './protocol';
import { onHostMessage, post } from './shared/vscode';

interface View {
  handle(message: HostMessage): void;
}

function createView(root: HTMLElement): View {
  return document.body.dataset.view === 'context' ? new ContextView(root) : new ChatView(root);
}

function start(): void {
  const root = document.getElementById('root') ?? document.body;
  let view: View | undefined;
  onHostMessage((message) => {
    if (!view && message.type !== 'state') return;
    if (!view) {
      view = createView(root);
      root.removeAttribute('aria-busy');
    }
    view.handle(message);
  });
  post({ type: 'ready' });
}

start();
