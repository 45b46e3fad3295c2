// The treemap of tokens by folder as SVG: nested rectangles (files filled, folders outlined), labels where they
// fit, a tooltip and an aria-label on each focusable rectangle, and a line naming the one under the pointer.
import type { IncludedFileReport } from '../../extension/engine/protocol';
import { h } from '../shared/dom';
import { formatCount, formatPercent } from '../shared/format';
import { post } from '../shared/vscode';
import { folderTree, layoutTreemap, type PlacedNode } from './treemap-layout';

const SVG = 'http://www.w3.org/2000/svg';
const COLOURS = 6;
const HEIGHT = 320;
/** Approximate width of one label character at the label font size. */
const CHAR_WIDTH = 6.5;

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attributes: Record<string, string | number>,
): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  return element;
}

function describe(placed: PlacedNode, total: number): string {
  const { node } = placed;
  const kind = node.children ? 'folder' : 'file';
  return `${node.path} (${kind}) — ${formatCount(node.tokens)} tokens, ${formatPercent(node.tokens, total)} of the context`;
}

/** Line height of labels; folder labels stack down from the top by depth, file labels sit at the bottom. */
const LINE = 12;

/** The label of a rectangle when its text fits (below the labels of the folders it lies in), else null. */
function label(placed: PlacedNode): SVGTextElement | null {
  const { rect, node, depth } = placed;
  const text = node.children ? `${node.name}/` : node.name;
  const below = LINE * depth + (node.children ? 4 : LINE + 4);
  if (rect.width < text.length * CHAR_WIDTH + 6 || rect.height < below) return null;
  const y = node.children ? rect.y + LINE * depth : rect.y + rect.height - 4;
  const element = svg('text', {
    x: rect.x + 3,
    y,
    class: node.children ? 'tm-folder-label' : 'tm-file-label',
  });
  element.textContent = text;
  return element;
}

function shape(placed: PlacedNode, total: number): SVGGElement {
  const { rect, node } = placed;
  const isFile = !node.children;
  const description = describe(placed, total);
  const group = svg('g', {
    class: `tm-node ${isFile ? 'tm-file' : 'tm-folder'}${placed.open ? ' tm-open' : ''} tm-colour-${placed.group % COLOURS}`,
    tabindex: 0,
    role: isFile ? 'button' : 'img',
    'aria-label': description,
    'data-path': node.path,
    'data-tokens': node.tokens,
    'data-depth': placed.depth,
  });
  const box = svg('rect', { x: rect.x, y: rect.y, width: rect.width, height: rect.height });
  const title = svg('title', {});
  title.textContent = description;
  group.append(title, box);
  return group;
}

export class Treemap {
  private readonly canvas = h('div', { class: 'treemap-canvas' });
  private readonly hovered = h('div', { class: 'treemap-hovered' }, ' ');
  readonly element = h('div', { class: 'treemap' }, this.canvas, this.hovered);
  private files: readonly IncludedFileReport[] = [];
  private width = 0;

  constructor() {
    new ResizeObserver(() => this.resize()).observe(this.canvas);
    this.canvas.addEventListener('click', (event) => this.open(event.target as Element));
    this.canvas.addEventListener('keydown', (event) => {
      if (event.key !== 'Enter' && event.key !== ' ') return;
      event.preventDefault();
      this.open(event.target as Element);
    });
    const show = (event: Event) => this.show(event.target as Element);
    this.canvas.addEventListener('mouseover', show);
    this.canvas.addEventListener('focusin', show);
  }

  update(files: readonly IncludedFileReport[]): void {
    this.files = files;
    this.render();
  }

  private resize(): void {
    if (this.canvas.clientWidth !== this.width) this.render();
  }

  private render(): void {
    this.width = this.canvas.clientWidth || 600;
    const tree = folderTree(this.files);
    const root = svg('svg', {
      width: this.width,
      height: HEIGHT,
      viewBox: `0 0 ${this.width} ${HEIGHT}`,
      role: 'group',
      'aria-label': `Treemap of ${formatCount(tree.tokens)} tokens by folder`,
    });
    const placed = layoutTreemap(tree, { x: 0, y: 0, width: this.width, height: HEIGHT });
    const filled = placed.filter((p) => !p.open);
    const outlines = placed.filter((p) => p.open);
    for (const p of [...filled, ...outlines]) root.append(shape(p, tree.tokens));
    for (const p of [...filled, ...outlines]) {
      const text = label(p);
      if (text) root.append(text);
    }
    this.canvas.replaceChildren(root);
  }

  private show(target: Element): void {
    const node = target.closest('.tm-node');
    if (node) this.hovered.textContent = node.getAttribute('aria-label');
  }

  private open(target: Element): void {
    const path = target.closest('.tm-file')?.getAttribute('data-path');
    if (path) post({ type: 'openReference', path, startLine: 1, endLine: 1 });
  }
}
