// Packages the extension as a linux-x64 VSIX (bundled JS, webview assets, the prebuilt addon), checks that no
// sources, tests or fixtures went in, and reports its size and contents.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const out = process.argv[2] ?? join(root, `hipcode-${version}-linux-x64.vsix`);

const required = [
  'dist/extension.js',
  'dist/engine.js',
  'dist/hipcode.js',
  'dist/webview/main.js',
  'build/Release/hipcode.node',
];
const missing = required.filter((path) => !existsSync(join(root, path)));
if (missing.length > 0) {
  console.error(`package: missing ${missing.join(', ')}; run npm run build and npm run build:native first`);
  process.exit(1);
}

const vsce = join(root, 'node_modules', '@vscode', 'vsce', 'vsce');
const flags = ['--no-dependencies', '--allow-missing-repository', '--no-rewrite-relative-links'];
try {
  execFileSync(process.execPath, [vsce, 'package', ...flags, '--target', 'linux-x64', '--out', out], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
} catch {
  console.error('package: vsce failed (its message is above)');
  process.exit(1);
}

const files = execFileSync(process.execPath, [vsce, 'ls', '--no-dependencies'], {
  cwd: root,
  encoding: 'utf8',
})
  .trim()
  .split('\n');
const forbidden = files.filter((name) =>
  /\.(ts|cpp|cu|cuh|h|py)$|^test\/|fixtures|node_modules\//.test(name),
);
const absent = required.filter((path) => !files.includes(path));
if (forbidden.length > 0 || absent.length > 0) {
  console.error(
    `package: bad VSIX contents; unexpected: ${forbidden.join(', ') || 'none'}; missing: ${absent.join(', ') || 'none'}`,
  );
  process.exit(1);
}
const mib = (statSync(out).size / 2 ** 20).toFixed(1);
console.log(`package: ${out} — ${mib} MiB, ${files.length} files`);
