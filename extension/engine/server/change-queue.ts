// Collects didChangeFiles notifications and fires once a burst has settled (debounce).
import { isAbsolute } from 'node:path';
import { HipError } from '../errors';
import type { DidChangeFilesParams } from '../protocol';

/** How long the queue waits after the last change before it fires. */
export const DEBOUNCE_MS = 300;

/** The merged changes of a burst. */
export interface PendingChanges {
  changed: string[];
  deleted: string[];
  /** Buffer text by path; null = closed (read the disk). */
  buffers: Map<string, string | null>;
}

function pathList(value: unknown, name: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string' || !isAbsolute(item))) {
    throw new HipError('E_INVALID_ARGUMENT', `didChangeFiles: ${name} must be an array of absolute paths`);
  }
  return value as string[];
}

function bufferMap(value: unknown): [string, string | null][] {
  if (value === undefined || value === null) return [];
  const entries = typeof value === 'object' && !Array.isArray(value) ? Object.entries(value) : undefined;
  const valid = entries?.every(
    ([path, text]) => isAbsolute(path) && (text === null || typeof text === 'string'),
  );
  if (!entries || !valid) {
    throw new HipError(
      'E_INVALID_ARGUMENT',
      'didChangeFiles: buffers must map absolute paths to text or null',
    );
  }
  return entries as [string, string | null][];
}

export class ChangeQueue {
  private changed = new Set<string>();
  private deleted = new Set<string>();
  private buffers = new Map<string, string | null>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly fire: () => void,
    private readonly delayMs = DEBOUNCE_MS,
  ) {}

  get empty(): boolean {
    return this.changed.size === 0 && this.deleted.size === 0 && this.buffers.size === 0;
  }

  /** Validates and merges `params` (E_INVALID_ARGUMENT names the field), then restarts the wait. */
  add(params: DidChangeFilesParams): void {
    const changed = pathList(params?.changed, 'changed');
    const deleted = pathList(params?.deleted, 'deleted');
    const buffers = bufferMap(params?.buffers);
    for (const path of changed) this.changed.add(path);
    for (const path of deleted) this.deleted.add(path);
    for (const [path, text] of buffers) this.buffers.set(path, text);
    this.schedule();
  }

  /** Restarts the wait when something is pending. */
  schedule(): void {
    this.cancel();
    if (!this.empty) this.timer = setTimeout(this.fire, this.delayMs);
  }

  /** The pending changes (emptying the queue), or undefined when there are none. */
  take(): PendingChanges | undefined {
    if (this.empty) return undefined;
    const taken = { changed: [...this.changed], deleted: [...this.deleted], buffers: this.buffers };
    this.clear();
    return taken;
  }

  /** Drops what is pending. */
  clear(): void {
    this.cancel();
    this.changed = new Set();
    this.deleted = new Set();
    this.buffers = new Map();
  }

  private cancel(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
