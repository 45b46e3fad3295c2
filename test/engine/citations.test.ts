// Citation checking of answers: `path:line` references found, verified against the files, problems named.
import assert from 'node:assert/strict';
import { findReferences, type SourceFile } from '../../extension/engine/answer/citations';

const FILES: SourceFile[] = [
  { path: 'src/a.ts', text: 'const a = 1;\nexport function f(x: number) {\n  return x + a;\n}\n' },
  { path: 'a.ts', text: 'export const top = 2;\n' },
  { path: 'lib/my-file.test.config.js', text: 'module.exports = {\n  timeout: 5,\n};\n' },
  { path: 'Makefile', text: 'all:\n\techo hi\n' },
];

/** The references reduced to what most tests compare. */
function brief(answer: string): [string, number, number, boolean, string?][] {
  return findReferences(answer, FILES).map((r) =>
    r.problem === undefined
      ? [r.path, r.startLine, r.endLine, r.verified]
      : [r.path, r.startLine, r.endLine, r.verified, r.problem],
  );
}

describe('answer citations', () => {
  it('finds and verifies plain and backticked references, with offsets, in order', () => {
    const answer = 'f is defined at src/a.ts:2 and `a.ts:1` holds top.';
    const refs = findReferences(answer, FILES);
    assert.deepEqual(refs, [
      { path: 'src/a.ts', startLine: 2, endLine: 2, verified: true, offset: answer.indexOf('src/a.ts') },
      { path: 'a.ts', startLine: 1, endLine: 1, verified: true, offset: answer.indexOf('a.ts:1') },
    ]);
  });

  it('matches the longest known path and accepts ./ and a leading folder', () => {
    assert.deepEqual(brief('see ./src/a.ts:3, a.ts:1 and repo/src/a.ts:4'), [
      ['src/a.ts', 3, 3, true],
      ['a.ts', 1, 1, true],
      ['src/a.ts', 4, 4, true],
    ]);
  });

  it('checks ranges and reports lines beyond the end', () => {
    assert.deepEqual(brief('src/a.ts:2-4 then src/a.ts:3–9 and a.ts:7, Makefile:2'), [
      ['src/a.ts', 2, 4, true],
      ['src/a.ts', 3, 9, false, 'line 9 beyond the end (4 lines)'],
      ['a.ts', 7, 7, false, 'line 7 beyond the end (1 line)'],
      ['Makefile', 2, 2, true],
    ]);
    assert.deepEqual(brief('src/a.ts:0 and src/a.ts:4-2'), [
      ['src/a.ts', 0, 0, false, 'line 0 does not exist (lines start at 1)'],
      ['src/a.ts', 4, 2, false, 'range ends (line 2) before it starts (line 4)'],
    ]);
  });

  it('marks files that are not in context', () => {
    assert.deepEqual(brief('see src/b.ts:3 and lib/util.py:10-12'), [
      ['src/b.ts', 3, 3, false, 'not in context'],
      ['lib/util.py', 10, 12, false, 'not in context'],
    ]);
  });

  it('handles paths with dots and dashes', () => {
    assert.deepEqual(brief('timeout is set in `lib/my-file.test.config.js:2`.'), [
      ['lib/my-file.test.config.js', 2, 2, true],
    ]);
  });

  it('reads markdown links once', () => {
    assert.deepEqual(brief('[src/a.ts:3](src/a.ts:3) and [the top](a.ts:1)'), [
      ['src/a.ts', 3, 3, true],
      ['a.ts', 1, 1, true],
    ]);
  });

  it('checks inline quoted code near the cited lines', () => {
    assert.deepEqual(brief('`src/a.ts:3` `return x + a;`'), [['src/a.ts', 3, 3, true]]);
    assert.deepEqual(brief('src/a.ts:1 — `return   x + a;`'), [['src/a.ts', 1, 1, true]]);
    assert.deepEqual(brief('`src/a.ts:3` `return x * 2;`'), [
      ['src/a.ts', 3, 3, false, 'quoted code not found'],
    ]);
    assert.deepEqual(brief('[f](src/a.ts:2) `export function f(...) {`'), [['src/a.ts', 2, 2, true]]);
  });

  it('checks a fenced block after a reference, within ±3 lines', () => {
    const found = 'In src/a.ts:1-2:\n```ts\nexport function f(x: number) {\n  return x + a;\n```\n';
    assert.deepEqual(brief(found), [['src/a.ts', 1, 2, true]]);
    const missing = 'In src/a.ts:2:\n```ts\nfunction g() {}\n```\n';
    assert.deepEqual(brief(missing), [['src/a.ts', 2, 2, false, 'quoted code not found']]);
  });

  it('does not take a following reference for quoted code', () => {
    assert.deepEqual(brief('`src/a.ts:2` `a.ts:1`'), [
      ['src/a.ts', 2, 2, true],
      ['a.ts', 1, 1, true],
    ]);
  });

  it('deduplicates, keeping the first offset and any failed check', () => {
    const answer = 'src/a.ts:3 and again src/a.ts:3 `nothing like it`';
    const refs = findReferences(answer, FILES);
    assert.equal(refs.length, 1);
    assert.equal(refs[0].offset, 0);
    assert.equal(refs[0].verified, false);
    assert.equal(refs[0].problem, 'quoted code not found');
  });

  it('ignores URLs with ports, times, versions and hosts', () => {
    const answer =
      'Visit http://host:8080/x or https://example.com:443, meet at 10:30, use v1.2:3, localhost:3000, ' +
      'ratio 16:9, and file:///etc/hosts:2.';
    assert.deepEqual(findReferences(answer, FILES), []);
  });

  it('returns nothing for an answer without references or files', () => {
    assert.deepEqual(findReferences('', FILES), []);
    assert.deepEqual(findReferences('The files do not say.', []), []);
  });
});
