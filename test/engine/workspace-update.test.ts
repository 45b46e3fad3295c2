// Incremental context updates against a fresh build of the same workspace: edits, creations, deletions, editor
// buffers, excluded folders and .gitignore changes; only changed files are tokenized again.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  buildContext,
  updateContext,
  type ContextOptions,
  type WorkspaceContext,
} from '../../extension/engine/workspace';

/** One token per character, counting every call, so tests can see what was tokenized. */
function countingTokenizer() {
  const seen: string[] = [];
  const tokenize = (text: string) => {
    seen.push(text);
    return Array.from(text, (c) => c.charCodeAt(0));
  };
  return { seen, tokenize };
}

function summary(context: WorkspaceContext) {
  return {
    included: context.included.map((f) => [f.path, f.tokens]),
    excluded: context.excluded.map((e) => [e.path, e.kind, e.code]),
    tokens: context.tokens,
  };
}

describe('incremental context updates', () => {
  let root = '';
  let options: ContextOptions;
  let seen: string[];

  /** Writes a file dated `age` seconds ago (0 = now). */
  function write(path: string, content: string, age = 0): string {
    const abs = join(root, path);
    mkdirSync(dirname(abs), { recursive: true });
    writeFileSync(abs, content);
    if (age > 0) {
      const when = Date.now() / 1000 - age;
      utimesSync(abs, when, when);
    }
    return abs;
  }

  /** The update of `context` must equal a fresh build with the same options. */
  async function check(context: WorkspaceContext, changed: string[], deleted: string[] = []) {
    const update = await updateContext(context, { changed, deleted }, options);
    const fresh = await buildContext({ ...options, tokenize: (text) => Array.from(text, () => 0) });
    assert.deepEqual(summary(update.context), summary(fresh));
    return update;
  }

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'hipcode-update-'));
    write('a.ts', 'let a = 1;\n', 400);
    write('b.ts', 'let b = 2;\n', 300);
    write('lib/c.py', 'c = 3\n', 200);
    write('node_modules/x/index.js', 'x\n', 100);
    write('.gitignore', '*.log\n', 500);
    const tokenizer = countingTokenizer();
    seen = tokenizer.seen;
    options = { roots: [root], tokenize: tokenizer.tokenize, budget: 1000, buffers: new Map() };
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('an edited file is tokenized again and moves to the end; nothing else is tokenized', async () => {
    const context = await buildContext(options);
    assert.deepEqual(
      context.included.map((f) => f.path),
      ['.gitignore', 'a.ts', 'b.ts', 'lib/c.py'],
    );
    seen.length = 0;
    const edited = write('a.ts', 'let a = 10;\nlet aa = 11;\n');
    const { context: next, rescanned } = await check(context, [edited]);
    assert.equal(rescanned, false);
    assert.deepEqual(
      next.included.map((f) => f.path),
      ['.gitignore', 'b.ts', 'lib/c.py', 'a.ts'],
    );
    assert.equal(seen.length, 1);
    assert.match(seen[0], /let aa = 11/);
    assert.equal(next.included[0].ids, context.included[0].ids, 'unchanged files keep their token arrays');
  });

  it('creations, deletions of files and folders, and files the rules exclude', async () => {
    const context = await buildContext(options);
    const created = [write('lib/d.rs', 'fn d() {}\n'), write('app.log', 'log\n'), write('bin.dat', 'x\0y')];
    const ignored = write('node_modules/x/other.js', 'y\n');
    const next = await check(context, [...created, ignored]);
    unlinkSync(join(root, 'b.ts'));
    rmSync(join(root, 'lib'), { recursive: true });
    const after = await check(next.context, [], [join(root, 'b.ts'), join(root, 'lib')]);
    assert.deepEqual(
      after.context.included.map((f) => f.path),
      ['.gitignore', 'a.ts'],
    );
    assert.ok(after.context.excluded.some((e) => e.path === 'bin.dat' && e.code === 'binary'));
  });

  it('an editor buffer overlays the file; closing it reads the disk again (back in its place)', async () => {
    const context = await buildContext(options);
    const path = join(root, 'a.ts');
    options.buffers = new Map([[path, 'let a = "unsaved";\n']]);
    const open = await check(context, [path]);
    assert.equal(open.context.included.at(-1)?.source, 'let a = "unsaved";\n');
    options.buffers = new Map();
    const closed = await check(open.context, [path]);
    assert.deepEqual(summary(closed.context), summary(context));
  });

  it('a changed .gitignore rescans everything, tokenizing only what is new', async () => {
    const context = await buildContext(options);
    seen.length = 0;
    const gitignore = write('.gitignore', '*.log\nlib/\n');
    const { context: next, rescanned } = await check(context, [gitignore]);
    assert.equal(rescanned, true);
    assert.ok(next.excluded.some((e) => e.path === 'lib' && e.kind === 'folder' && e.code === 'gitignore'));
    assert.deepEqual(seen, [next.included.at(-1)?.text]);
  });

  it('paths outside the roots are ignored', async () => {
    const context = await buildContext(options);
    const outside = mkdtempSync(join(tmpdir(), 'hipcode-outside-'));
    try {
      const { context: next } = await check(context, [join(outside, 'z.ts')]);
      assert.deepEqual(summary(next), summary(context));
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });
});
