// `hipcode tokenize`: prints {"ids": [...]} for a text (with special tokens) or a chat file (with the template).
import { resolve } from 'node:path';
import { checkModelDir } from '../model/load';
import { encodeChat, readChatFile } from '../text/prompt';
import { loadTokenizer } from '../text/tokenizer';
import { exactlyOne, optionalString, parseFlags, requireString } from './args';
import { writeJson } from './output';

export async function tokenizeCommand(args: string[]): Promise<void> {
  const values = parseFlags('tokenize', args, {
    model: { type: 'string' },
    text: { type: 'string' },
    'chat-json': { type: 'string' },
  });
  const dir = resolve(requireString(values, 'model'));
  const input = exactlyOne(values, ['text', 'chat-json']);
  checkModelDir(dir);
  const tokenizer = loadTokenizer(dir);
  const ids =
    input === 'text'
      ? tokenizer.encode(optionalString(values, 'text') ?? '')
      : encodeChat(dir, tokenizer, readChatFile(requireString(values, 'chat-json')));
  await writeJson({ ids });
}
