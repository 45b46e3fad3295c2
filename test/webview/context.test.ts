// The context view in headless Chromium: budget meter, files table, exclusions by reason, the treemap's areas,
// ingest progress with ETA, cancel and re-ingest.
import assert from 'node:assert/strict';
import { REPORT, viewState } from './fixtures';
import { useWebviews } from './harness';

describe('context webview', () => {
  const open = useWebviews();

  async function withReport() {
    const webview = await open('context');
    await webview.send({ type: 'state', state: viewState('context', { report: REPORT }) });
    await webview.page.locator('.files-table tbody tr').first().waitFor();
    return webview;
  }

  it('shows the budget as a meter with the numbers', async () => {
    const webview = await withReport();
    const meter = webview.page.getByRole('meter', { name: 'Context budget' });
    assert.equal(await meter.getAttribute('aria-valuenow'), '24000');
    assert.equal(await meter.getAttribute('aria-valuemax'), '100000');
    assert.equal(
      await webview.page.locator('.budget-text').textContent(),
      "24,000 of 100,000 tokens budgeted (24%); the model's context is 131,072 tokens",
    );
    const used = Number(await webview.page.locator('.budget-used').getAttribute('width'));
    assert.ok(Math.abs(used - (1000 * 24000) / 131072) < 0.01, `used bar ${used}`);
  });

  it('lists included files by tokens, sortable and filterable; a click opens the file', async () => {
    const webview = await withReport();
    const paths = () => webview.page.locator('.files-table tbody .col-path').allTextContents();
    assert.deepEqual((await paths()).slice(0, 3), [
      'src/engine/model.ts',
      'src/engine/attention.cu',
      'src/ui/view.ts',
    ]);
    assert.deepEqual(
      await webview.page.locator('.files-table tbody tr').first().locator('td').allTextContents(),
      ['src/engine/model.ts', 'typescript', '12,000'],
    );
    await webview.page.getByRole('button', { name: 'Path' }).click();
    assert.deepEqual((await paths())[0], 'docs/guide.md');
    await webview.page.getByRole('searchbox', { name: 'Filter included files' }).fill('markdown');
    assert.deepEqual(await paths(), ['docs/guide.md', 'README.md']);
    await webview.page.getByRole('link', { name: 'README.md' }).click();
    assert.deepEqual((await webview.posted()).at(-1), {
      type: 'openReference',
      path: 'README.md',
      startLine: 1,
      endLine: 1,
    });
  });

  it('groups the left-out entries by reason, largest group first', async () => {
    const webview = await withReport();
    const groups = webview.page.locator('.excluded-group');
    assert.deepEqual(await groups.evaluateAll((all) => all.map((g) => g.getAttribute('data-code'))), [
      'default',
      'gitignore',
      'binary',
    ]);
    await groups.first().locator('summary').click();
    assert.deepEqual(await groups.first().locator('li .excluded-path').allTextContents(), [
      'node_modules/',
      '.git/',
    ]);
    assert.equal(await groups.first().locator('vscode-badge').textContent(), '2');
    assert.equal(await groups.nth(2).locator('li .excluded-reason').textContent(), 'binary file');
  });

  it('draws a treemap whose file areas are proportional to tokens and nest in their folders', async () => {
    const webview = await withReport();
    const svg = webview.page.locator('.treemap svg');
    const width = Number(await svg.getAttribute('width'));
    const height = Number(await svg.getAttribute('height'));
    const nodes = await webview.page.locator('.tm-node').evaluateAll((all) =>
      all.map((g) => {
        // No helper function here: tsx would wrap it in a helper the page does not have.
        const rect = g.querySelector('rect') as SVGRectElement;
        return {
          path: g.getAttribute('data-path') ?? '',
          file: g.classList.contains('tm-file'),
          tokens: Number(g.getAttribute('data-tokens')),
          x: Number(rect.getAttribute('x')),
          y: Number(rect.getAttribute('y')),
          width: Number(rect.getAttribute('width')),
          height: Number(rect.getAttribute('height')),
          label: g.getAttribute('aria-label'),
          focusable: g.getAttribute('tabindex') === '0',
        };
      }),
    );
    const files = nodes.filter((node) => node.file);
    assert.deepEqual(files.map((f) => f.path).sort(), REPORT.included.map((f) => f.path).sort());
    for (const file of files) {
      const expected = (width * height * file.tokens) / REPORT.totals.tokens;
      assert.ok(Math.abs(file.width * file.height - expected) < 1e-6 * width * height, `${file.path} area`);
    }
    const engine = nodes.find((node) => node.path === 'src/engine');
    assert.ok(engine && !engine.file && engine.tokens === 18000, 'src/engine folder');
    for (const file of files.filter((f) => f.path.startsWith('src/engine/'))) {
      assert.ok(
        file.x >= engine.x - 1e-9 && file.x + file.width <= engine.x + engine.width + 1e-9,
        `${file.path} inside`,
      );
      assert.ok(
        file.y >= engine.y - 1e-9 && file.y + file.height <= engine.y + engine.height + 1e-9,
        `${file.path} inside`,
      );
    }
    assert.ok(nodes.every((node) => node.focusable && node.label?.includes(' tokens')));
    const model = webview.page.locator('.tm-file[data-path="src/engine/model.ts"]');
    assert.equal(
      await model.getAttribute('aria-label'),
      'src/engine/model.ts (file) — 12,000 tokens, 50% of the context',
    );
    await model.hover();
    assert.equal(
      await webview.page.locator('.treemap-hovered').textContent(),
      await model.getAttribute('aria-label'),
    );
    await model.focus();
    await webview.page.keyboard.press('Enter');
    assert.deepEqual((await webview.posted()).at(-1), {
      type: 'openReference',
      path: 'src/engine/model.ts',
      startLine: 1,
      endLine: 1,
    });
  });

  it('shows ingest progress with tokens/s and ETA; Cancel posts cancelIngest; Re-ingest when done', async () => {
    const webview = await open('context');
    const progress = {
      phase: 'prefill' as const,
      files: 6,
      totalFiles: 6,
      tokens: 6000,
      totalTokens: 24000,
      tokensPerSecond: 3000,
      etaSeconds: 6,
    };
    await webview.send({
      type: 'state',
      state: viewState('context', { engine: { phase: 'ingesting' }, progress }),
    });
    const block = webview.page.locator('.ingest-progress');
    assert.equal(
      await block.locator('.progress-phase').textContent(),
      'Reading the context into the model — 25%',
    );
    assert.equal(
      await block.locator('.progress-details').textContent(),
      '6 / 6 files · 6,000 / 24,000 tokens · 3,000 tokens/s · ETA 6 s',
    );
    assert.equal(await block.locator('progress').getAttribute('value'), '25');
    const cancel = webview.page.getByRole('button', { name: 'Cancel ingest' });
    await cancel.focus();
    await webview.send({ type: 'progress', progress: { ...progress, tokens: 12000, etaSeconds: 4 } });
    await block.locator('.progress-phase', { hasText: '50%' }).waitFor();
    const restoring = { ...progress, phase: 'restore' as const, tokens: 18000 };
    await webview.send({ type: 'progress', progress: restoring });
    await block.locator('.progress-phase', { hasText: 'Loading the saved context — 75%' }).waitFor();
    await webview.send({ type: 'progress', progress: { ...progress, tokens: 12000, etaSeconds: 4 } });
    await block.locator('.progress-phase', { hasText: '50%' }).waitFor();
    assert.equal(
      await cancel.evaluate((el) => el === document.activeElement),
      true,
      'a progress tick took the focus',
    );
    await webview.page.keyboard.press('Enter');
    assert.deepEqual((await webview.posted()).at(-1), { type: 'cancelIngest' });
    await webview.send({ type: 'progress', progress: null });
    await webview.send({ type: 'engine', engine: { phase: 'ready' } });
    await webview.send({ type: 'report', report: REPORT });
    assert.equal(
      await webview.page.locator('.ingest-status').textContent(),
      '6 files, 24,000 tokens in context.',
    );
    await webview.page.getByRole('button', { name: 'Re-ingest workspace' }).click();
    assert.deepEqual((await webview.posted()).at(-1), { type: 'reingest' });
    await webview.send({ type: 'report', report: { ...REPORT, restoredTokens: 23_500 } });
    assert.equal(
      await webview.page.locator('.ingest-status').textContent(),
      '6 files, 24,000 tokens in context. 23,500 tokens were restored from the saved context instead of prefilled.',
    );
  });

  it('keeps a huge workspace to a few shapes: crowded folders are drawn closed, still to scale', async () => {
    const webview = await open('context');
    const included = Array.from({ length: 5000 }, (_, i) => ({
      path: i < 4990 ? `vendor/lib/f${i}.c` : `src/main${i}.c`,
      language: 'c',
      bytes: 100,
      tokens: 10,
    }));
    const totals = { ...REPORT.totals, tokens: 50000, includedFiles: 5000 };
    await webview.send({
      type: 'state',
      state: viewState('context', { report: { ...REPORT, included, totals } }),
    });
    await webview.page.locator('.tm-node').first().waitFor();
    assert.ok((await webview.page.locator('.tm-node').count()) < 50, 'too many shapes');
    const vendor = webview.page.locator('.tm-folder[data-path="vendor/lib"]');
    assert.equal(await vendor.getAttribute('class'), 'tm-node tm-folder tm-colour-0');
    const area = await vendor
      .locator('rect')
      .evaluate((r) => Number(r.getAttribute('width')) * Number(r.getAttribute('height')));
    const svg = webview.page.locator('.treemap svg');
    const total = Number(await svg.getAttribute('width')) * Number(await svg.getAttribute('height'));
    assert.ok(Math.abs(area / total - 4990 / 5000) < 1e-9, `vendor/lib area ${area / total}`);
  });
});
