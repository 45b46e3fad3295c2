// Markdown → sanitized DOM: markdown-it with raw HTML disabled, highlight.js for code fences, DOMPurify on the output.
import DOMPurify, { type Config } from 'dompurify';
import hljs from 'highlight.js/lib/common';
import MarkdownIt from 'markdown-it';
import { escapeHtml } from '../escape-html';

/** Fence languages the model often writes that highlight.js knows under another name. */
const LANGUAGE_ALIASES: Readonly<Record<string, string>> = { cuda: 'cpp', cu: 'cpp', cuh: 'cpp', hip: 'cpp' };

/** highlight.js markup for a fence, or the escaped code when the language is unknown. */
function highlight(code: string, info: string): string {
  const language = LANGUAGE_ALIASES[info] ?? info;
  if (language === '' || !hljs.getLanguage(language)) return escapeHtml(code);
  return hljs.highlight(code, { language, ignoreIllegals: true }).value;
}

const markdown = new MarkdownIt({ html: false, linkify: false, typographer: false, highlight });

const PURIFY_CONFIG: Config & { RETURN_DOM_FRAGMENT: true } = {
  RETURN_DOM_FRAGMENT: true,
  FORBID_TAGS: ['style', 'iframe', 'form', 'input', 'button', 'textarea', 'select', 'object', 'embed'],
  FORBID_ATTR: ['style'],
};

/** The answer's markdown as a sanitized fragment, ready to be decorated and placed in the page. */
export function renderMarkdown(text: string): DocumentFragment {
  return DOMPurify.sanitize(markdown.render(text), PURIFY_CONFIG);
}
