// Updates a container to new content by replacing only the top-level children that changed (no flicker, and
// selection and focus survive in the blocks that stay).

/** Makes `container`'s children equal to `next`'s, keeping the equal ones in place. */
export function morphChildren(container: Element, next: DocumentFragment): void {
  const incoming = Array.from(next.childNodes);
  incoming.forEach((node, i) => {
    const current = container.childNodes[i];
    if (!current) container.appendChild(node);
    else if (!current.isEqualNode(node)) container.replaceChild(node, current);
  });
  while (container.childNodes.length > incoming.length) container.lastChild?.remove();
}
