// The `stop` strings of a request: holds back text that may begin one, and ends the completion before it.

/** Feeds generated text through; what comes out never contains (or ends in the start of) a stop string. */
export class StopMatcher {
  private pending = '';
  /** Whether a stop string was found: the completion ends there. */
  stopped = false;

  constructor(private readonly stops: readonly string[]) {}

  /** Adds generated text; returns the part that is now final. */
  push(text: string): string {
    if (this.stopped) return '';
    this.pending += text;
    const cut = this.firstStop();
    if (cut >= 0) {
      this.stopped = true;
      return this.take(cut, 0);
    }
    const held = this.heldBack();
    return this.take(this.pending.length - held, held);
  }

  /** The text held back at the end of the completion (it turned out not to start a stop string). */
  flush(): string {
    return this.stopped ? '' : this.take(this.pending.length, 0);
  }

  /** Returns pending[0, end) and keeps the last `keep` characters pending. */
  private take(end: number, keep: number): string {
    const out = this.pending.slice(0, end);
    this.pending = keep > 0 ? this.pending.slice(this.pending.length - keep) : '';
    return out;
  }

  /** Index of the earliest stop string in the pending text, or -1. */
  private firstStop(): number {
    const found = this.stops.map((stop) => this.pending.indexOf(stop)).filter((index) => index >= 0);
    return found.length > 0 ? Math.min(...found) : -1;
  }

  /** Length of the longest end of the pending text that begins a stop string. */
  private heldBack(): number {
    let longest = 0;
    for (const stop of this.stops) {
      for (let length = Math.min(stop.length - 1, this.pending.length); length > longest; length--) {
        if (this.pending.endsWith(stop.slice(0, length))) {
          longest = length;
          break;
        }
      }
    }
    return longest;
  }
}
