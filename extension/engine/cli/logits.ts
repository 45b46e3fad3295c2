// `hipcode logits`: prints {"logits": [[...], ...]}, one float32 row of vocab_size logits per input position.
import { HipError } from '../errors';
import type { ModelFiles } from '../model/load';
import { checkIdsInVocab, idsFlag, MODEL_OPTIONS, parseFlags } from './args';
import { withModel } from './open-model';
import { writeOut } from './output';

export async function logitsCommand(args: string[]): Promise<void> {
  const values = parseFlags('logits', args, { ...MODEL_OPTIONS, ids: { type: 'string' } });
  const ids = idsFlag(values);
  const check = (files: ModelFiles) => checkIdsInVocab(ids, files.config.vocabSize);
  await withModel(values, { tokenizer: false, check }, async (model) => {
    const vocab = model.config.vocabSize;
    const session = model.native.createSession({ maxTokens: ids.length, seed: 0 });
    try {
      const logits = await session.forward(Int32Array.from(ids), 'all');
      if (logits.length !== ids.length * vocab) {
        throw new HipError(
          'E_INTERNAL',
          `the engine returned ${logits.length} logits, expected ${ids.length}×${vocab}`,
        );
      }
      await writeRows(logits, ids.length, vocab);
    } finally {
      session.dispose();
    }
  });
}

/** Writes the JSON row by row so a large vocabulary never builds one huge string. */
async function writeRows(logits: Float32Array, rows: number, vocab: number): Promise<void> {
  await writeOut('{"logits": [');
  for (let row = 0; row < rows; row++) {
    const values = Array.from(logits.subarray(row * vocab, (row + 1) * vocab));
    await writeOut(`${row > 0 ? ', ' : ''}${JSON.stringify(values)}`);
  }
  await writeOut(']}\n');
}
