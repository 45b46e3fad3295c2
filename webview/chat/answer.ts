// Renders one turn's answer: markdown, code-block actions, citation links, the References list and the usage line.
import type { Turn } from '../protocol';
import { h } from '../shared/dom';
import { formatCount, formatRate } from '../shared/format';
import { morphChildren } from '../shared/morph';
import { linkReferences, referencesList } from './citations';
import { decorateCodeBlocks } from './code-blocks';
import { renderMarkdown } from './markdown';

/** The answer body as decorated DOM (references are linked once the turn has them). */
function answerFragment(turn: Turn): DocumentFragment {
  const fragment = renderMarkdown(turn.answer);
  decorateCodeBlocks(fragment);
  if (turn.references.length > 0) linkReferences(fragment, turn.answer, turn.references);
  return fragment;
}

/** "412 tokens · 38.2 tokens/s · first token 1.4 s · 120,345 prompt tokens". */
export function usageText(turn: Turn): string | undefined {
  if (!turn.usage || !turn.timings) return undefined;
  return [
    `${formatCount(turn.usage.generatedTokens)} tokens`,
    `${formatRate(turn.timings.decodeTokensPerSecond)} tokens/s`,
    `first token ${formatRate(turn.timings.firstTokenSeconds)} s`,
    `${formatCount(turn.usage.promptTokens)} prompt tokens`,
  ].join(' · ');
}

/** What follows a finished answer: the stopped or error note, references and usage. */
function footerFragment(turn: Turn): DocumentFragment {
  const fragment = document.createDocumentFragment();
  if (turn.status === 'stopped') fragment.append(h('p', { class: 'turn-note stopped' }, 'Stopped.'));
  if (turn.status === 'error') {
    fragment.append(h('p', { class: 'turn-note error', role: 'alert' }, turn.error ?? 'The answer failed.'));
  }
  if (turn.references.length > 0) fragment.append(referencesList(turn.references));
  const usage = usageText(turn);
  if (usage && turn.status !== 'streaming') fragment.append(h('p', { class: 'usage' }, usage));
  return fragment;
}

/** Brings the answer element of `turn` up to date (only changed blocks are replaced). */
export function renderAnswer(body: Element, footer: Element, turn: Turn): void {
  morphChildren(body, answerFragment(turn));
  morphChildren(footer, footerFragment(turn));
}
