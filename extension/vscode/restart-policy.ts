// When to restart a crashed engine: exponential backoff, and no automatic restart after repeated crashes.

export interface RestartPolicyOptions {
  /** Delay before the first restart. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** Crashes within `windowMs` after which restarts wait for the user. */
  maxCrashes: number;
  windowMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicyOptions = {
  initialDelayMs: 1000,
  maxDelayMs: 30_000,
  maxCrashes: 3,
  windowMs: 5 * 60_000,
};

/** A decision after a crash: restart after `delayMs`, or give up and let the user restart. */
export type RestartDecision = { restart: true; delayMs: number } | { restart: false; crashes: number };

export class RestartPolicy {
  private crashes: number[] = [];

  constructor(private readonly options: RestartPolicyOptions = DEFAULT_RESTART_POLICY) {}

  /** Records a crash at `now` (ms) and decides what to do. */
  crashed(now: number): RestartDecision {
    this.crashes = this.crashes.filter((at) => now - at < this.options.windowMs);
    this.crashes.push(now);
    const count = this.crashes.length;
    if (count >= this.options.maxCrashes) return { restart: false, crashes: count };
    const delayMs = Math.min(this.options.maxDelayMs, this.options.initialDelayMs * 2 ** (count - 1));
    return { restart: true, delayMs };
  }

  /** Forgets earlier crashes (a restart the user asked for, or a long healthy run). */
  reset(): void {
    this.crashes = [];
  }
}
