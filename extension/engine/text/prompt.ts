// Turns user input (plain text or a chat) into prompt token ids the way transformers does.
import { HipError } from '../errors';
import { isObject, readJsonFile } from '../json-file';
import { loadChatTemplate, type ChatMessage } from './chat-template';
import type { TextTokenizer } from './tokenizer';

/** Renders `messages` with the model's chat template and the generation prompt, then encodes the text without
 * adding special tokens (as apply_chat_template does: the template already holds them). */
export function encodeChat(dir: string, tokenizer: TextTokenizer, messages: ChatMessage[]): number[] {
  const template = loadChatTemplate(dir, tokenizer.config, tokenizer.specialTokens);
  return tokenizer.encode(template.render(messages, true), { addSpecialTokens: false });
}

/** A one-user-message chat, with an optional system message first. */
export function singleTurn(user: string, system?: string): ChatMessage[] {
  const messages: ChatMessage[] = system === undefined ? [] : [{ role: 'system', content: system }];
  return [...messages, { role: 'user', content: user }];
}

/** Reads a chat file: a JSON list of {role, content} with string fields. */
export function readChatFile(path: string): ChatMessage[] {
  const hint = 'A chat file is a JSON list of {"role": "...", "content": "..."} objects.';
  const value = readJsonFile(path, 'E_INVALID_ARGUMENT', hint);
  if (!Array.isArray(value))
    throw new HipError('E_INVALID_ARGUMENT', `${path} must hold a JSON list. ${hint}`);
  return value.map((item, index) => {
    if (!isObject(item) || typeof item.role !== 'string' || typeof item.content !== 'string') {
      throw new HipError(
        'E_INVALID_ARGUMENT',
        `${path}: item ${index} must be an object with string 'role' and 'content', got ${JSON.stringify(item)}`,
      );
    }
    return { role: item.role, content: item.content };
  });
}
