// Gives each rendered code block a toolbar with Copy and Insert-at-cursor (handled by the chat's click delegation).
import { codicon, h } from '../shared/dom';

export type CodeAction = 'copy' | 'insert';

function actionButton(action: CodeAction, label: string, icon: string): HTMLButtonElement {
  return h(
    'button',
    { type: 'button', class: 'icon-button', 'data-code-action': action, 'aria-label': label, title: label },
    codicon(icon),
  );
}

/** Wraps every `<pre>` under `root` in a `.code-block` with its action buttons. */
export function decorateCodeBlocks(root: DocumentFragment | Element): void {
  for (const pre of Array.from(root.querySelectorAll('pre'))) {
    const language = /language-(\S+)/.exec(pre.querySelector('code')?.className ?? '')?.[1];
    const toolbar = h(
      'div',
      { class: 'code-toolbar' },
      language ? h('span', { class: 'code-language' }, language) : null,
      actionButton('copy', 'Copy code', 'copy'),
      actionButton('insert', 'Insert code at cursor', 'insert'),
    );
    const block = h('div', { class: 'code-block' });
    pre.replaceWith(block);
    block.append(toolbar, pre);
  }
}

/** The code of the block a toolbar button belongs to. */
export function codeOf(button: Element): string {
  return (button.closest('.code-block')?.querySelector('pre')?.textContent ?? '').replace(/\n$/, '');
}
