// Runs the built webview bundle in headless Chromium: the real webviewHtml page (CSP included) served from a
// fake origin, an acquireVsCodeApi shim that records posted messages, and checks for CSP violations and errors.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { webviewHtml } from '../../webview/html';
import type { HostMessage, ViewKind, WebviewMessage } from '../../webview/protocol';

export const CHROMIUM = '/usr/bin/chromium';
const ORIGIN = 'http://webview.test';
const DIST = join(__dirname, '..', '..', 'dist', 'webview');
const NONCE = 'dGVzdC1ub25jZS0xMjM0NTY';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  js: 'text/javascript',
  css: 'text/css',
  ttf: 'font/ttf',
  map: 'application/json',
};

let built = false;

/** Builds dist/webview once per test run (the same command as `npm run build`). */
export function buildBundle(): void {
  if (built) return;
  execFileSync(process.execPath, ['scripts/bundle.mjs'], {
    cwd: join(__dirname, '..', '..'),
    stdio: 'inherit',
  });
  built = true;
}

/** Headless Chromium; fails (never skips) when it is not installed. */
export async function launchChromium(): Promise<Browser> {
  assert.ok(
    existsSync(CHROMIUM),
    `${CHROMIUM} not found: the webview tests need Debian's chromium (apt-get install -y chromium; .ci/run installs it)`,
  );
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
}

export interface WebviewPage {
  page: Page;
  /** Console errors, page errors and CSP violations seen so far. */
  problems: string[];
  /** Messages the webview posted, in order. */
  posted(): Promise<WebviewMessage[]>;
  /** Sends a host message (as the extension's `webview.postMessage` would). */
  send(message: HostMessage): Promise<void>;
  /** Waits until a posted message satisfies `match`, and returns it. */
  waitForPosted(match: (message: WebviewMessage) => boolean): Promise<WebviewMessage>;
}

/** The page for `view`, exactly as webviewHtml writes it for the host. */
export function pageHtml(view: ViewKind): string {
  return webviewHtml({
    view,
    scriptUri: `${ORIGIN}/main.js`,
    styleUri: `${ORIGIN}/main.css`,
    codiconsUri: `${ORIGIN}/codicon.css`,
    cspSource: ORIGIN,
    nonce: NONCE,
    title: `HiPCode ${view}`,
  });
}

/**
 * What the page runs before the bundle: the VS Code API shim and a CSP violation recorder. A string, not a
 * function, because tsx's transform would add helpers that do not exist in the page.
 */
function shim(savedState: unknown): string {
  return `(() => {
    const posted = [];
    let state = ${JSON.stringify(savedState ?? null)};
    window.__posted = posted;
    window.__violations = [];
    document.addEventListener('securitypolicyviolation', (event) => {
      window.__violations.push(event.violatedDirective + ' ' + event.blockedURI);
    });
    window.acquireVsCodeApi = () => ({
      postMessage: (message) => posted.push(JSON.parse(JSON.stringify(message))),
      getState: () => state,
      setState: (next) => { state = next; window.__state = next; },
    });
  })();`;
}

/** Opens a webview page for `view` in a fresh context; `savedState` is what getState returns at load. */
export async function openWebview(
  browser: Browser,
  view: ViewKind,
  savedState?: unknown,
): Promise<WebviewPage> {
  const context = await browser.newContext({ viewport: { width: 640, height: 900 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  await page.route(`${ORIGIN}/**`, async (route) => {
    const name = new URL(route.request().url()).pathname.slice(1);
    if (name === 'index.html') return route.fulfill({ contentType: 'text/html', body: pageHtml(view) });
    const file = join(DIST, name);
    if (!existsSync(file)) return route.fulfill({ status: 404, body: 'not found' });
    const type = CONTENT_TYPES[name.split('.').pop() ?? ''] ?? 'application/octet-stream';
    return route.fulfill({ contentType: type, body: readFileSync(file) });
  });
  await page.addInitScript({ content: shim(savedState) });
  await page.goto(`${ORIGIN}/index.html`);
  const posted = () => page.evaluate(() => (window as unknown as { __posted: WebviewMessage[] }).__posted);
  return {
    page,
    problems,
    posted,
    // Dispatched synchronously (window.postMessage would deliver it in a later task), so a test reads the DOM only
    // after the webview handled the message.
    send: async (message) => {
      await page.evaluate((m) => window.dispatchEvent(new MessageEvent('message', { data: m })), message);
    },
    waitForPosted: async (match) => {
      for (;;) {
        const found = (await posted()).find(match);
        if (found) return found;
        await page.waitForTimeout(20);
      }
    },
  };
}

/** CSP violations and errors the page has seen (asserted empty after each test). */
export async function pageProblems(webview: WebviewPage): Promise<string[]> {
  const violations = await webview.page.evaluate(
    () => (window as unknown as { __violations: string[] }).__violations,
  );
  return [...webview.problems, ...violations.map((v) => `CSP violation: ${v}`)];
}

/**
 * Registers the hooks of a suite of webview tests (build, launch Chromium, after each test: no CSP violation or
 * error, close the page) and returns how a test opens its page.
 */
export function useWebviews(): (view: ViewKind, savedState?: unknown) => Promise<WebviewPage> {
  let browser: Browser | undefined;
  const open: WebviewPage[] = [];
  before(async () => {
    buildBundle();
    browser = await launchChromium();
  });
  after(async () => browser?.close());
  afterEach(async () => {
    for (const webview of open.splice(0)) {
      const problems = await pageProblems(webview);
      await webview.page.context().close();
      assert.deepEqual(problems, [], 'the page logged errors or CSP violations');
    }
  });
  return async (view, savedState) => {
    assert.ok(browser, 'Chromium did not start');
    const webview = await openWebview(browser, view, savedState);
    open.push(webview);
    return webview;
  };
}
