// Hostile answers in the chat webview: raw HTML, script, event handlers, javascript: links and iframes never run
// or reach the DOM as elements.
import assert from 'node:assert/strict';
import { turn, viewState } from './fixtures';
import { useWebviews } from './harness';

const HOSTILE = [
  '# Title <script>window.__pwned = "script"</script>',
  '',
  '<img src="x" onerror="window.__pwned = \'img\'">',
  '',
  '<iframe src="javascript:window.__pwned=\'iframe\'"></iframe>',
  '',
  "[click me](javascript:window.__pwned='link') and [data](data:text/html,<script>1</script>)",
  '',
  "![pic](javascript:window.__pwned='image')",
  '',
  '<div onclick="window.__pwned=\'div\'">raw <b>html</b></div>',
  '',
  '<a href="javascript:window.__pwned=\'anchor\'">anchor</a> <svg onload="window.__pwned=\'svg\'"></svg>',
  '',
  '<style>body { display: none }</style>',
].join('\n');

describe('chat webview sanitizing', () => {
  const open = useWebviews();

  it('renders hostile markdown and HTML as inert text', async () => {
    const webview = await open('chat');
    await webview.send({
      type: 'state',
      state: viewState('chat', { turns: [turn({ id: 't1', answer: HOSTILE })] }),
    });
    const body = webview.page.locator('.answer-body');
    await body.locator('h1').waitFor();
    for (const selector of [
      'script',
      'iframe',
      'img',
      'svg',
      'style',
      'div[onclick]',
      'b',
      '[onerror]',
      '[onload]',
    ]) {
      assert.equal(await body.locator(selector).count(), 0, `${selector} reached the DOM`);
    }
    const hrefs = await body.locator('a').evaluateAll((links) => links.map((a) => a.getAttribute('href')));
    assert.ok(
      hrefs.every((href) => href === null || !/^\s*(javascript|data):/i.test(href)),
      `dangerous link: ${hrefs}`,
    );
    const text = (await body.textContent()) ?? '';
    assert.ok(text.includes('<script>window.__pwned = "script"</script>'), 'raw HTML is shown as text');
    assert.ok(text.includes('<img src="x" onerror='), 'raw HTML is shown as text');
    await body.locator('a, p').evaluateAll((nodes) => nodes.forEach((node) => (node as HTMLElement).click()));
    const pwned = await webview.page.evaluate(
      () => (window as unknown as { __pwned?: string }).__pwned ?? null,
    );
    assert.equal(pwned, null);
    assert.equal(await webview.page.locator('body').isVisible(), true);
  });

  it('sanitizes a hostile question too (shown as text)', async () => {
    const webview = await open('chat');
    const question = '<img src=x onerror="window.__pwned=1">why?';
    await webview.send({
      type: 'state',
      state: viewState('chat', { turns: [turn({ id: 't1', question })] }),
    });
    assert.equal(await webview.page.locator('.question p').textContent(), question);
    assert.equal(await webview.page.locator('.question img').count(), 0);
  });
});
