// How `hipcode serve --workspace` puts the workspace into a conversation: HiPCode's system prompt (cite path:line)
// after the client's own system message, and the workspace files before the text of the first user message.
import { SYSTEM_PROMPT, userMessage } from '../answer/prompt';
import type { ChatMessage } from '../text/chat-template';
import { invalidParam } from './api-error';

/** The conversation the model sees: `messages` with the workspace context text put in (see the file comment). */
export function withWorkspace(messages: readonly ChatMessage[], contextText: string): ChatMessage[] {
  const result = messages.map((message) => ({ ...message }));
  const first = result.findIndex((message) => message.role === 'user');
  if (first < 0) {
    throw invalidParam(
      'messages',
      "'messages' needs a user message: the workspace goes before the first one",
    );
  }
  result[first].content = userMessage(contextText, result[first].content);
  if (result[0].role === 'system') result[0].content = `${result[0].content}\n\n${SYSTEM_PROMPT}`;
  else result.unshift({ role: 'system', content: SYSTEM_PROMPT });
  return result;
}
