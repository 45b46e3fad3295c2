// Writes a throwaway workspace (path → content) into a new temporary folder (in the system's, or in `parent`).
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export function makeRepo(files: Record<string, string>, prefix = 'hipcode-repo-', parent = tmpdir()): string {
  const root = mkdtempSync(join(parent, prefix));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}
