// Checks (--check) or rewrites (--fix) the formatting of every C++/CUDA source under native/ with clang-format.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const mode = process.argv[2];
if (mode !== '--check' && mode !== '--fix') {
  console.error('usage: node scripts/clang-format.mjs --check|--fix');
  process.exit(2);
}

function listSources(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return listSources(path);
    return /\.(h|hpp|cpp|cc|cu|cuh)$/.test(entry.name) ? [path] : [];
  });
}

const files = listSources('native');
const args = mode === '--check' ? ['--dry-run', '--Werror', ...files] : ['-i', ...files];
try {
  execFileSync('clang-format', args, { stdio: 'inherit' });
} catch (error) {
  if (error.code === 'ENOENT') {
    console.error('clang-format not found: install it (Debian: apt-get install -y clang-format)');
  } else {
    console.error(`clang-format: sources are not formatted; run 'npm run format' to fix`);
  }
  process.exit(1);
}
