// Escapes text for HTML element bodies and attribute values (used by the page template and the code highlighter).

/** `&`, `<`, `>`, `"` and `'` as numeric character references. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
