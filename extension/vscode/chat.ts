// The conversation: turns kept per workspace, questions sent to the engine with the earlier turns, answers
// streamed to every chat webview, stop and new chat.
import type * as vscode from 'vscode';
import type { Turn } from '../../webview/protocol';
import { EngineRequestError } from './engine-client';
import type { Settings } from './settings';
import type { Supervisor } from './supervisor';
import type { WebviewHub } from './webview-hub';

const HISTORY_KEY = 'hipcode.chat.turns';
/** Turns kept in the workspace's history. */
const MAX_KEPT_TURNS = 100;

let turnCounter = 0;
const newTurnId = (): string => `${Date.now().toString(36)}-${++turnCounter}`;

export class ChatController {
  private running: { turn: Turn; abort: AbortController } | undefined;

  constructor(
    private readonly memento: vscode.Memento,
    private readonly hub: WebviewHub,
    private readonly supervisor: Supervisor,
    private readonly settings: () => Settings,
  ) {}

  /** The saved turns of this workspace (an answer cut by a reload is shown as stopped). */
  static restore(memento: vscode.Memento): Turn[] {
    const saved = memento.get<Turn[]>(HISTORY_KEY) ?? [];
    return saved.map((turn) => (turn.status === 'streaming' ? { ...turn, status: 'stopped' } : turn));
  }

  private get turns(): Turn[] {
    return this.hub.turns;
  }

  private save(): Thenable<void> {
    return this.memento.update(HISTORY_KEY, this.turns.slice(-MAX_KEPT_TURNS));
  }

  get busy(): boolean {
    return this.running !== undefined;
  }

  /** Asks `question`; the answer streams into a new turn. Resolves when the turn ends. */
  async ask(question: string): Promise<void> {
    const text = question.trim();
    if (text === '') return;
    if (this.running) {
      this.hub.post({ type: 'prefill', text });
      throw new EngineRequestError('E_BUSY', 'an answer is still being written; stop it or wait for it');
    }
    const history = this.turns
      .filter((turn) => turn.status === 'done')
      .map((turn) => ({ question: turn.question, answer: turn.answer }));
    const turn: Turn = { id: newTurnId(), question: text, answer: '', status: 'streaming', references: [] };
    const abort = new AbortController();
    this.running = { turn, abort };
    this.turns.push(turn);
    this.hub.post({ type: 'turnStart', turn });
    const settings = this.settings();
    try {
      const result = await this.supervisor.ask(
        {
          question: text,
          history,
          maxTokens: settings.maxTokens,
          temperature: settings.temperature,
          seed: settings.seed,
        },
        (delta) => {
          turn.answer += delta;
          this.hub.post({ type: 'turnDelta', id: turn.id, text: delta });
        },
        abort.signal,
      );
      Object.assign(turn, {
        answer: result.answer,
        references: result.references,
        usage: result.usage,
        timings: result.timings,
        status: 'done',
      });
    } catch (error) {
      const e =
        error instanceof EngineRequestError ? error : new EngineRequestError('E_INTERNAL', String(error));
      if (e.code === 'E_CANCELLED') turn.status = 'stopped';
      else Object.assign(turn, { status: 'error', error: `${e.message} [${e.code}]` });
    } finally {
      this.running = undefined;
      this.hub.post({ type: 'turnEnd', turn });
      await this.save();
    }
  }

  stop(): void {
    this.running?.abort.abort();
  }

  /** Drops the conversation (stopping an answer being written). */
  async newChat(): Promise<void> {
    this.stop();
    this.turns.splice(0, this.turns.length);
    this.hub.refresh();
    await this.save();
  }
}
