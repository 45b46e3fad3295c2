// Finds `path:line` / `path:start-end` references in an answer and checks each against the ingested files.
import { languageOf } from '../workspace/languages';

/** A file the model saw: its workspace-relative path and its text (without the `<file>` tags). */
export interface SourceFile {
  path: string;
  text: string;
}

/** One reference of an answer, checked against the files in context. */
export interface Reference {
  path: string;
  startLine: number;
  endLine: number;
  verified: boolean;
  /** Why the reference could not be verified (absent when verified). */
  problem?: string;
  /** Index of the reference's path in the answer. */
  offset: number;
}

/** How far (in lines) quoted code may sit from the cited lines. */
export const QUOTE_SLACK_LINES = 3;

// A path-like token (no spaces, quotes, brackets, colons or emphasis marks) then `:line` or `:start-end`.
const REFERENCE = /([^\s`'"()[\]{}<>,;:*|]+):(\d+)(?:\s?[-–—]\s?(\d+))?(?!\d)/g;

interface Candidate {
  path: string;
  known: boolean;
  startLine: number;
  endLine: number;
  offset: number;
  /** Index just past the `:line` part. */
  end: number;
}

/** Lines of a text; a final newline does not start another line. */
function linesOf(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (text.endsWith('\n')) lines.pop();
  return lines;
}

/** The longest known path equal to `token` or ending it at a `/` boundary (`./a.ts`, `repo/src/a.ts`). */
function knownPath(
  token: string,
  known: ReadonlySet<string>,
  byLength: readonly string[],
): string | undefined {
  const plain = token.startsWith('./') ? token.slice(2) : token;
  if (known.has(plain)) return plain;
  return byLength.find((path) => plain.endsWith(`/${path}`));
}

/** Whether an unknown token looks like a source path (not a URL host, a time or a version). */
function looksLikePath(token: string, before: string): boolean {
  if (before === ':' || token.startsWith('//') || /^[\d.]+$/.test(token)) return false;
  return languageOf(token) !== 'plaintext';
}

function toCandidate(
  match: RegExpExecArray,
  answer: string,
  known: ReadonlySet<string>,
  byLength: readonly string[],
): Candidate | undefined {
  const [whole, token, start, end] = match;
  const path = knownPath(token, known, byLength);
  const before = match.index > 0 ? answer[match.index - 1] : '';
  if (path === undefined && !looksLikePath(token, before)) return undefined;
  const startLine = Number(start);
  return {
    path: path ?? (token.startsWith('./') ? token.slice(2) : token),
    known: path !== undefined,
    startLine,
    endLine: end === undefined ? startLine : Number(end),
    offset: match.index,
    end: match.index + whole.length,
  };
}

/** Index past the reference's own decoration: a closing backtick, `](target)` of a markdown link, `)`/`]`. */
function skipDecoration(answer: string, index: number): number {
  let i = index;
  while (i < answer.length && (answer[i] === '`' || answer[i] === '*')) i++;
  if (answer.startsWith('](', i)) {
    const close = answer.indexOf(')', i + 2);
    if (close >= 0 && !answer.slice(i, close).includes('\n')) i = close + 1;
  }
  while (i < answer.length && (answer[i] === ')' || answer[i] === ']')) i++;
  return i;
}

/** Code quoted right after index `from`: an inline `code span` on the same line or a fenced block. */
function quoteAfter(answer: string, from: number): string | undefined {
  const gap = /^[ \t]*(?:[:—–-][ \t]*)?(\n[ \t]*)?/.exec(answer.slice(from));
  const at = from + (gap?.[0].length ?? 0);
  if (answer.startsWith('```', at)) {
    const fence = /^```[^\n]*\n([\s\S]*?)\n?```/.exec(answer.slice(at));
    return fence?.[1];
  }
  if (gap?.[1] !== undefined || answer[at] !== '`') return undefined;
  const span = /^`([^`\n]+)`/.exec(answer.slice(at));
  return span?.[1];
}

/** Whitespace runs collapsed to one space, ends trimmed. */
function squash(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** Whether every part of `quote` (split at `...`/`…`) occurs, in order, in `window`. */
function quoteFound(quote: string, window: string): boolean {
  const haystack = squash(window);
  let at = 0;
  for (const part of quote.split(/\.\.\.|…/).map(squash)) {
    if (part === '') continue;
    const found = haystack.indexOf(part, at);
    if (found < 0) return false;
    at = found + part.length;
  }
  return true;
}

/** The problem with a reference, or undefined when it checks out. */
function problemOf(
  candidate: Candidate,
  lines: string[] | undefined,
  quote: string | undefined,
): string | undefined {
  const { startLine, endLine } = candidate;
  if (!candidate.known || lines === undefined) return 'not in context';
  if (startLine < 1) return 'line 0 does not exist (lines start at 1)';
  if (endLine < startLine) return `range ends (line ${endLine}) before it starts (line ${startLine})`;
  const last = Math.max(startLine, endLine);
  if (last > lines.length)
    return `line ${last} beyond the end (${lines.length} line${lines.length === 1 ? '' : 's'})`;
  if (quote === undefined || squash(quote) === '') return undefined;
  const from = Math.max(0, startLine - 1 - QUOTE_SLACK_LINES);
  const window = lines.slice(from, endLine + QUOTE_SLACK_LINES).join('\n');
  return quoteFound(quote, window) ? undefined : 'quoted code not found';
}

/** A quote that is itself a reference (`a.ts:1` `b.ts:2`) is a reference, not code. */
function isReferenceText(text: string | undefined): boolean {
  return text !== undefined && new RegExp(`^${REFERENCE.source}$`).test(text.trim());
}

/**
 * Every `path:line` or `path:start-end` reference of `answer` (plain, in backticks or in a markdown link) to a
 * known file or to something that looks like a source path, in order of first appearance, deduplicated by
 * path and lines (a duplicate that fails a check marks the reference unverified). Each is verified against
 * `files`: the file is in context, the lines exist, and code quoted right after it is found within
 * ±QUOTE_SLACK_LINES lines of the cited ones.
 */
export function findReferences(answer: string, files: readonly SourceFile[]): Reference[] {
  const lines = new Map(files.map((file) => [file.path, linesOf(file.text)]));
  const known = new Set(lines.keys());
  const byLength = [...known].sort((a, b) => b.length - a.length);
  const references = new Map<string, Reference>();
  for (const match of answer.matchAll(REFERENCE)) {
    const candidate = toCandidate(match, answer, known, byLength);
    if (!candidate) continue;
    const quoted = quoteAfter(answer, skipDecoration(answer, candidate.end));
    const quote = isReferenceText(quoted) ? undefined : quoted;
    const problem = problemOf(candidate, lines.get(candidate.path), quote);
    const key = `${candidate.path}\0${candidate.startLine}\0${candidate.endLine}`;
    const seen = references.get(key);
    if (seen) {
      if (seen.verified && problem !== undefined) Object.assign(seen, { verified: false, problem });
      continue;
    }
    const { path, startLine, endLine, offset } = candidate;
    const reference: Reference = { path, startLine, endLine, verified: problem === undefined, offset };
    if (problem !== undefined) reference.problem = problem;
    references.set(key, reference);
  }
  return [...references.values()];
}
