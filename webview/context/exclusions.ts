// The entries left out of the context, grouped by reason code, each group collapsible with its count.
import type { ExcludedEntryReport } from '../../extension/engine/protocol';
import { codicon, h } from '../shared/dom';
import { formatCount } from '../shared/format';

/** Entries listed per group at most. */
const MAX_PER_GROUP = 200;

const CODE_TITLE: Readonly<Record<ExcludedEntryReport['code'], string>> = {
  default: 'Excluded by default (VCS, dependencies, build output, lockfiles)',
  gitignore: 'Ignored by .gitignore',
  'user-exclude': 'Excluded by the hipcode exclude setting',
  'not-included': 'Not matched by the hipcode include setting',
  size: 'Too large',
  binary: 'Binary',
  encoding: 'Not UTF-8 text',
  minified: 'Minified',
  generated: 'Generated',
  unreadable: 'Unreadable',
  symlink: 'Symbolic links',
  special: 'Special files',
  budget: 'Over the token budget',
};

function entry(excluded: ExcludedEntryReport): HTMLElement {
  const icon = codicon(excluded.kind === 'folder' ? 'folder' : 'file');
  const path = excluded.kind === 'folder' ? `${excluded.path}/` : excluded.path;
  return h(
    'li',
    { 'data-code': excluded.code },
    icon,
    ' ',
    h('span', { class: 'excluded-path' }, path),
    h('span', { class: 'excluded-reason' }, excluded.reason),
  );
}

function group(code: ExcludedEntryReport['code'], entries: readonly ExcludedEntryReport[]): HTMLElement {
  const more = entries.length - Math.min(entries.length, MAX_PER_GROUP);
  return h(
    'details',
    { class: 'excluded-group', 'data-code': code },
    h(
      'summary',
      {},
      `${CODE_TITLE[code]} `,
      h('vscode-badge', { variant: 'counter' }, formatCount(entries.length)),
    ),
    h('ul', {}, ...entries.slice(0, MAX_PER_GROUP).map(entry)),
    more > 0 ? h('p', { class: 'table-note' }, `and ${formatCount(more)} more`) : null,
  );
}

/** The groups, largest first. */
export function exclusionsList(excluded: readonly ExcludedEntryReport[]): HTMLElement {
  const byCode = new Map<ExcludedEntryReport['code'], ExcludedEntryReport[]>();
  for (const item of excluded) {
    const entries = byCode.get(item.code);
    if (entries) entries.push(item);
    else byCode.set(item.code, [item]);
  }
  const groups = [...byCode.entries()].sort((a, b) => b[1].length - a[1].length);
  if (groups.length === 0) return h('p', {}, 'Nothing was left out.');
  return h('div', { class: 'exclusions' }, ...groups.map(([code, entries]) => group(code, entries)));
}
