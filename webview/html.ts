// The HTML page of a webview (chat or context view) with its strict Content-Security-Policy; runs in the extension host.
import { randomBytes } from 'node:crypto';
import type { ViewKind } from './protocol';
import { escapeHtml } from './escape-html';

/** What the host passes: URIs already mapped through `webview.asWebviewUri`, and `webview.cspSource`. */
export interface WebviewHtmlOptions {
  view: ViewKind;
  /** dist/webview/main.js */
  scriptUri: string;
  /** dist/webview/main.css */
  styleUri: string;
  /** dist/webview/codicon.css (its font, codicon.ttf, sits next to it) */
  codiconsUri: string;
  cspSource: string;
  nonce: string;
  title: string;
}

/** A fresh nonce for one page's script tag. */
export function makeNonce(): string {
  return randomBytes(18).toString('base64url');
}

/** The Content-Security-Policy: local scripts by nonce only, styles, fonts and images from the webview's own origin. */
export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src ${cspSource}`,
    `font-src ${cspSource}`,
    `img-src ${cspSource} data:`,
  ].join('; ');
}

/** The full page: the bundle renders into <main> once the host answers `ready` with `state`. */
export function webviewHtml(options: WebviewHtmlOptions): string {
  const e = escapeHtml;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${e(contentSecurityPolicy(options.cspSource, options.nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${e(options.codiconsUri)}" id="vscode-codicon-stylesheet">
<link rel="stylesheet" href="${e(options.styleUri)}">
<title>${e(options.title)}</title>
</head>
<body data-view="${e(options.view)}">
<main id="root" aria-busy="true"></main>
<script nonce="${e(options.nonce)}" src="${e(options.scriptUri)}"></script>
</body>
</html>
`;
}
