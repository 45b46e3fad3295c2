// End to end in a real workbench: code-server with the packaged VSIX installed, driven by Playwright in Debian's
// Chromium, with a fixture model (e2e/citing-model.ts) and a fixture repository. Screenshots go to
// artifacts/e2e/. code-server is installed from the npm registry on first use (cached, ~4 min).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Frame, Page } from 'playwright-core';
import {
  CHROMIUM,
  launchBrowser,
  notification,
  runCommand,
  screenshot,
  statusItem,
  waitForWorkbench,
  webviewFrame,
} from '../../e2e/browser';
import { makeCitingModel } from '../../e2e/citing-model';
import {
  installCodeServer,
  startWorkbench,
  type CodeServerInstall,
  type Workbench,
  type WorkbenchOptions,
} from '../../e2e/code-server';
import { REPO_ROOT } from '../helpers/cli';
import { makeRepo } from '../helpers/repo';

const ARTIFACTS = join(REPO_ROOT, 'artifacts', 'e2e');
const CHAT = 'textarea#question';
const CONTEXT = '.context';
/** The status bar once the context is in (VS Code renders its spaces as no-break spaces). */
const READY = /HiPCode:\s\d+(\.\d+K)?\stokens/;

const REPO: Record<string, string> = {
  'a.py': 'def add(a, b):\n    return a + b\n',
  'src/util.ts': 'export const twice = (x: number) => 2 * x;\n',
  'README.md': '# Demo\n',
  '.gitignore': 'secret.txt\n',
  'secret.txt': 'not for the model\n',
};

/** Pids of engine processes started from `extensionsDir` (the installed extension's dist/engine.js). */
function enginePids(extensionsDir: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        return command.includes(extensionsDir) && command.includes('dist/engine.js');
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Changes a HiPCode setting in the Settings editor, as a user does (found by its description). */
async function changeSetting(page: Page, description: string, value: string, close = true): Promise<void> {
  await runCommand(page, 'HiPCode: Open Settings');
  const item = page.locator('.setting-item-contents', { hasText: description });
  await item.waitFor({ timeout: 30_000 });
  const select = item.locator('select');
  if ((await select.count()) > 0) await select.selectOption(value);
  else {
    const input = item.locator('input');
    await input.fill(value);
    await input.press('Enter');
  }
  if (close) await closeSettings(page);
}

/**
 * The Settings editor opens as a modal over the workbench: its close button shuts it (Escape too, but a keypress
 * is lost when a webview holds the focus); Escape also dismisses a dialog or toast that covers the button.
 */
async function closeSettings(page: Page): Promise<void> {
  const modal = page.locator('.monaco-modal-editor-block');
  const close = modal.locator('a.codicon-close[aria-label^="Close Modal Editor"]');
  for (let attempt = 0; attempt < 20 && (await modal.isVisible()); attempt++) {
    try {
      await close.click({ timeout: 1000 });
    } catch {
      await page.keyboard.press('Escape');
    }
    await page.waitForTimeout(300);
  }
  await modal.waitFor({ state: 'hidden', timeout: 10_000 });
}

async function openSidebar(page: Page): Promise<void> {
  await page.locator('.activitybar a.action-label[aria-label^="HiPCode"]').click();
}

async function ask(chat: Frame, question: string): Promise<void> {
  await chat.locator(CHAT).fill(question);
  await chat.locator(CHAT).press('Enter');
}

describe('VS Code extension in a real workbench (code-server + Chromium)', function () {
  this.timeout(30 * 60_000);
  let home: string;
  let install: CodeServerInstall;
  let vsix: string;
  let model: string;
  let browser: Browser;

  interface Session {
    workbench: Workbench;
    page: Page;
  }

  before(async () => {
    assert.ok(
      existsSync(CHROMIUM),
      `${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)`,
    );
    home = mkdtempSync(join(tmpdir(), 'hipcode-e2e-'));
    install = installCodeServer(REPO_ROOT);
    vsix = join(home, 'hipcode.vsix');
    execFileSync(process.execPath, [join(REPO_ROOT, 'scripts', 'package.mjs'), vsix], { stdio: 'pipe' });
    model = makeCitingModel(join(home, 'model'));
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    rmSync(home, { recursive: true, force: true });
  });

  /** A workbench started before the tests of the enclosing describe, stopped after them. */
  function workbenchSession(options: () => Omit<WorkbenchOptions, 'install' | 'vsix'>): Session {
    const session = {} as Session;
    before(async () => {
      session.workbench = await startWorkbench({ install, vsix, ...options() });
      session.page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      await session.page.goto(session.workbench.url);
      await waitForWorkbench(session.page, 'a.py');
    });
    afterEach(async function () {
      const test = this.currentTest;
      if (test?.state === 'failed') await screenshot(session.page, ARTIFACTS, `failed-${test.title}`);
    });
    after(async () => {
      await session.page?.close();
      await session.workbench?.stop();
    });
    return session;
  }

  describe('a trusted workspace', () => {
    const session = workbenchSession(() => ({
      home: join(home, 'trusted'),
      workspace: makeRepo(REPO, 'repo-', home),
      trust: false,
      settings: {
        'hipcode.modelPath': model,
        'hipcode.backend': 'cpu',
        'hipcode.threads': 2,
        'hipcode.generation.maxTokens': 48,
      },
    }));
    let chat: Frame;

    it('ingests the workspace on open and reports what the model sees', async () => {
      await openSidebar(session.page);
      const text = await statusItem(session.page, READY);
      assert.match(text, /tokens/);
      const context = await webviewFrame(session.page, CONTEXT);
      await context.locator('.files-table', { hasText: 'a.py' }).waitFor({ timeout: 30_000 });
      await context.locator('.files-table', { hasText: 'src/util.ts' }).waitFor();
      await context.locator('.excluded-path', { hasText: 'secret.txt' }).waitFor({ state: 'attached' });
      await screenshot(session.page, ARTIFACTS, '1-ingested');
    });

    it('streams an answer in the sidebar with a citation that opens the file at the line', async () => {
      chat = await webviewFrame(session.page, CHAT);
      await ask(chat, 'Where is add defined?');
      const turn = chat.locator('article.turn').last();
      await turn.locator('.answer', { hasText: 'In a.py:1' }).waitFor({ timeout: 60_000 });
      await chat.locator('article.turn:last-of-type[data-status="done"]').waitFor({ timeout: 120_000 });
      await screenshot(session.page, ARTIFACTS, '2-answer');
      await turn.locator('.references a.reference.verified', { hasText: 'a.py:1' }).dispatchEvent('click');
      await session.page
        .locator('.tabs-container .tab.active', { hasText: 'a.py' })
        .waitFor({ timeout: 30_000 });
      await statusItem(session.page, /Ln 1, Col \d+ \(\d+ selected\)/, 30_000);
      await screenshot(session.page, ARTIFACTS, '3-citation-opened');
    });

    it('stops a generation', async () => {
      await changeSetting(session.page, 'Most tokens of an answer', '2000');
      await openSidebar(session.page);
      chat = await webviewFrame(session.page, CHAT);
      await ask(chat, 'Explain the whole repository in detail.');
      const turn = chat.locator('article.turn').last();
      await turn.locator('.answer', { hasText: 'In' }).waitFor({ timeout: 60_000 });
      await chat.getByRole('button', { name: 'Stop generating' }).dispatchEvent('click');
      await chat.locator('article.turn:last-of-type[data-status="stopped"]').waitFor({ timeout: 30_000 });
      await screenshot(session.page, ARTIFACTS, '4-stopped');
      await changeSetting(session.page, 'Most tokens of an answer', '48');
    });

    it('asks about the selection from the command palette', async () => {
      await session.page.keyboard.press('Control+P');
      await session.page.locator('.quick-input-widget input[type="text"]').fill('a.py');
      await session.page
        .locator('.quick-input-widget .monaco-list-row', { hasText: 'a.py' })
        .first()
        .waitFor();
      await session.page.keyboard.press('Enter');
      await session.page.locator('.tabs-container .tab.active', { hasText: 'a.py' }).waitFor();
      await session.page.locator('.monaco-editor .view-lines').first().click();
      await session.page.keyboard.press('Control+A');
      await runCommand(session.page, 'HiPCode: Ask about Selection');
      const input = session.page.locator('.quick-input-widget input[type="text"]');
      await input.waitFor({ state: 'visible' });
      await input.fill('What does this return?');
      await session.page.keyboard.press('Enter');
      chat = await webviewFrame(session.page, CHAT);
      const turn = chat.locator('article.turn').last();
      await turn.locator('.question', { hasText: 'The code, from a.py:1-2' }).waitFor({ timeout: 30_000 });
      await chat.locator('article.turn:last-of-type[data-status="done"]').waitFor({ timeout: 120_000 });
      await screenshot(session.page, ARTIFACTS, '5-ask-about-selection');
    });

    it('prefills "Where is…", re-ingests, and offers a restart when a restart setting changes', async () => {
      await runCommand(session.page, 'HiPCode: Where Is…');
      chat = await webviewFrame(session.page, CHAT);
      await chat.locator(`${CHAT}:focus`).waitFor();
      assert.equal(await chat.locator(CHAT).inputValue(), 'Where is ');
      await chat.locator(CHAT).fill('');
      await runCommand(session.page, 'HiPCode: Re-ingest Workspace');
      await statusItem(session.page, READY, 60_000);
      const [pid] = enginePids(session.workbench.extensionsDir);
      await changeSetting(session.page, 'Attention mode of the engine', 'dense', false);
      const offer = session.page.locator('.notification-list-item', { hasText: 'hipcode.attention' });
      await offer
        .locator('.notification-list-item-message', { hasText: 'takes effect when the engine restarts' })
        .waitFor();
      await screenshot(session.page, ARTIFACTS, '6-restart-offered');
      await offer.getByRole('button', { name: 'Restart engine' }).click();
      await closeSettings(session.page);
      await statusItem(session.page, READY, 60_000);
      assert.notDeepEqual(enginePids(session.workbench.extensionsDir), [pid], 'the engine was not restarted');
      // The new engine loaded the model with the changed setting (its log is the HiPCode Engine output channel).
      await runCommand(session.page, 'HiPCode: Show Engine Log');
      await session.page
        .locator('.part.panel .view-lines', { hasText: 'attention dense' })
        .waitFor({ timeout: 30_000 });
      await screenshot(session.page, ARTIFACTS, '6-engine-log');
      await session.page.keyboard.press('Control+J');
    });

    it('keeps the context live: unsaved editor text reaches the engine', async () => {
      const before = await statusItem(session.page, READY);
      await session.page.locator('.monaco-editor .view-lines').first().click();
      await session.page.keyboard.press('Control+End');
      await session.page.keyboard.type('\ndef sub(a, b):\n    return a - b\n');
      const deadline = Date.now() + 30_000;
      let now = before;
      while (now === before && Date.now() < deadline) {
        await session.page.waitForTimeout(250);
        now = await statusItem(session.page, READY);
      }
      assert.notEqual(now, before, `the context stayed at '${before}'`);
      const tokens = (text: string): number => Number(/(\d+) tokens/.exec(text.replace(/\s/g, ' '))?.[1]);
      assert.ok(tokens(now) > tokens(before), `${now} is not more than ${before}`);
      await screenshot(session.page, ARTIFACTS, '6-live-edit');
    });

    it('recovers when the engine process is killed', async () => {
      const [pid] = enginePids(session.workbench.extensionsDir);
      assert.ok(pid, 'no engine process found');
      process.kill(pid, 'SIGKILL');
      await notification(session.page, /HiPCode engine was killed \(SIGKILL\)/);
      await screenshot(session.page, ARTIFACTS, '7-engine-killed');
      await statusItem(session.page, READY, 60_000);
      const [restarted] = enginePids(session.workbench.extensionsDir);
      assert.ok(restarted && restarted !== pid, 'the engine was not restarted');
      chat = await webviewFrame(session.page, CHAT);
      await ask(chat, 'Where is add defined?');
      await chat.locator('article.turn:last-of-type[data-status="done"]').waitFor({ timeout: 120_000 });
      await screenshot(session.page, ARTIFACTS, '7-recovered');
    });
  });

  describe('the first run, without a model', () => {
    const cache = (): string => join(home, 'hf-cache');
    const snapshot = (): string => join(cache(), 'models--hipcode--citing-demo', 'snapshots', '0123abc');
    const session = workbenchSession(() => {
      // A Hugging Face hub cache holding the fixture model, as `hf download` lays it out.
      mkdirSync(snapshot(), { recursive: true });
      for (const file of readdirSync(model)) symlinkSync(join(model, file), join(snapshot(), file));
      return {
        home: join(home, 'first-run'),
        workspace: makeRepo(REPO, 'fresh-', home),
        trust: false,
        env: { HF_HUB_CACHE: cache() },
        // backend auto on a machine without a GPU: the engine falls back to the CPU and the chat says so.
        settings: { 'hipcode.backend': 'auto', 'hipcode.generation.maxTokens': 24 },
      };
    });

    it('lists the models found; choosing one saves it in the user settings and starts the engine, on the CPU without a GPU', async () => {
      await statusItem(session.page, 'HiPCode: no model');
      await openSidebar(session.page);
      const chat = await webviewFrame(session.page, '.banner-no-model');
      await chat.locator('.model-name', { hasText: 'hipcode/citing-demo' }).waitFor();
      await screenshot(session.page, ARTIFACTS, '8-first-run');
      await chat.getByRole('button', { name: 'Use hipcode/citing-demo' }).dispatchEvent('click');
      await statusItem(session.page, READY, 120_000);
      await chat.locator('.gpu-note', { hasText: 'No usable NVIDIA GPU was found' }).waitFor();
      const settings = JSON.parse(readFileSync(session.workbench.settingsFile, 'utf8'));
      assert.equal(settings['hipcode.modelPath'], snapshot());
      assert.deepEqual(
        readdirSync(session.workbench.workspace).sort(),
        Object.keys(REPO)
          .filter((p) => !p.includes('/'))
          .concat('src')
          .sort(),
      );
    });
  });

  describe('Restricted Mode', () => {
    const session = workbenchSession(() => ({
      home: join(home, 'restricted'),
      workspace: makeRepo(REPO, 'untrusted-', home),
      trust: true,
      settings: { 'hipcode.modelPath': model, 'hipcode.backend': 'cpu' },
    }));

    it('reads nothing and starts no engine, and says how to trust the folder', async () => {
      await statusItem(session.page, 'HiPCode: restricted');
      await openSidebar(session.page);
      const chat = await webviewFrame(session.page, '.banner-restricted');
      await chat.locator('.banner-restricted', { hasText: /trust/i }).waitFor();
      assert.deepEqual(enginePids(session.workbench.extensionsDir), []);
      await screenshot(session.page, ARTIFACTS, '9-restricted');
    });
  });
});
