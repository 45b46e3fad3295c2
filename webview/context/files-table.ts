// The included files: a filter box and a table (path, language, tokens) sortable by each column.
import type { IncludedFileReport } from '../../extension/engine/protocol';
import { h } from '../shared/dom';
import { formatCount } from '../shared/format';

type Column = 'path' | 'language' | 'tokens';
/** Rows shown at most; the filter narrows the rest. */
export const MAX_ROWS = 500;

const COLUMNS: readonly { key: Column; label: string }[] = [
  { key: 'path', label: 'Path' },
  { key: 'language', label: 'Language' },
  { key: 'tokens', label: 'Tokens' },
];

function compare(column: Column): (a: IncludedFileReport, b: IncludedFileReport) => number {
  if (column === 'tokens') return (a, b) => a.tokens - b.tokens;
  return (a, b) => a[column].localeCompare(b[column]);
}

export class FilesTable {
  private files: readonly IncludedFileReport[] = [];
  private sort: { column: Column; descending: boolean } = { column: 'tokens', descending: true };
  private readonly filter = h('input', {
    type: 'search',
    class: 'filter',
    placeholder: 'Filter by path or language',
    'aria-label': 'Filter included files',
  });
  private readonly head = h('thead');
  private readonly body = h('tbody');
  private readonly note = h('p', { class: 'table-note', 'aria-live': 'polite' });
  readonly element = h(
    'div',
    { class: 'files' },
    this.filter,
    h('table', { class: 'files-table', 'aria-label': 'Included files' }, this.head, this.body),
    this.note,
  );

  constructor() {
    this.filter.addEventListener('input', () => this.render());
  }

  update(files: readonly IncludedFileReport[]): void {
    this.files = files;
    this.render();
  }

  private rows(): IncludedFileReport[] {
    const needle = this.filter.value.trim().toLowerCase();
    const kept = this.files.filter(
      (file) => needle === '' || `${file.path} ${file.language}`.toLowerCase().includes(needle),
    );
    const order = compare(this.sort.column);
    return kept.sort((a, b) => (this.sort.descending ? order(b, a) : order(a, b)));
  }

  private header(): HTMLTableRowElement {
    return h(
      'tr',
      {},
      ...COLUMNS.map(({ key, label }) => {
        const active = this.sort.column === key;
        const sortButton = h(
          'button',
          { type: 'button', class: 'sort', 'data-column': key },
          label,
          active ? (this.sort.descending ? ' ↓' : ' ↑') : '',
        );
        sortButton.addEventListener('click', () => this.sortBy(key));
        const ariaSort = active ? (this.sort.descending ? 'descending' : 'ascending') : 'none';
        return h('th', { scope: 'col', 'aria-sort': ariaSort, class: `col-${key}` }, sortButton);
      }),
    );
  }

  private row(file: IncludedFileReport): HTMLTableRowElement {
    const open = h(
      'a',
      { role: 'link', tabindex: 0, class: 'file-link', 'data-path': file.path, title: `Open ${file.path}` },
      file.path,
    );
    return h(
      'tr',
      {},
      h('td', { class: 'col-path' }, open),
      h('td', { class: 'col-language' }, file.language),
      h('td', { class: 'col-tokens' }, formatCount(file.tokens)),
    );
  }

  private sortBy(column: Column): void {
    const same = this.sort.column === column;
    this.sort = { column, descending: same ? !this.sort.descending : column === 'tokens' };
    this.render();
  }

  private render(): void {
    const rows = this.rows();
    this.head.replaceChildren(this.header());
    this.body.replaceChildren(...rows.slice(0, MAX_ROWS).map((file) => this.row(file)));
    const hidden = rows.length - Math.min(rows.length, MAX_ROWS);
    this.note.textContent =
      hidden > 0
        ? `${formatCount(rows.length)} files match; the first ${MAX_ROWS} are shown — refine the filter to see the rest.`
        : `${formatCount(rows.length)} of ${formatCount(this.files.length)} files.`;
  }
}
