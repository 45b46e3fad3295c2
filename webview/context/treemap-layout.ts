// Squarified treemap layout of tokens by folder: a folder tree from file paths, then nested rectangles whose
// areas are proportional to tokens (children exactly tile their parent, so every file's area is exact).

export interface TreeNode {
  /** Label: the file name, or the folder name (single-child folder chains are joined: `src/engine`). */
  name: string;
  /** Workspace-relative path. */
  path: string;
  tokens: number;
  /** Absent for files. */
  children?: TreeNode[];
}

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface PlacedNode {
  node: TreeNode;
  rect: Rect;
  depth: number;
  /** Index of the top-level entry it lies in (for colours). */
  group: number;
  /** Whether a folder's contents are placed too (always false for files). */
  open: boolean;
}

interface Folder extends TreeNode {
  children: TreeNode[];
}

function folder(name: string, path: string): Folder {
  return { name, path, tokens: 0, children: [] };
}

function childFolder(parent: Folder, name: string): Folder {
  const path = parent.path === '' ? name : `${parent.path}/${name}`;
  const found = parent.children.find((child) => child.children && child.name === name);
  if (found) return found as Folder;
  const created = folder(name, path);
  parent.children.push(created);
  return created;
}

/** Joins a folder with its only child folder (`src` + `engine` → `src/engine`), recursively. */
function collapse(node: TreeNode): TreeNode {
  if (!node.children) return node;
  let current: TreeNode = node;
  while (current.children?.length === 1 && current.children[0].children && current.path !== '') {
    const only: TreeNode = current.children[0];
    current = { ...only, name: `${current.name}/${only.name}` };
  }
  const children = (current.children ?? []).map(collapse).sort((a, b) => b.tokens - a.tokens);
  return { ...current, children };
}

/** The folder tree of `files` (paths split at `/`); zero-token files are left out. */
export function folderTree(files: readonly { path: string; tokens: number }[]): TreeNode {
  const root = folder('', '');
  for (const file of files) {
    if (file.tokens <= 0) continue;
    const parts = file.path.split('/');
    const name = parts.pop() ?? file.path;
    let parent = root;
    root.tokens += file.tokens;
    for (const part of parts) {
      parent = childFolder(parent, part);
      parent.tokens += file.tokens;
    }
    parent.children.push({ name, path: file.path, tokens: file.tokens });
  }
  return collapse(root);
}

/** The worst aspect ratio of a row of areas laid along a side of length `side`. */
function worst(areas: readonly number[], side: number): number {
  const sum = areas.reduce((a, b) => a + b, 0);
  const max = Math.max(...areas);
  const min = Math.min(...areas);
  const s2 = sum * sum;
  const w2 = side * side;
  return Math.max((w2 * max) / s2, s2 / (w2 * min));
}

/** Lays a row of areas along the shorter side of `rect`; returns their rects and the space left. */
function layoutRow(areas: readonly number[], rect: Rect): { rects: Rect[]; rest: Rect } {
  const sum = areas.reduce((a, b) => a + b, 0);
  const rects: Rect[] = [];
  if (rect.width >= rect.height) {
    const width = sum / rect.height;
    let y = rect.y;
    for (const area of areas) {
      rects.push({ x: rect.x, y, width, height: area / width });
      y += area / width;
    }
    return { rects, rest: { x: rect.x + width, y: rect.y, width: rect.width - width, height: rect.height } };
  }
  const height = sum / rect.width;
  let x = rect.x;
  for (const area of areas) {
    rects.push({ x, y: rect.y, width: area / height, height });
    x += area / height;
  }
  return { rects, rest: { x: rect.x, y: rect.y + height, width: rect.width, height: rect.height - height } };
}

/** Squarified rectangles for `values` (sorted descending) filling `rect`, in the same order. */
export function squarify(values: readonly number[], rect: Rect): Rect[] {
  const total = values.reduce((a, b) => a + b, 0);
  if (total <= 0 || rect.width <= 0 || rect.height <= 0)
    return values.map(() => ({ ...rect, width: 0, height: 0 }));
  const scale = (rect.width * rect.height) / total;
  const rects: Rect[] = [];
  let rest = rect;
  let row: number[] = [];
  for (const area of values.map((value) => value * scale)) {
    const side = Math.min(rest.width, rest.height);
    if (row.length === 0 || worst([...row, area], side) <= worst(row, side)) {
      row.push(area);
      continue;
    }
    const laid = layoutRow(row, rest);
    rects.push(...laid.rects);
    rest = laid.rest;
    row = [area];
  }
  if (row.length > 0) rects.push(...layoutRow(row, rest).rects);
  return rects;
}

/** Rectangles smaller than this (px²) are not drawn. */
export const MIN_AREA = 16;
/** A folder is opened (its contents drawn) only with at least this much area (px²) per child on average. */
export const MIN_AREA_PER_CHILD = 64;

/**
 * Every folder and file of `root` placed inside `rect`, parents before their children. A folder with less than
 * MIN_AREA_PER_CHILD per child is placed closed (`open: false`, its contents left out), and rectangles smaller
 * than MIN_AREA are left out, so a huge workspace stays a few thousand shapes.
 */
export function layoutTreemap(root: TreeNode, rect: Rect): PlacedNode[] {
  const placed: PlacedNode[] = [];
  const visit = (node: TreeNode, area: Rect, depth: number, group: number): void => {
    const children = node.children ?? [];
    const rects = squarify(
      children.map((child) => child.tokens),
      area,
    );
    children.forEach((child, i) => {
      const box = rects[i];
      const size = box.width * box.height;
      if (size < MIN_AREA) return;
      const childGroup = depth === 0 ? i : group;
      const open = child.children !== undefined && size >= MIN_AREA_PER_CHILD * child.children.length;
      placed.push({ node: child, rect: box, depth: depth + 1, group: childGroup, open });
      if (open) visit(child, box, depth + 1, childGroup);
    });
  };
  visit(root, rect, 0, 0);
  return placed;
}
