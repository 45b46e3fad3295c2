// Named model geometries for `hipcode bench`: full-size shapes of real checkpoints, run with random weights.
import type { ModelGeometry, RopeSpec } from '../native';

export interface BenchGeometry {
  geometry: ModelGeometry;
  attentionBias: boolean;
  qkNorm: boolean;
  tiedEmbeddings: boolean;
}

function rope(theta: number, overrides: Partial<RopeSpec> = {}): RopeSpec {
  return {
    type: 'default',
    theta,
    factor: 1,
    originalMaxPositionEmbeddings: 0,
    lowFreqFactor: 1,
    highFreqFactor: 4,
    betaFast: 32,
    betaSlow: 1,
    attentionFactor: 1,
    truncate: true,
    ...overrides,
  };
}

const QWEN25_7B: BenchGeometry = {
  geometry: {
    hiddenSize: 3584,
    intermediateSize: 18944,
    numLayers: 28,
    numHeads: 28,
    numKvHeads: 4,
    headDim: 128,
    vocabSize: 152064,
    rmsNormEps: 1e-6,
    slidingWindow: 0,
    maxPositionEmbeddings: 131072,
    rope: rope(1e6),
  },
  attentionBias: true,
  qkNorm: false,
  tiedEmbeddings: false,
};

export const BENCH_GEOMETRIES: Record<string, BenchGeometry> = {
  'qwen2.5-7b': QWEN25_7B,
  'llama3.1-8b': {
    geometry: {
      hiddenSize: 4096,
      intermediateSize: 14336,
      numLayers: 32,
      numHeads: 32,
      numKvHeads: 8,
      headDim: 128,
      vocabSize: 128256,
      rmsNormEps: 1e-5,
      slidingWindow: 0,
      maxPositionEmbeddings: 131072,
      rope: rope(500000, { type: 'llama3', factor: 8, originalMaxPositionEmbeddings: 8192 }),
    },
    attentionBias: false,
    qkNorm: false,
    tiedEmbeddings: false,
  },
  'qwen2.5-0.5b': {
    geometry: {
      hiddenSize: 896,
      intermediateSize: 4864,
      numLayers: 24,
      numHeads: 14,
      numKvHeads: 2,
      headDim: 64,
      vocabSize: 151936,
      rmsNormEps: 1e-6,
      slidingWindow: 0,
      maxPositionEmbeddings: 32768,
      rope: rope(1e6),
    },
    attentionBias: true,
    qkNorm: false,
    tiedEmbeddings: true,
  },
  // A few-MB model for smoke tests of the bench itself on any machine.
  tiny: {
    geometry: {
      hiddenSize: 128,
      intermediateSize: 352,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 2,
      headDim: 32,
      vocabSize: 1000,
      rmsNormEps: 1e-6,
      slidingWindow: 0,
      maxPositionEmbeddings: 4096,
      rope: rope(10000),
    },
    attentionBias: true,
    qkNorm: true,
    tiedEmbeddings: false,
  },
  // Qwen2.5-7B-Instruct-1M: the 7B shape with a million positions (its KV pool can then hold 1M tokens, about
  // 57 GB in bf16: give --gpu-kv-budget room for it).
  'qwen2.5-7b-1m': {
    ...QWEN25_7B,
    geometry: { ...QWEN25_7B.geometry, maxPositionEmbeddings: 1010000, rope: rope(1e7) },
  },
};

/** Parameter count of a geometry (embeddings, attention, MLP, norms, lm_head). */
export function parameterCount({
  geometry: g,
  attentionBias,
  qkNorm,
  tiedEmbeddings,
}: BenchGeometry): number {
  const q = g.numHeads * g.headDim;
  const kv = g.numKvHeads * g.headDim;
  const attention = g.hiddenSize * (q + 2 * kv) + q * g.hiddenSize + (attentionBias ? q + 2 * kv : 0);
  const mlp = 3 * g.hiddenSize * g.intermediateSize;
  const norms = 2 * g.hiddenSize + (qkNorm ? 2 * g.headDim : 0);
  const embeddings = g.vocabSize * g.hiddenSize * (tiedEmbeddings ? 1 : 2);
  return g.numLayers * (attention + mlp + norms) + g.hiddenSize + embeddings;
}
