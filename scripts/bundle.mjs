// Bundles the TypeScript entry points into dist/ with esbuild (the native addon stays external).
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
