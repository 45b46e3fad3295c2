// Bundles the TypeScript entry points into dist/ with esbuild (the native addon stays external), and the webview
// UI into dist/webview/ (main.js, main.css, and codicons' stylesheet and font).
import { copyFile, mkdir } from 'node:fs/promises';
import { build } from 'esbuild';

const entryPoints = { hipcode: 'extension/engine/cli/main.ts', engine: 'extension/engine/server/main.ts' };

await build({
  entryPoints,
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  banner: { js: '#!/usr/bin/env node' },
  logLevel: 'warning',
});

await build({
  entryPoints: [
    { in: 'webview/main.ts', out: 'main' },
    { in: 'webview/main.css', out: 'main' },
  ],
  outdir: 'dist/webview',
  bundle: true,
  platform: 'browser',
  target: 'chrome120',
  format: 'iife',
  minify: true,
  sourcemap: true,
  logLevel: 'warning',
});

await mkdir('dist/webview', { recursive: true });
for (const file of ['codicon.css', 'codicon.ttf']) {
  await copyFile(`node_modules/@vscode/codicons/dist/${file}`, `dist/webview/${file}`);
}
