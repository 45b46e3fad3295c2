// Runs async work one at a time in arrival order (the engine's KV session has one user at a time).
import { HipError } from '../errors';

/** A FIFO of exclusive turns; a caller still waiting for its turn can give it up through its AbortSignal. */
export class Turns {
  private tail: Promise<void> = Promise.resolve();
  private waiting = 0;

  /** How many callers run or wait. */
  get pending(): number {
    return this.waiting;
  }

  /** Runs `work` once every earlier caller is done; E_CANCELLED when `signal` aborts first. */
  async run<T>(signal: AbortSignal | undefined, what: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((resolve) => (release = resolve));
    this.waiting++;
    try {
      await waitFor(previous, signal, what);
      return await work();
    } finally {
      this.waiting--;
      void previous.then(release);
    }
  }
}

function waitFor(turn: Promise<void>, signal: AbortSignal | undefined, what: string): Promise<void> {
  const cancelled = () => new HipError('E_CANCELLED', `${what} was cancelled`);
  if (signal?.aborted) return Promise.reject(cancelled());
  if (!signal) return turn;
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(cancelled());
    signal.addEventListener('abort', onAbort, { once: true });
    void turn.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}
