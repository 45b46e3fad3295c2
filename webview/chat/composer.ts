// The question box: Enter sends, Shift+Enter starts a new line; Send or Stop; the draft survives hide/show.
import { button } from '../shared/buttons';
import { h } from '../shared/dom';
import { persist, persisted, post } from '../shared/vscode';

export class Composer {
  readonly textarea = h('textarea', {
    id: 'question',
    rows: 3,
    placeholder: 'Ask about the workspace (Enter to send, Shift+Enter for a new line)',
    'aria-label': 'Question',
  });
  private readonly send = button('Send', () => this.submit(), { icon: 'send', ariaLabel: 'Send question' });
  private readonly stop = button('Stop', () => post({ type: 'stop' }), {
    icon: 'debug-stop',
    secondary: true,
    ariaLabel: 'Stop generating',
  });
  readonly element = h(
    'form',
    { class: 'composer', 'aria-label': 'Ask a question' },
    this.textarea,
    h('div', { class: 'composer-actions' }, this.send, this.stop),
  );
  private canAsk = false;

  constructor() {
    this.textarea.value = persisted().draft ?? '';
    this.textarea.addEventListener('input', () => persist({ draft: this.textarea.value }));
    this.textarea.addEventListener('keydown', (event) => this.onKey(event));
    this.element.addEventListener('submit', (event) => {
      event.preventDefault();
      this.submit();
    });
  }

  /** Shows Stop instead of Send while an answer streams; Send is enabled only when the engine can answer. */
  update(streaming: boolean, canAsk: boolean): void {
    this.canAsk = canAsk && !streaming;
    this.stop.hidden = !streaming;
    this.send.hidden = streaming;
    this.send.toggleAttribute('disabled', !this.canAsk);
  }

  /** Puts `text` in the box and focuses it, caret at the end. */
  prefill(text: string): void {
    this.textarea.value = text;
    persist({ draft: text });
    this.textarea.focus();
    this.textarea.setSelectionRange(text.length, text.length);
  }

  private onKey(event: KeyboardEvent): void {
    if (event.key !== 'Enter' || event.shiftKey || event.isComposing) return;
    event.preventDefault();
    this.submit();
  }

  private submit(): void {
    const question = this.textarea.value.trim();
    if (question === '' || !this.canAsk) return;
    post({ type: 'ask', question });
    this.textarea.value = '';
    persist({ draft: '' });
  }
}
