// Turns an answer's `path:line` references into links: inline in the rendered answer and as a References list.
import type { Reference } from '../../extension/engine/answer/citations';
import { h } from '../shared/dom';

/** The reference's text as written in the answer (`src/a.ts:12-14`), read at its offset. */
export function referenceText(answer: string, reference: Reference): string | undefined {
  const written = /[^\s`'"()[\]{}<>,;:*|]+:\d+(?:\s?[-–—]\s?\d+)?(?!\d)/y;
  written.lastIndex = reference.offset;
  return written.exec(answer)?.[0];
}

function lines(reference: Reference): string {
  const { startLine, endLine } = reference;
  return endLine > startLine ? `lines ${startLine}–${endLine}` : `line ${startLine}`;
}

/** A link for a verified reference (click or Enter opens it) or a struck, unclickable mark for an unverified one. */
export function referenceElement(reference: Reference, index: number, text: string): HTMLElement {
  if (reference.verified) {
    return h(
      'a',
      {
        class: 'reference verified',
        role: 'link',
        tabindex: 0,
        'data-reference': index,
        title: `Open ${reference.path}, ${lines(reference)}`,
      },
      text,
    );
  }
  const problem = reference.problem ?? 'not verified';
  return h(
    'span',
    {
      class: 'reference unverified',
      'data-reference': index,
      'aria-disabled': 'true',
      title: `Unverified: ${problem}`,
      'aria-label': `${text} (unverified: ${problem})`,
    },
    text,
  );
}

/** Text nodes under `root` outside code blocks and outside references already placed. */
function textNodes(root: Node): Text[] {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
    acceptNode: (node) =>
      node.parentElement?.closest('pre, .reference') ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT,
  });
  const nodes: Text[] = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) nodes.push(node as Text);
  return nodes;
}

/** Matches `text` as a whole reference: no path character before it, no more line digits after it. */
function occurrences(text: string): RegExp {
  const escaped = text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(?<![^\\s\`'"()[\\]{}<>,;:*|])${escaped}(?!\\d|\\s?[-–—]\\s?\\d)`);
}

/** Replaces each occurrence of `text` in `node` with a fresh reference element. */
function linkIn(node: Text, text: string, make: () => HTMLElement): void {
  const parts = node.data.split(occurrences(text));
  if (parts.length < 2) return;
  const replacement: Node[] = [];
  parts.forEach((part, i) => {
    if (i > 0) replacement.push(make());
    if (part !== '') replacement.push(document.createTextNode(part));
  });
  const anchor = node.parentElement?.closest('a:not(.reference)');
  if (anchor && anchor.textContent === node.data) anchor.replaceWith(...replacement);
  else node.replaceWith(...replacement);
}

/** Links every reference where its text appears in the rendered answer (longest texts first). */
export function linkReferences(root: Node, answer: string, references: readonly Reference[]): void {
  const written = references
    .map((reference, index) => ({ reference, index, text: referenceText(answer, reference) }))
    .filter((entry): entry is { reference: Reference; index: number; text: string } => !!entry.text)
    .sort((a, b) => b.text.length - a.text.length);
  for (const { reference, index, text } of written) {
    for (const node of textNodes(root)) linkIn(node, text, () => referenceElement(reference, index, text));
  }
}

/** The "References" list under an answer. */
export function referencesList(references: readonly Reference[]): HTMLElement {
  const items = references.map((reference, index) => {
    const text = `${reference.path}:${reference.startLine}${reference.endLine > reference.startLine ? `-${reference.endLine}` : ''}`;
    const note = reference.verified ? '' : ` — unverified: ${reference.problem ?? 'not verified'}`;
    return h('li', {}, referenceElement(reference, index, text), note);
  });
  return h(
    'section',
    { class: 'references', 'aria-label': 'References' },
    h('h3', {}, 'References'),
    h('ul', {}, ...items),
  );
}
