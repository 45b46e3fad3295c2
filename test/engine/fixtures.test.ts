// The engine against transformers, through the CLI contract: logits, greedy continuations, tokens, chat prompts.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCliJson } from '../helpers/cli';
import { fixtureNames, modelDir, readReference, referenceLogits, relativeL2 } from '../helpers/fixtures';

const LOGITS_TOLERANCE = 1e-3;
const names = fixtureNames();

describe('fixture models match transformers on the CPU backend', () => {
  it('has a reference for every architecture', () => {
    assert.ok(names.length >= 8, `expected >= 8 fixture models, found ${names.join(', ')}`);
  });

  for (const name of names) {
    describe(name, () => {
      const reference = readReference(name);
      const model = modelDir(name);

      it(`logits within relative L2 ${LOGITS_TOLERANCE} per position`, () => {
        const { logits } = runCliJson<{ logits: number[][] }>([
          'logits',
          '--model',
          model,
          '--ids',
          reference.logits.ids.join(','),
          '--backend',
          'cpu',
        ]);
        const expected = referenceLogits(reference);
        assert.equal(logits.length, expected.length, 'one row per input position');
        logits.forEach((row, position) => {
          assert.equal(row.length, reference.logits.vocab, `row ${position} has the model's vocab size`);
          const error = relativeL2(row, expected[position]);
          assert.ok(error <= LOGITS_TOLERANCE, `position ${position}: relative L2 ${error.toExponential(2)}`);
        });
      });

      it('greedy continuation identical', () => {
        const { greedy } = reference;
        const { ids } = runCliJson<{ ids: number[] }>([
          'generate',
          '--model',
          model,
          '--ids',
          greedy.prompt_ids.join(','),
          '--max-tokens',
          String(greedy.max_new_tokens),
          '--temperature',
          '0',
          '--backend',
          'cpu',
          '--json',
        ]);
        assert.deepEqual(ids, greedy.ids);
      });

      it('tokenization identical', () => {
        for (const { text, ids } of reference.tokenize) {
          const actual = runCliJson<{ ids: number[] }>(['tokenize', '--model', model, '--text', text]);
          assert.deepEqual(actual.ids, ids, `text ${JSON.stringify(text)}`);
        }
      });

      it('chat rendering identical', () => {
        const dir = mkdtempSync(join(tmpdir(), 'hipcode-chat-'));
        reference.chat.forEach(({ messages, ids }, index) => {
          const file = join(dir, `chat-${index}.json`);
          writeFileSync(file, JSON.stringify(messages));
          const actual = runCliJson<{ ids: number[] }>(['tokenize', '--model', model, '--chat-json', file]);
          assert.deepEqual(actual.ids, ids, `conversation ${index}`);
        });
      });
    });
  }
});
