// Drives the workbench in Debian's Chromium with playwright-core: launch, the command palette, webview frames,
// notifications, the status bar and screenshots kept as test artifacts.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Frame, type Page } from 'playwright-core';

export const CHROMIUM = process.env.HIPCODE_CHROMIUM ?? '/usr/bin/chromium';

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
      '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
    ],
  });
}

/** Waits for the workbench and its remote connection (the explorer lists the workspace). */
export async function waitForWorkbench(page: Page, fileName: string): Promise<void> {
  await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
  await page
    .locator('.explorer-folders-view .monaco-list-row', { hasText: fileName })
    .first()
    .waitFor({ timeout: 60_000 });
}

/** Runs a command by its palette title, retrying while the extension host is still starting or the palette closes. */
export async function runCommand(page: Page, title: string): Promise<void> {
  const input = page.locator('.quick-input-widget input[type="text"]');
  const row = page.locator('.quick-input-widget .monaco-list-row', { hasText: title }).first();
  for (let attempt = 0; attempt < 20; attempt++) {
    await page.keyboard.press('F1');
    try {
      // A webview taking the focus back closes the palette under the typing: then it opens again.
      await input.waitFor({ state: 'visible', timeout: 10_000 });
      await input.fill(`>${title}`, { timeout: 5000 });
      await row.waitFor({ state: 'visible', timeout: 3000 });
      await page.keyboard.press('Enter');
      return;
    } catch {
      await page.keyboard.press('Escape');
      await page.waitForTimeout(1000);
    }
  }
  throw new Error(`the command '${title}' never appeared in the palette`);
}

/** The webview frame (the inner `active-frame`) that contains `selector`. */
export async function webviewFrame(page: Page, selector: string, timeoutMs = 60_000): Promise<Frame> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const frame of page.frames()) {
      if (!frame.url().includes('fake.html') && frame.name() !== 'active-frame') continue;
      try {
        if ((await frame.locator(selector).count()) > 0) return frame;
      } catch {
        // A frame that navigates while it is asked is asked again next round.
      }
    }
    await page.waitForTimeout(250);
  }
  throw new Error(`no webview shows ${selector}`);
}

/** Waits for a notification toast (or center entry) containing `text`. */
export async function notification(page: Page, text: string | RegExp, timeoutMs = 30_000): Promise<void> {
  await page
    .locator('.notification-list-item-message', { hasText: text })
    .first()
    .waitFor({ timeout: timeoutMs });
}

/** Waits for a status-bar item whose text matches. */
export async function statusItem(page: Page, text: string | RegExp, timeoutMs = 60_000): Promise<string> {
  const item = page.locator('.statusbar-item', { hasText: text }).first();
  await item.waitFor({ timeout: timeoutMs });
  return (await item.textContent()) ?? '';
}

/** Saves a screenshot under artifacts/e2e/ (kept by CI as a test artifact). */
export async function screenshot(page: Page, artifacts: string, name: string): Promise<void> {
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, `${name}.png`) });
}
