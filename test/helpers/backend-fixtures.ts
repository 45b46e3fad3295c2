// Runs every fixture model through the CLI on one backend and measures it against the transformers references:
// the worst per-position relative L2 of the logits and how many greedy tokens agree.
import { runCliJson } from './cli';
import { fixtureNames, modelDir, readReference, referenceLogits, relativeL2 } from './fixtures';

export interface FixtureResult {
  model: string;
  /** Largest per-position relative L2 error of the logits. */
  logitsRelativeL2: number;
  /** Greedy tokens equal to the reference, counted up to the first difference. */
  greedyAgreement: number;
  greedyLength: number;
}

export function measureFixture(name: string, backend: string): FixtureResult {
  const reference = readReference(name);
  const model = modelDir(name);
  const { logits } = runCliJson<{ logits: number[][] }>([
    'logits',
    '--model',
    model,
    '--ids',
    reference.logits.ids.join(','),
    '--backend',
    backend,
  ]);
  const expected = referenceLogits(reference);
  if (logits.length !== expected.length) throw new Error(`${name}: ${logits.length} logits rows`);
  const logitsRelativeL2 = Math.max(...logits.map((row, position) => relativeL2(row, expected[position])));

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
    backend,
    '--json',
  ]);
  const firstDifference = greedy.ids.findIndex((id, index) => ids[index] !== id);
  const greedyAgreement = firstDifference === -1 ? greedy.ids.length : firstDifference;
  return { model: name, logitsRelativeL2, greedyAgreement, greedyLength: greedy.ids.length };
}

export function measureAllFixtures(backend: string): FixtureResult[] {
  return fixtureNames().map((name) => measureFixture(name, backend));
}
