// `hipcode ask` through the bundled CLI on the tiny random fixture model: the pipeline, not the answer's content.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AskResult } from '../../extension/engine/cli/ask';
import type { ContextReport } from '../../extension/engine/cli/context';
import { runCli, runCliJson } from '../helpers/cli';
import { modelDir } from '../helpers/fixtures';
import { makeRepo } from '../helpers/repo';

const MODEL = modelDir('qwen3');
const MAX_TOKENS = 8;

describe('hipcode ask', () => {
  let small = '';
  let large = '';

  before(() => {
    small = makeRepo({ 'a.ts': 'let a = 1;\n', 'b.md': '# B\n', 'bin/x.bin': '\0\x01' });
    large = makeRepo({ 'a.ts': 'let a = 1;\n', 'big.py': 'print("hello world")\n'.repeat(40) });
  });

  after(() => {
    for (const root of [small, large]) rmSync(root, { recursive: true, force: true });
  });

  it('answers with --json: usage matches the context report, references are checked', () => {
    const args = ['--model', MODEL, '--workspace', small];
    const result = runCliJson<AskResult>([
      'ask',
      ...args,
      '--max-tokens',
      String(MAX_TOKENS),
      '--json',
      'what is a?',
    ]);
    const report = runCliJson<ContextReport>(['context', ...args, '--json']);
    const included = report.included.reduce((sum, file) => sum + file.tokens, 0);
    assert.deepEqual(
      report.included.map((f) => f.path),
      ['a.ts', 'b.md'],
    );
    assert.equal(result.usage.contextTokens, included);
    assert.equal(result.context.files, 2);
    assert.ok(result.usage.promptTokens >= result.usage.contextTokens);
    assert.ok(result.usage.generatedTokens >= 1 && result.usage.generatedTokens <= MAX_TOKENS);
    assert.equal(typeof result.answer, 'string');
    assert.ok(Array.isArray(result.references));
    assert.ok(result.timings.firstTokenSeconds >= 0 && result.timings.prefillTokensPerSecond > 0);
  });

  it('streams the answer, then prints references and timings after a blank line', () => {
    const result = runCli(['ask', '--model', MODEL, '--workspace', small, '--max-tokens', '4', 'what is a?']);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /\n\nReferences \(\d+\):\n[\s\S]*Timings: first token .* prefill .* decode /);
    assert.match(result.stderr, /context: 2 files, \d+ tokens; 1 excluded/);
    assert.match(result.stderr, /prefill: \d+ tokens in [\d.]+ s/);
  });

  it('reports the files left out of a context too small for them on stderr', () => {
    const result = runCli([
      'ask',
      '--model',
      MODEL,
      '--workspace',
      large,
      '--max-tokens',
      '4',
      '--json',
      'hi?',
    ]);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stderr, /excluded 1 /);
    assert.match(result.stderr, /1 budget: big\.py/);
    const parsed = JSON.parse(result.stdout) as AskResult;
    assert.equal(parsed.context.excluded, 1);
  });

  it('fails with E_WORKSPACE on a missing workspace and E_USAGE without a question', () => {
    const missing = join(tmpdir(), 'hipcode-ask-missing-folder');
    const noRoot = runCli(['ask', '--model', MODEL, '--workspace', missing, '--max-tokens', '4', 'q?']);
    assert.equal(noRoot.status, 1);
    assert.match(noRoot.stderr, /\[E_WORKSPACE\].*does not exist/);
    const noQuestion = runCli(['ask', '--model', MODEL, '--workspace', small]);
    assert.equal(noQuestion.status, 2);
    assert.match(noQuestion.stderr, /\[E_USAGE\].*question/);
    const twoQuestions = runCli(['ask', '--model', MODEL, '--workspace', small, 'one', 'two']);
    assert.equal(twoQuestions.status, 2);
  });

  it('fails with E_CONTEXT_FULL when the answer reserve leaves no room', () => {
    const result = runCli(['ask', '--model', MODEL, '--workspace', small, '--max-tokens', '1000', 'q?']);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /\[E_CONTEXT_FULL\].*--max-tokens 1000/);
  });
});
