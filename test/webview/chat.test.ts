// The chat webview in headless Chromium: ready before state, markdown and highlighting, streaming, stop, code
// actions, question box and engine banners.
import assert from 'node:assert/strict';
import { turn, viewState } from './fixtures';
import { pageProblems, useWebviews } from './harness';

describe('chat webview', () => {
  const open = useWebviews();

  it('posts ready first and renders nothing before state arrives', async () => {
    const webview = await open('chat');
    assert.deepEqual(await webview.posted(), [{ type: 'ready' }]);
    assert.equal(await webview.page.locator('#root').innerHTML(), '');
    await webview.send({ type: 'state', state: viewState('chat') });
    await webview.page.locator('.welcome').waitFor();
    assert.equal(await webview.page.locator('#question').count(), 1);
  });

  it('renders markdown: headings, lists and a highlighted code fence', async () => {
    const webview = await open('chat');
    const answer = '## Overview\n\n- first item\n- second item\n\n```ts\nconst x: number = 42;\n```\n';
    await webview.send({ type: 'state', state: viewState('chat', { turns: [turn({ id: 't1', answer })] }) });
    const body = webview.page.locator('.answer-body');
    assert.equal(await body.locator('h2').textContent(), 'Overview');
    assert.deepEqual(await body.locator('ul > li').allTextContents(), ['first item', 'second item']);
    assert.equal(await body.locator('pre code').textContent(), 'const x: number = 42;\n');
    assert.equal(await body.locator('pre code .hljs-keyword').first().textContent(), 'const');
    assert.equal(await body.locator('pre code .hljs-number').textContent(), '42');
  });

  it('streams: successive deltas update the answer in place; Stop shows while streaming and posts stop', async () => {
    const webview = await open('chat');
    await webview.send({ type: 'state', state: viewState('chat') });
    const { page } = webview;
    await webview.send({ type: 'turnStart', turn: turn({ id: 't1', status: 'streaming' }) });
    const stop = page.getByRole('button', { name: 'Stop generating' });
    await stop.waitFor();
    assert.equal(await page.getByRole('button', { name: 'Send question' }).isVisible(), false);
    await webview.send({ type: 'turnDelta', id: 't1', text: 'First paragraph' });
    await page.locator('.answer-body p', { hasText: 'First paragraph' }).waitFor();
    await webview.send({ type: 'turnDelta', id: 't1', text: '.\n\nSecond **bold' });
    await webview.send({ type: 'turnDelta', id: 't1', text: ' words**' });
    await page.locator('.answer-body strong', { hasText: 'bold words' }).waitFor();
    await stop.click();
    assert.deepEqual((await webview.posted()).at(-1), { type: 'stop' });
    const answer = 'First paragraph.\n\nSecond **bold words**';
    await webview.send({ type: 'turnEnd', turn: turn({ id: 't1', answer, status: 'stopped' }) });
    await page.locator('.turn-note.stopped').waitFor();
    assert.equal(await stop.isVisible(), false);
    assert.equal(await page.getByRole('button', { name: 'Send question' }).isVisible(), true);
  });

  it('follows a new question and its streaming answer to the bottom of a long conversation', async () => {
    const webview = await open('chat');
    const long = Array.from({ length: 40 }, (_, i) => `Paragraph ${i}.`).join('\n\n');
    const turns = [turn({ id: 't1', answer: long }), turn({ id: 't2', answer: long })];
    await webview.send({ type: 'state', state: viewState('chat', { turns }) });
    const list = webview.page.locator('.turns');
    await list.evaluate((el) => (el.scrollTop = 0));
    await webview.send({ type: 'turnStart', turn: turn({ id: 't3', status: 'streaming' }) });
    await webview.send({ type: 'turnDelta', id: 't3', text: long });
    await webview.page.locator('[data-turn-id="t3"] .answer-body p', { hasText: 'Paragraph 39.' }).waitFor();
    const gap = await list.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight);
    assert.ok(gap < 24, `the newest answer is ${gap}px below the view`);
  });

  it('keeps unchanged blocks in place while the last one streams', async () => {
    const webview = await open('chat');
    await webview.send({ type: 'state', state: viewState('chat') });
    const { page } = webview;
    await webview.send({
      type: 'turnStart',
      turn: turn({ id: 't1', status: 'streaming', answer: 'Intro.\n\n' }),
    });
    // An expando, not an attribute: it marks this very element without making it differ from a re-render.
    await page
      .locator('.answer-body p', { hasText: 'Intro.' })
      .evaluate((p) => Object.assign(p, { marked: true }));
    await webview.send({ type: 'turnDelta', id: 't1', text: 'Growing' });
    await webview.send({ type: 'turnDelta', id: 't1', text: ' text' });
    await page.locator('.answer-body p', { hasText: 'Growing text' }).waitFor();
    const kept = await page
      .locator('.answer-body p')
      .first()
      .evaluate((p) => 'marked' in p);
    assert.equal(kept, true, 'the unchanged first paragraph was replaced');
  });

  it('shows an error turn and the usage line of a finished answer', async () => {
    const webview = await open('chat');
    const done = turn({
      id: 't1',
      answer: 'Done.',
      usage: { contextTokens: 5000, promptTokens: 5100, cachedTokens: 5000, generatedTokens: 250 },
      timings: {
        firstTokenSeconds: 1.25,
        prefillTokensPerSecond: 9000,
        decodeTokensPerSecond: 41.5,
        totalSeconds: 7,
      },
    });
    const failed = turn({
      id: 't2',
      question: 'And?',
      status: 'error',
      error: 'The engine ran out of GPU memory.',
    });
    await webview.send({ type: 'state', state: viewState('chat', { turns: [done, failed] }) });
    const usage = await webview.page.locator('[data-turn-id="t1"] .usage').textContent();
    assert.equal(usage, '250 tokens · 41.5 tokens/s · first token 1.3 s · 5,100 prompt tokens');
    assert.equal(
      await webview.page.locator('[data-turn-id="t2"] .turn-note.error').textContent(),
      'The engine ran out of GPU memory.',
    );
  });

  it('code blocks post their code with Copy and Insert', async () => {
    const webview = await open('chat');
    const answer = 'Use:\n\n```python\nprint("hi")\nx = 1\n```\n';
    await webview.send({ type: 'state', state: viewState('chat', { turns: [turn({ id: 't1', answer })] }) });
    await webview.page.getByRole('button', { name: 'Copy code' }).click();
    await webview.page.getByRole('button', { name: 'Insert code at cursor' }).click();
    const posted = (await webview.posted()).slice(-2);
    assert.deepEqual(posted, [
      { type: 'copy', text: 'print("hi")\nx = 1' },
      { type: 'insert', text: 'print("hi")\nx = 1' },
    ]);
  });

  it('question box: Enter sends, Shift+Enter adds a line, the draft is kept and restored, prefill focuses', async () => {
    const webview = await open('chat', { draft: 'saved draft' });
    await webview.send({ type: 'state', state: viewState('chat') });
    const box = webview.page.locator('#question');
    assert.equal(await box.inputValue(), 'saved draft');
    await box.fill('');
    await box.pressSequentially('line one');
    await box.press('Shift+Enter');
    await box.pressSequentially('line two');
    assert.equal(await box.inputValue(), 'line one\nline two');
    const saved = await webview.page.evaluate(() => (window as unknown as { __state: unknown }).__state);
    assert.deepEqual(saved, { draft: 'line one\nline two' });
    await box.press('Enter');
    assert.deepEqual((await webview.posted()).at(-1), { type: 'ask', question: 'line one\nline two' });
    assert.equal(await box.inputValue(), '');
    await webview.send({ type: 'prefill', text: 'Where is the tokenizer?' });
    assert.equal(await box.inputValue(), 'Where is the tokenizer?');
    assert.equal(await box.evaluate((el) => el === document.activeElement), true);
  });

  it('toolbar posts newChat and openChatPanel', async () => {
    const webview = await open('chat');
    await webview.send({ type: 'state', state: viewState('chat') });
    await webview.page.getByRole('button', { name: 'New chat' }).click();
    await webview.page.getByRole('button', { name: 'Open chat in an editor panel' }).press('Enter');
    assert.deepEqual((await webview.posted()).slice(1), [{ type: 'newChat' }, { type: 'openChatPanel' }]);
  });

  it('the CSP blocks inline script and style, and the harness sees it', async () => {
    const webview = await open('chat');
    const ran = await webview.page.evaluate(() => {
      const script = document.createElement('script');
      script.textContent = 'window.__inline = true';
      document.body.append(script);
      document.body.insertAdjacentHTML('beforeend', '<p style="color: red">styled</p>');
      return (window as unknown as { __inline?: boolean }).__inline ?? false;
    });
    assert.equal(ran, false);
    await webview.page.waitForFunction(
      () => (window as unknown as { __violations: string[] }).__violations.length >= 2,
    );
    const violations = await pageProblems(webview);
    assert.ok(
      violations.some((v) => v.startsWith('CSP violation: script-src')),
      violations.join('\n'),
    );
    await webview.page.evaluate(
      () => ((window as unknown as { __violations: string[] }).__violations.length = 0),
    );
    webview.problems.length = 0;
  });
});
