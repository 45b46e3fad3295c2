// The webview page template: its Content-Security-Policy, escaping, and nonces.
import assert from 'node:assert/strict';
import { contentSecurityPolicy, makeNonce, webviewHtml } from '../../webview/html';

const OPTIONS = {
  view: 'chat' as const,
  scriptUri: 'https://file+.vscode-resource.vscode-cdn.net/ext/dist/webview/main.js',
  styleUri: 'https://file+.vscode-resource.vscode-cdn.net/ext/dist/webview/main.css',
  codiconsUri: 'https://file+.vscode-resource.vscode-cdn.net/ext/dist/webview/codicon.css',
  cspSource: 'https://*.vscode-cdn.net',
  nonce: 'abc123',
  title: 'HiPCode "chat" <1>',
};

describe('webview html', () => {
  it('allows only the nonce script and the webview origin for styles, fonts and images', () => {
    assert.equal(
      contentSecurityPolicy('https://*.vscode-cdn.net', 'abc123'),
      "default-src 'none'; script-src 'nonce-abc123'; style-src https://*.vscode-cdn.net; " +
        'font-src https://*.vscode-cdn.net; img-src https://*.vscode-cdn.net data:',
    );
  });

  it('writes the view, the CSP, the stylesheets and the nonce-tagged script, escaping attributes', () => {
    const html = webviewHtml(OPTIONS);
    assert.match(html, /<body data-view="chat">/);
    assert.ok(html.includes(`content="default-src &#39;none&#39;; script-src &#39;nonce-abc123&#39;;`));
    assert.ok(
      html.includes(`<link rel="stylesheet" href="${OPTIONS.codiconsUri}" id="vscode-codicon-stylesheet">`),
    );
    assert.ok(html.includes(`<script nonce="abc123" src="${OPTIONS.scriptUri}"></script>`));
    assert.ok(html.includes('<title>HiPCode &#34;chat&#34; &#60;1&#62;</title>'));
    assert.equal(html.match(/<script/g)?.length, 1);
    assert.doesNotMatch(html, /\son[a-z]+=|style=/);
    const loaded = [...html.matchAll(/(?:src|href)="([^"]*)"/g)].map((m) => m[1]).sort();
    assert.deepEqual(loaded, [OPTIONS.codiconsUri, OPTIONS.scriptUri, OPTIONS.styleUri].sort());
  });

  it('makes a fresh base64url nonce each time', () => {
    const nonces = new Set(Array.from({ length: 20 }, makeNonce));
    assert.equal(nonces.size, 20);
    for (const nonce of nonces) assert.match(nonce, /^[A-Za-z0-9_-]{24}$/);
  });
});
