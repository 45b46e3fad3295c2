// Bundles the TypeScript entry points into dist/ with esbuild: the CLI and the engine process (the native addon
// stays external) and the VS Code extension host (vscode stays external).
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
]);
