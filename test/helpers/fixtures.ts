// Reads the committed fixture models and their transformers references (test/fixtures/, see its README).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './cli';

export const FIXTURES = join(REPO_ROOT, 'test', 'fixtures');

export interface ChatMessage {
  role: string;
  content: string;
}

export interface Reference {
  model: string;
  logits: { ids: number[]; vocab: number; dtype: 'float32'; data: string };
  greedy: { prompt_ids: number[]; max_new_tokens: number; ids: number[]; min_margin: number };
  tokenize: { text: string; ids: number[]; decoded: string }[];
  chat: { messages: ChatMessage[]; text: string; ids: number[] }[];
}

export function modelDir(name: string): string {
  return join(FIXTURES, 'models', name);
}

export function fixtureNames(): string[] {
  return readdirSync(join(FIXTURES, 'reference'))
    .filter((file) => file.endsWith('.json'))
    .map((file) => file.slice(0, -'.json'.length))
    .sort();
}

export function readReference(name: string): Reference {
  return JSON.parse(readFileSync(join(FIXTURES, 'reference', `${name}.json`), 'utf8')) as Reference;
}

/** The reference logits as rows [ids, vocab]. */
export function referenceLogits(reference: Reference): Float32Array[] {
  const bytes = Buffer.from(reference.logits.data, 'base64');
  const all = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const { vocab } = reference.logits;
  return reference.logits.ids.map((_, row) => all.slice(row * vocab, (row + 1) * vocab));
}

/** ‖actual − expected‖₂ / ‖expected‖₂ */
export function relativeL2(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} != ${expected.length}`);
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < expected.length; i++) {
    diff += (actual[i] - expected[i]) ** 2;
    norm += expected[i] ** 2;
  }
  return Math.sqrt(diff / norm);
}
