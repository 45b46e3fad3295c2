// The conversation: one <article> per turn; streaming deltas re-render only the last answer, once per frame.
import type { Turn } from '../protocol';
import { codicon, h } from '../shared/dom';
import { renderAnswer } from './answer';

interface TurnView {
  turn: Turn;
  article: HTMLElement;
  answer: HTMLElement;
  body: HTMLElement;
  footer: HTMLElement;
}

function welcome(): HTMLElement {
  return h(
    'div',
    { class: 'welcome' },
    h(
      'p',
      {},
      'Ask anything about the whole workspace: the model reads every included file, not a few snippets.',
    ),
    h('p', {}, 'References like ', h('code', {}, 'src/app.ts:42'), ' in answers open the cited lines.'),
  );
}

export class TurnList {
  readonly element = h('section', { class: 'turns', 'aria-label': 'Conversation' });
  private readonly views = new Map<string, TurnView>();
  private pending = new Set<string>();
  private frame: number | undefined;

  /** Replaces the whole conversation. */
  reset(turns: readonly Turn[]): void {
    this.views.clear();
    this.element.replaceChildren();
    for (const turn of turns) this.add(turn);
    if (turns.length === 0) this.element.append(welcome());
    this.toBottom();
  }

  private toBottom(): void {
    this.element.scrollTop = this.element.scrollHeight;
  }

  /** Adds a turn, or replaces it when its id is known (turnStart, turnEnd). */
  upsert(turn: Turn): void {
    const view = this.views.get(turn.id);
    if (!view) return this.add(turn);
    view.turn = { ...turn };
    this.pending.delete(turn.id);
    this.paint(view);
  }

  /** Appends streamed text; the answer is re-rendered on the next animation frame. */
  delta(id: string, text: string): void {
    const view = this.views.get(id);
    if (!view) return;
    view.turn.answer += text;
    this.pending.add(id);
    this.frame ??= requestAnimationFrame(() => this.flush());
  }

  /** The turn an element of the list belongs to. */
  turnOf(element: Element): Turn | undefined {
    const id = element.closest('article')?.getAttribute('data-turn-id');
    return id ? this.views.get(id)?.turn : undefined;
  }

  /** Whether an answer is being generated. */
  streaming(): boolean {
    return [...this.views.values()].some((view) => view.turn.status === 'streaming');
  }

  private add(turn: Turn): void {
    this.element.querySelector('.welcome')?.remove();
    const body = h('div', { class: 'answer-body' });
    const footer = h('div', { class: 'answer-footer' });
    const answer = h('div', { class: 'answer', 'aria-live': 'polite', 'aria-label': 'Answer' }, body, footer);
    const question = h('div', { class: 'question' }, codicon('account'), h('p', {}, turn.question));
    const article = h('article', { class: 'turn', 'data-turn-id': turn.id }, question, answer);
    const view = { turn: { ...turn }, article, answer, body, footer };
    this.views.set(turn.id, view);
    this.element.append(article);
    this.paint(view);
    // A question just asked is followed; its answer keeps the view at the bottom while it streams.
    if (turn.status === 'streaming') this.toBottom();
  }

  private flush(): void {
    this.frame = undefined;
    for (const id of this.pending) {
      const view = this.views.get(id);
      if (view) this.paint(view);
    }
    this.pending.clear();
  }

  private paint(view: TurnView): void {
    const { turn } = view;
    const list = this.element;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 24;
    view.article.setAttribute('data-status', turn.status);
    view.answer.setAttribute('aria-busy', String(turn.status === 'streaming'));
    renderAnswer(view.body, view.footer, turn);
    if (atBottom) list.scrollTop = list.scrollHeight;
  }
}
