// The chat's engine banners: restricted mode, first run with and without models, ingesting, crashed, GPU note.
import assert from 'node:assert/strict';
import { viewState } from './fixtures';
import { useWebviews } from './harness';

describe('chat webview engine banners', () => {
  const open = useWebviews();

  it('restricted mode explains and offers to manage trust; asking is disabled', async () => {
    const webview = await open('chat');
    await webview.send({ type: 'state', state: viewState('chat', { engine: { phase: 'restricted' } }) });
    const banner = webview.page.locator('.banner-restricted');
    assert.match((await banner.textContent()) ?? '', /Restricted Mode HiPCode reads no files/);
    await banner.getByRole('button', { name: 'Manage Workspace Trust' }).click();
    assert.deepEqual((await webview.posted()).at(-1), { type: 'manageTrust' });
    assert.equal(
      await webview.page.getByRole('button', { name: 'Send question' }).getAttribute('disabled'),
      '',
    );
  });

  it('first run lists discovered models to select, and Browse…', async () => {
    const webview = await open('chat');
    const models = [
      {
        dir: '/m/qwen',
        name: 'Qwen2.5-Coder-7B-Instruct',
        architecture: 'qwen2',
        contextLength: 131072,
        bytes: 15e9,
      },
      {
        dir: '/m/bad',
        name: 'Broken',
        architecture: 'mamba',
        contextLength: 4096,
        bytes: 1e9,
        problem: 'unsupported architecture',
      },
    ];
    await webview.send({ type: 'state', state: viewState('chat', { engine: { phase: 'noModel' }, models }) });
    const banner = webview.page.locator('.banner-no-model');
    assert.match(
      (await banner.locator('.model').first().textContent()) ?? '',
      /qwen2 · 131.1K context · 14 GiB/,
    );
    assert.match(
      (await banner.locator('.model').nth(1).textContent()) ?? '',
      /Cannot be used: unsupported architecture/,
    );
    await banner.getByRole('button', { name: 'Use Qwen2.5-Coder-7B-Instruct' }).click();
    await banner.getByRole('button', { name: 'Browse for a model folder' }).click();
    assert.deepEqual((await webview.posted()).slice(-2), [
      { type: 'selectModel', dir: '/m/qwen' },
      { type: 'selectModel' },
    ]);
    assert.equal(await banner.getByRole('button', { name: 'Use Broken' }).count(), 0);
  });

  it('first run without models says what to download and where to put it', async () => {
    const webview = await open('chat');
    await webview.send({
      type: 'state',
      state: viewState('chat', { engine: { phase: 'noModel' }, models: [] }),
    });
    const text = (await webview.page.locator('.banner-no-model').textContent()) ?? '';
    for (const expected of [
      'Qwen/Qwen2.5-Coder-7B-Instruct',
      'meta-llama/Llama-3.1-8B-Instruct',
      '~/.cache/huggingface/hub',
      'hipcode.modelPath',
      'safetensors',
    ]) {
      assert.ok(text.includes(expected), `missing ${expected}`);
    }
  });

  it('ingesting shows progress with ETA; engine messages update the banner', async () => {
    const webview = await open('chat');
    const progress = {
      phase: 'tokenize' as const,
      files: 120,
      totalFiles: 480,
      tokens: 250000,
      tokensPerSecond: 50000,
      etaSeconds: 125,
    };
    await webview.send({
      type: 'state',
      state: viewState('chat', { engine: { phase: 'ingesting' }, progress }),
    });
    const details = webview.page.locator('.banner-ingesting .progress-details');
    assert.equal(
      await details.textContent(),
      '120 / 480 files · 250,000 tokens · 50,000 tokens/s · ETA 2 min 05 s',
    );
    await webview.send({ type: 'engine', engine: { phase: 'ready' } });
    await webview.page.locator('.banner-ingesting').waitFor({ state: 'detached' });
    assert.equal(
      await webview.page.getByRole('button', { name: 'Send question' }).getAttribute('disabled'),
      null,
    );
  });

  it('crashed shows the message with Restart and Show log; the GPU note is shown', async () => {
    const webview = await open('chat');
    const engine = { phase: 'crashed' as const, message: 'The engine ran out of memory (exit code 137).' };
    const gpuNote = 'No usable GPU: the CPU backend answers small models slowly.';
    await webview.send({ type: 'state', state: viewState('chat', { engine, gpuNote }) });
    const banner = webview.page.locator('.banner-crashed');
    assert.equal(await banner.getByRole('alert').textContent(), engine.message);
    await banner.getByRole('button', { name: 'Restart engine' }).click();
    await banner.getByRole('button', { name: 'Show engine log' }).click();
    assert.deepEqual((await webview.posted()).slice(-2), [{ type: 'restartEngine' }, { type: 'showLog' }]);
    assert.equal(await webview.page.locator('.gpu-note').textContent(), ` ${gpuNote}`);
  });
});
