// A stand-in for hipcode.node (loaded through HIPCODE_ADDON) whose outputs are trivial to predict by hand:
// logit[row][j] = row + j / 1000, and step() returns the last input id + 1.
import type {
  NativeAddon,
  NativeModelSpec,
  NativeSession,
  NativeSyntheticModelSpec,
} from '../../extension/engine/native';

function session(vocab: number): NativeSession {
  return {
    length: 0,
    snapshotTokens: 0,
    forward: (ids: Int32Array) => {
      const logits = new Float32Array(ids.length * vocab);
      logits.forEach((_, i) => (logits[i] = Math.floor(i / vocab) + (i % vocab) / 1000));
      return Promise.resolve(logits);
    },
    step: (ids: Int32Array) => Promise.resolve((ids[ids.length - 1] + 1) % vocab),
    truncate: () => undefined,
    fork: () => session(vocab),
    saveSnapshot: () => Promise.reject(unsupported()),
    loadSnapshot: () => Promise.reject(unsupported()),
    cancelSnapshot: () => undefined,
    dispose: () => undefined,
  };
}

function unsupported(): Error {
  return Object.assign(new Error('the fake addon keeps no snapshots'), { code: 'E_SNAPSHOT' });
}

const addon: NativeAddon = {
  probe: () => ({
    cpu: { threads: 1 },
    cuda: { compiled: false, available: false, reason: 'fake addon', devices: [] },
  }),
  loadModel: (spec: NativeModelSpec) =>
    Promise.resolve({
      backend: spec.backend,
      kvDtype: 'f32',
      kvMemory: { gpuBytes: 0, hostBytes: 0 },
      createSession: () => session(spec.geometry.vocabSize),
      dispose: () => undefined,
    }),
  createSyntheticModel: (spec: NativeSyntheticModelSpec) =>
    Promise.resolve({
      backend: spec.backend,
      kvDtype: 'f32',
      kvMemory: { gpuBytes: 0, hostBytes: 0 },
      createSession: () => session(spec.geometry.vocabSize),
      dispose: () => undefined,
    }),
};

module.exports = addon;
