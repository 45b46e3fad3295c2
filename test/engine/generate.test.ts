// Tests the generation loop against a scripted fake session: prefill, one token per step, stops and cancellation.
import assert from 'node:assert/strict';
import { HipError } from '../../extension/engine/errors';
import { generateTokens, GREEDY } from '../../extension/engine/generate';
import type { NativeSession } from '../../extension/engine/native';

/** A session that returns `outputs` in order and records each step's input ids. */
function fakeSession(outputs: number[]): NativeSession & { inputs: number[][] } {
  const inputs: number[][] = [];
  return {
    inputs,
    length: 0,
    snapshotTokens: 0,
    forward: () => Promise.reject(new Error('not used')),
    step: (ids: Int32Array) => {
      inputs.push([...ids]);
      return Promise.resolve(outputs[inputs.length - 1]);
    },
    truncate: () => undefined,
    fork: () => {
      throw new Error('not used');
    },
    saveSnapshot: () => Promise.reject(new Error('not used')),
    loadSnapshot: () => Promise.reject(new Error('not used')),
    cancelSnapshot: () => undefined,
    dispose: () => undefined,
  };
}

async function collect(gen: AsyncGenerator<number>): Promise<number[]> {
  const ids: number[] = [];
  for await (const id of gen) ids.push(id);
  return ids;
}

describe('generation loop', () => {
  it('prefills the prompt then feeds back each token, up to maxTokens', async () => {
    const session = fakeSession([10, 11, 12, 13]);
    const ids = await collect(
      generateTokens(session, [1, 2, 3], { maxTokens: 3, sampling: GREEDY, stopIds: new Set() }),
    );
    assert.deepEqual(ids, [10, 11, 12]);
    assert.deepEqual(session.inputs, [[1, 2, 3], [10], [11]]);
  });

  it('stops on a stop id and includes it', async () => {
    const session = fakeSession([10, 99, 12]);
    const ids = await collect(
      generateTokens(session, [1], { maxTokens: 10, sampling: GREEDY, stopIds: new Set([99]) }),
    );
    assert.deepEqual(ids, [10, 99]);
  });

  it('rejects an empty prompt and honours an aborted signal', async () => {
    const options = { maxTokens: 5, sampling: GREEDY, stopIds: new Set<number>() };
    await assert.rejects(
      collect(generateTokens(fakeSession([1]), [], options)),
      (e: unknown) => e instanceof HipError,
    );
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(
      collect(generateTokens(fakeSession([1]), [1], { ...options, signal: controller.signal })),
      (e: unknown) => e instanceof HipError && e.code === 'E_CANCELLED',
    );
  });
});
