// One job at a time, first come first served, with a bounded wait list (the model serves one generation at once).
import { HipError } from '../errors';

interface Waiter {
  start: () => void;
  fail: (error: HipError) => void;
}

export class JobQueue {
  private busy = false;
  private readonly waiting: Waiter[] = [];
  private closed = false;

  /** `capacity`: how many jobs may wait while one runs. */
  constructor(private readonly capacity: number) {}

  /**
   * Runs `job` when its turn comes. Rejects with E_BUSY when the wait list is full, and with E_CANCELLED when
   * `signal` aborts while the job waits (it leaves the line) or the queue is closed.
   */
  async run<T>(signal: AbortSignal, job: () => Promise<T>): Promise<T> {
    await this.turn(signal);
    try {
      return await job();
    } finally {
      this.next();
    }
  }

  /** Fails every waiting job and every later one with E_CANCELLED saying `why`. */
  close(why: string): void {
    this.closed = true;
    for (const waiter of this.waiting.splice(0)) waiter.fail(new HipError('E_CANCELLED', why));
  }

  private turn(signal: AbortSignal): Promise<void> {
    if (this.closed) return Promise.reject(new HipError('E_CANCELLED', 'the server is shutting down'));
    if (signal.aborted) return Promise.reject(new HipError('E_CANCELLED', 'the request was cancelled'));
    if (!this.busy) {
      this.busy = true;
      return Promise.resolve();
    }
    if (this.waiting.length >= this.capacity) {
      return Promise.reject(
        new HipError(
          'E_BUSY',
          `the server is busy: one request is running and ${this.waiting.length} are waiting; retry later`,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      const leave = () => {
        this.waiting.splice(this.waiting.indexOf(waiter), 1);
        reject(new HipError('E_CANCELLED', 'the request was cancelled while it waited'));
      };
      const waiter: Waiter = {
        start: () => {
          signal.removeEventListener('abort', leave);
          resolve();
        },
        fail: (error) => {
          signal.removeEventListener('abort', leave);
          reject(error);
        },
      };
      signal.addEventListener('abort', leave, { once: true });
      this.waiting.push(waiter);
    });
  }

  /** Hands the model to the next waiting job, if any. */
  private next(): void {
    const waiter = this.waiting.shift();
    if (waiter) waiter.start();
    else this.busy = false;
  }
}
