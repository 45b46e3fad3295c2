// Rendering of files into context text: one `<file path=".." language="..">` block per file, tokens counted.
import { languageOf } from './languages';
import type { WorkspaceFile } from './types';

/** Turns text into token ids (the engine passes TextTokenizer.encode without special tokens). */
export type Tokenize = (text: string) => readonly number[];

export interface RenderedFile {
  path: string;
  language: string;
  bytes: number;
  mtimeMs: number;
  /** The whole block: header line, the file's text (ending in a newline) and the closing tag. */
  text: string;
  /** The file's own text, as read (what citations are checked against). */
  source: string;
  ids: readonly number[];
  tokens: number;
}

function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * The block of one file:
 *   <file path="src/a.ts" language="typescript">
 *   ...the file's text, a newline added when it lacks one...
 *   </file>
 * followed by a newline. The text itself is not escaped, so the model sees the code as it is.
 */
export function fileBlock(path: string, language: string, text: string): string {
  const body = text === '' || text.endsWith('\n') ? text : `${text}\n`;
  return `<file path="${escapeAttribute(path)}" language="${escapeAttribute(language)}">\n${body}</file>\n`;
}

/** Renders one file and counts its tokens (header included). */
export function renderFile(file: WorkspaceFile, tokenize: Tokenize): RenderedFile {
  const language = languageOf(file.path);
  const text = fileBlock(file.path, language, file.text);
  const ids = tokenize(text);
  return {
    path: file.path,
    language,
    bytes: file.bytes,
    mtimeMs: file.mtimeMs,
    text,
    source: file.text,
    ids,
    tokens: ids.length,
  };
}

/** Renders `files` in the order given. */
export function renderFiles(files: readonly WorkspaceFile[], tokenize: Tokenize): RenderedFile[] {
  return files.map((file) => renderFile(file, tokenize));
}
