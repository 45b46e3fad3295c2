// Small DOM builders: elements with attributes and children, codicons, and clearing a container.
type Child = Node | string | null | undefined | false;

/** Creates `<tag>` with attributes (false/undefined ones omitted) and children (falsy ones skipped). */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes?: Record<string, string | number | boolean | undefined>,
  ...children: Child[]
): HTMLElementTagNameMap[K];
export function h(
  tag: string,
  attributes?: Record<string, string | number | boolean | undefined>,
  ...children: Child[]
): HTMLElement;
export function h(
  tag: string,
  attributes: Record<string, string | number | boolean | undefined> = {},
  ...children: Child[]
): HTMLElement {
  const element = document.createElement(tag);
  setAttributes(element, attributes);
  append(element, children);
  return element;
}

export function setAttributes(
  element: Element,
  attributes: Record<string, string | number | boolean | undefined>,
): void {
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    element.setAttribute(name, value === true ? '' : String(value));
  }
}

export function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child) parent.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  }
}

/** A decorative codicon (`<span class="codicon codicon-NAME" aria-hidden="true">`). */
export function codicon(name: string): HTMLElement {
  return h('span', { class: `codicon codicon-${name}`, 'aria-hidden': 'true' });
}

/** Replaces all children of `parent`. */
export function replaceChildren(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}
