// Bundles the TypeScript entry points into dist/ with esbuild: the CLI and the engine process (the native addon
// stays external), the VS Code extension host (vscode stays external), and the webview UI into dist/webview/
// (main.js, main.css, and codicons' stylesheet and font).
import { copyFile, mkdir } from 'node:fs/promises';
import { build } from 'esbuild';

const node = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  logLevel: 'warning',
};

await Promise.all([
  build({
    ...node,
    entryPoints: { hipcode: 'extension/engine/cli/main.ts', engine: 'extension/engine/server/main.ts' },
    outdir: 'dist',
    banner: { js: '#!/usr/bin/env node' },
  }),
  build({
    ...node,
    entryPoints: { extension: 'extension/vscode/extension.ts' },
    outdir: 'dist',
    external: ['vscode'],
  }),
  build({
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
  }),
]);

await mkdir('dist/webview', { recursive: true });
for (const file of ['codicon.css', 'codicon.ttf']) {
  await copyFile(`node_modules/@vscode/codicons/dist/${file}`, `dist/webview/${file}`);
}
