// Incremental, UTF-8-safe detokenization for streaming: emits only text that later tokens cannot change.
/** Decodes a list of ids to text (e.g. TextTokenizer.decode). */
export type DecodeFn = (ids: readonly number[]) => string;

const REPLACEMENT = '\uFFFD';

/**
 * Decodes a sliding window of ids and emits the suffix that is new since the last emission; a window whose text
 * ends in U+FFFD (an incomplete multi-byte sequence) waits for more ids. Concatenating every push() and flush()
 * equals decode(allIds) for decoders whose output over a window is stable once a token is complete.
 */
export class Detokenizer {
  private readonly ids: number[] = [];
  /** Start of the window: ids before it are emitted and no longer decoded. */
  private prefixOffset = 0;
  /** End of the emitted part of the window. */
  private readOffset = 0;

  constructor(private readonly decode: DecodeFn) {}

  /** Adds one id; returns the text that became final ('' when none). */
  push(id: number): string {
    this.ids.push(id);
    const emitted = this.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const text = this.decode(this.ids.slice(this.prefixOffset));
    if (text.length <= emitted.length || text.endsWith(REPLACEMENT)) return '';
    this.prefixOffset = this.readOffset;
    this.readOffset = this.ids.length;
    return text.slice(emitted.length);
  }

  /** Returns whatever is still held back (possibly ending in U+FFFD) and resets the window. */
  flush(): string {
    const emitted = this.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const text = this.decode(this.ids.slice(this.prefixOffset));
    this.prefixOffset = this.readOffset = this.ids.length;
    return text.slice(emitted.length);
  }
}
