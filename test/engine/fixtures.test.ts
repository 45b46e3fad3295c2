// The engine against transformers, through the CLI contract: logits, greedy continuations, tokens, chat prompts.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCliJson } from '../helpers/cli';
import { measureFixture } from '../helpers/backend-fixtures';
import { fixtureNames, modelDir, readReference } from '../helpers/fixtures';

// Float32 on the CPU against transformers' float32: per position, the worst position counts.
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

      it(`logits within relative L2 ${LOGITS_TOLERANCE} per position, greedy continuation identical`, () => {
        const result = measureFixture(name, 'cpu');
        assert.ok(
          result.logitsRelativeL2 <= LOGITS_TOLERANCE,
          `worst position: relative L2 ${result.logitsRelativeL2.toExponential(2)}`,
        );
        assert.ok(
          result.greedyIdentical,
          `greedy tokens agree on ${result.greedyAgreement} of ${result.greedyLength}`,
        );
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
