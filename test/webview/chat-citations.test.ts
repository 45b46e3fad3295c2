// Citations in the chat webview: verified references open the cited lines (click or keyboard), unverified ones
// are marked and inert, inline and in the References list.
import assert from 'node:assert/strict';
import { findReferences } from '../../extension/engine/answer/citations';
import { turn, viewState } from './fixtures';
import { useWebviews } from './harness';

const FILES = [
  { path: 'src/engine/model.ts', text: 'a\nb\nc\nd\ne\nf\n' },
  { path: 'src/ui/view.ts', text: 'one\ntwo\n' },
];
const ANSWER =
  'The model is built in src/engine/model.ts:3-5 and rendered by `src/ui/view.ts:2`.\n\n' +
  'The cache lives in src/cache.ts:9, and src/ui/view.ts:40 is past the end.\n';

describe('chat webview citations', () => {
  const open = useWebviews();
  const references = findReferences(ANSWER, FILES);

  async function answered() {
    const webview = await open('chat');
    await webview.send({ type: 'state', state: viewState('chat') });
    await webview.send({ type: 'turnStart', turn: turn({ id: 't1', status: 'streaming' }) });
    await webview.send({ type: 'turnEnd', turn: turn({ id: 't1', answer: ANSWER, references }) });
    await webview.page.locator('.references').waitFor();
    return webview;
  }

  it('the fixture has two verified and two unverified references', () => {
    assert.deepEqual(
      references.map((r) => [r.path, r.startLine, r.endLine, r.verified]),
      [
        ['src/engine/model.ts', 3, 5, true],
        ['src/ui/view.ts', 2, 2, true],
        ['src/cache.ts', 9, 9, false],
        ['src/ui/view.ts', 40, 40, false],
      ],
    );
  });

  it('a verified inline reference opens its file and lines on click and on Enter', async () => {
    const webview = await answered();
    const body = webview.page.locator('.answer-body');
    const links = body.getByRole('link');
    assert.deepEqual(await links.allTextContents(), ['src/engine/model.ts:3-5', 'src/ui/view.ts:2']);
    await links.first().click();
    await links.nth(1).focus();
    await webview.page.keyboard.press('Enter');
    assert.deepEqual((await webview.posted()).slice(-2), [
      { type: 'openReference', path: 'src/engine/model.ts', startLine: 3, endLine: 5 },
      { type: 'openReference', path: 'src/ui/view.ts', startLine: 2, endLine: 2 },
    ]);
  });

  it('an unverified reference is struck, explains why and posts nothing', async () => {
    const webview = await answered();
    const unverified = webview.page.locator('.answer-body .reference.unverified');
    assert.deepEqual(await unverified.allTextContents(), ['src/cache.ts:9', 'src/ui/view.ts:40']);
    assert.equal(await unverified.first().getAttribute('title'), 'Unverified: not in context');
    assert.match(
      (await unverified.nth(1).getAttribute('title')) ?? '',
      /^Unverified: line 40 beyond the end/,
    );
    assert.equal(await unverified.first().getAttribute('role'), null);
    const decoration = await unverified.first().evaluate((el) => getComputedStyle(el).textDecorationLine);
    assert.equal(decoration, 'line-through');
    const before = (await webview.posted()).length;
    await unverified.first().click();
    assert.equal((await webview.posted()).length, before);
  });

  it('lists every reference under the answer, verified ones clickable', async () => {
    const webview = await answered();
    const items = webview.page.locator('.references li');
    assert.deepEqual(await items.allTextContents(), [
      'src/engine/model.ts:3-5',
      'src/ui/view.ts:2',
      'src/cache.ts:9 — unverified: not in context',
      'src/ui/view.ts:40 — unverified: line 40 beyond the end (2 lines)',
    ]);
    await items.nth(1).getByRole('link').click();
    assert.deepEqual((await webview.posted()).at(-1), {
      type: 'openReference',
      path: 'src/ui/view.ts',
      startLine: 2,
      endLine: 2,
    });
  });

  it('a reference written as a markdown link becomes the reference link', async () => {
    const webview = await open('chat');
    const answer = 'See [src/ui/view.ts:2](src/ui/view.ts:2) and [the docs](docs/guide.md).';
    const refs = findReferences(answer, FILES);
    await webview.send({
      type: 'state',
      state: viewState('chat', { turns: [turn({ id: 't1', answer, references: refs })] }),
    });
    const body = webview.page.locator('.answer-body');
    assert.deepEqual(
      await body.getByRole('link', { name: 'src/ui/view.ts:2' }).getAttribute('class'),
      'reference verified',
    );
    assert.equal(await body.locator('a[href="src/ui/view.ts:2"]').count(), 0);
    await body.getByRole('link', { name: 'the docs' }).click();
    assert.equal(
      webview.page.url(),
      'http://webview.test/index.html',
      'a relative link navigated the webview',
    );
    await body.getByRole('link', { name: 'src/ui/view.ts:2' }).click();
    assert.deepEqual((await webview.posted()).at(-1), {
      type: 'openReference',
      path: 'src/ui/view.ts',
      startLine: 2,
      endLine: 2,
    });
  });
});
