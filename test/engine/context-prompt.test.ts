// ContextPrompt: ids joined from the files' own ids equal the whole prompt's encoding (fixture tokenizers and
// templates), and a tokenizer that merges across file blocks falls back to encoding the whole prompt.
import assert from 'node:assert/strict';
import { ContextPrompt } from '../../extension/engine/answer/context-prompt';
import { askPrompt, type AskPrompt } from '../../extension/engine/answer/prompt';
import { readModelConfig } from '../../extension/engine/model/config';
import { loadTokenizer } from '../../extension/engine/text/tokenizer';
import { fileBlock } from '../../extension/engine/workspace';
import { modelDir } from '../helpers/fixtures';

const FILES = [
  ['src/a.ts', 'typescript', 'export const a = 1;\n'],
  ['src/b.py', 'python', 'def b():\n    return 2'],
  ['README.md', 'markdown', '# Repo\n\nSee src/.\n\n'],
];

const HISTORY = [{ question: 'first?', answer: 'It is a.\n\nSee src/a.ts:1.' }];

function blocksOf(prompt: AskPrompt) {
  return FILES.map(([path, language, text]) => {
    const block = fileBlock(path, language, text);
    return { text: block, ids: prompt.tokenize(block) };
  });
}

describe('context prompt (joined per-file ids)', () => {
  for (const name of ['qwen3', 'qwen2', 'llama-sharded', 'mistral']) {
    it(`${name}: joins, and equals the whole encoding for every question and history`, () => {
      const dir = modelDir(name);
      const prompt = askPrompt(dir, loadTokenizer(dir, readModelConfig(dir).eosTokenIds));
      const blocks = blocksOf(prompt);
      const context = new ContextPrompt(prompt, blocks);
      assert.equal(context.joinable, true);
      const text = blocks.map((b) => b.text).join('');
      for (const question of ['a', 'Z?', ' where is b?\n', 'x'.repeat(40)]) {
        assert.deepEqual(context.encode(question), prompt.encode(text, question), JSON.stringify(question));
        assert.deepEqual(context.encode(question, HISTORY), prompt.encode(text, question, HISTORY));
      }
    });
  }

  it('checks the join on a sample of a long context, and the join equals the whole encoding', () => {
    const dir = modelDir('qwen3');
    const prompt = askPrompt(dir, loadTokenizer(dir, readModelConfig(dir).eosTokenIds));
    const blocks = Array.from({ length: 40 }, (_, i) => {
      const block = fileBlock(
        `src/m${i}.ts`,
        'typescript',
        `export const m${i} = ${i};${'\n'.repeat(i % 3)}`,
      );
      return { text: block, ids: prompt.tokenize(block) };
    });
    const context = new ContextPrompt(prompt, blocks);
    assert.equal(context.joinable, true);
    const text = blocks.map((b) => b.text).join('');
    assert.deepEqual(context.encode('where is m7?', HISTORY), prompt.encode(text, 'where is m7?', HISTORY));
  });

  it('falls back to the whole encoding when tokens merge across blocks', () => {
    // Pairs of characters are one token, so ids depend on where each block starts.
    const tokenize = (text: string) =>
      Array.from({ length: Math.ceil(text.length / 2) }, (_, i) => {
        const pair = text.slice(2 * i, 2 * i + 2);
        return pair.charCodeAt(0) * 65536 + (pair.charCodeAt(1) || 0);
      });
    const render = (context: string, question: string) => `<s>${context}\nQuestion: ${question}</s>`;
    const prompt: AskPrompt = {
      render,
      tokenize,
      encode: (context, question) => tokenize(render(context, question)),
      overhead: (question) => tokenize(render('', question)).length,
    };
    const blocks = ['abc', 'de', 'fgh'].map((text) => ({ text, ids: tokenize(text) }));
    const context = new ContextPrompt(prompt, blocks);
    assert.equal(context.joinable, false);
    assert.deepEqual(context.encode('q?'), prompt.encode('abcdefgh', 'q?'));
  });
});
