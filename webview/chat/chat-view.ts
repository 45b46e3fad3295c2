// The chat view: toolbar, engine banner, conversation and question box, driven by the host's messages.
import type { HostMessage, ViewState } from '../protocol';
import { postButton } from '../shared/buttons';
import { h } from '../shared/dom';
import { post } from '../shared/vscode';
import { renderBanners } from './banner';
import { codeOf, type CodeAction } from './code-blocks';
import { Composer } from './composer';
import { TurnList } from './turns';

export class ChatView {
  private state: ViewState | undefined;
  private readonly banners = h('div', { class: 'banners' });
  private readonly turns = new TurnList();
  private readonly composer = new Composer();

  constructor(root: HTMLElement) {
    const toolbar = h(
      'div',
      { class: 'toolbar', role: 'toolbar', 'aria-label': 'Chat actions' },
      postButton('New chat', { type: 'newChat' }, { icon: 'add', secondary: true, ariaLabel: 'New chat' }),
      postButton(
        'Open in editor',
        { type: 'openChatPanel' },
        { icon: 'link-external', secondary: true, ariaLabel: 'Open chat in an editor panel' },
      ),
    );
    root.replaceChildren(
      h('div', { class: 'chat' }, toolbar, this.banners, this.turns.element, this.composer.element),
    );
    this.turns.element.addEventListener('click', (event) => this.onClick(event));
    this.turns.element.addEventListener('keydown', (event) => this.onKey(event));
  }

  handle(message: HostMessage): void {
    switch (message.type) {
      case 'state':
        this.state = message.state;
        this.turns.reset(message.state.turns);
        break;
      case 'engine':
        if (this.state) this.state.engine = message.engine;
        break;
      case 'progress':
        if (this.state) this.state.progress = message.progress ?? undefined;
        break;
      case 'turnStart':
      case 'turnEnd':
        this.turns.upsert(message.turn);
        break;
      case 'turnDelta':
        this.turns.delta(message.id, message.text);
        return;
      case 'prefill':
        this.composer.prefill(message.text);
        return;
      case 'report':
        return;
    }
    this.refresh();
  }

  private refresh(): void {
    if (!this.state) return;
    renderBanners(this.banners, this.state);
    const canAsk = this.state.engine.phase === 'ready' || this.state.engine.phase === 'answering';
    this.composer.update(this.turns.streaming(), canAsk);
  }

  private onClick(event: Event): void {
    const target = event.target as Element;
    const href = target.closest('a[href]')?.getAttribute('href') ?? '';
    if (href !== '' && !/^(https?|mailto):/i.test(href)) event.preventDefault();
    const action = target.closest('[data-code-action]');
    if (action) {
      const type = action.getAttribute('data-code-action') as CodeAction;
      post({ type, text: codeOf(action) });
      return;
    }
    this.openReference(target);
  }

  private onKey(event: KeyboardEvent): void {
    if (event.key !== 'Enter' && event.key !== ' ') return;
    if (!(event.target as Element).matches('.reference.verified')) return;
    event.preventDefault();
    this.openReference(event.target as Element);
  }

  /** Opens the verified reference `target` is part of, if any. */
  private openReference(target: Element): void {
    const link = target.closest('.reference.verified');
    const reference =
      link && this.turns.turnOf(link)?.references[Number(link.getAttribute('data-reference'))];
    if (!reference) return;
    post({
      type: 'openReference',
      path: reference.path,
      startLine: reference.startLine,
      endLine: reference.endLine,
    });
  }
}
