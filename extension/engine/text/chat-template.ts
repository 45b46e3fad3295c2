// Renders a model's chat template (tokenizer_config.json chat_template or chat_template.jinja) with @huggingface/jinja.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Template } from '@huggingface/jinja';
import { HipError } from '../errors';
import { isObject, type JsonObject } from '../json-file';
import type { SpecialTokens } from './tokenizer';

export const CHAT_TEMPLATE_FILE = 'chat_template.jinja';

export interface ChatMessage {
  role: string;
  content: string;
}

/** The "default" entry of a list of named templates, else undefined. */
function namedDefault(list: unknown[]): string | undefined {
  const entry = list.find((item) => isObject(item) && item.name === 'default');
  return isObject(entry) && typeof entry.template === 'string' ? entry.template : undefined;
}

/** Finds the template source: chat_template.jinja next to the model, else tokenizer_config.json's chat_template. */
export function findChatTemplate(dir: string, tokenizerConfig: JsonObject): string | undefined {
  const file = resolve(join(dir, CHAT_TEMPLATE_FILE));
  if (existsSync(file)) return readFileSync(file, 'utf8');
  const value = tokenizerConfig.chat_template;
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return namedDefault(value);
  return undefined;
}

/** A compiled chat template with the model's special tokens. */
export class ChatTemplate {
  private readonly template: Template;

  constructor(
    source: string,
    private readonly specialTokens: SpecialTokens,
    private readonly where: string,
  ) {
    try {
      this.template = new Template(source);
    } catch (error) {
      throw new HipError(
        'E_TEMPLATE',
        `the chat template of ${where} does not parse: ${(error as Error).message}`,
      );
    }
  }

  /** Renders the conversation as transformers' apply_chat_template(tokenize=False) does. */
  render(messages: ChatMessage[], addGenerationPrompt = true): string {
    try {
      return this.template.render({
        ...this.specialTokens,
        messages,
        add_generation_prompt: addGenerationPrompt,
      });
    } catch (error) {
      // raise_exception and strftime_now are built into @huggingface/jinja; a raise arrives here as its message.
      throw new HipError(
        'E_TEMPLATE',
        `rendering the chat template of ${this.where} failed: ${(error as Error).message}`,
      );
    }
  }
}

/** Loads the chat template of `dir`; none → E_TEMPLATE saying what to use instead. */
export function loadChatTemplate(
  dir: string,
  tokenizerConfig: JsonObject,
  specialTokens: SpecialTokens,
): ChatTemplate {
  const source = findChatTemplate(dir, tokenizerConfig);
  if (source === undefined) {
    throw new HipError(
      'E_TEMPLATE',
      `${resolve(dir)} has no chat template (neither ${CHAT_TEMPLATE_FILE} nor chat_template in tokenizer_config.json); ` +
        `use --prompt or --ids instead of a chat`,
    );
  }
  return new ChatTemplate(source, specialTokens, resolve(dir));
}
