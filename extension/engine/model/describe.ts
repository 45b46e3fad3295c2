// Summarises a model folder for `inspect`: parsed config and the memory its weights and KV cache need.
import type { TensorRef, WeightDType } from '../native';
import type { ModelConfig } from './config';
import { readModelFiles } from './load';
import { dtypeBytes } from './safetensors';

export interface ModelDescription {
  dir: string;
  files: string[];
  config: ModelConfig;
  weights: { tensors: number; bytesByDtype: Partial<Record<WeightDType, number>>; totalBytes: number };
  kvCache: {
    /** 2 (K and V) · layers · kv_heads · head_dim · bytes per element. */
    bytesPerTokenF32: number;
    bytesPerTokenBf16: number;
    maxPositionEmbeddings: number;
    bytesAtMaxPositionsF32: number;
    bytesAtMaxPositionsBf16: number;
  };
}

function tensorBytes(ref: TensorRef): number {
  return ref.shape.reduce((a, b) => a * b, 1) * dtypeBytes(ref.dtype);
}

function kvBytesPerToken(config: ModelConfig, bytes: number): number {
  return 2 * config.numLayers * config.numKvHeads * config.headDim * bytes;
}

/** Validates the folder like loadModel (without the addon) and computes its memory needs. */
export function describeModel(dir: string): ModelDescription {
  const files = readModelFiles(dir);
  const { embed, layers, finalNorm, lmHead } = files.weights;
  const linears = layers.flatMap((l) => [l.q, l.k, l.v, l.o, l.gate, l.up, l.down]);
  const norms = layers.flatMap((l) => [l.attnNorm, l.mlpNorm, l.qNorm, l.kNorm]);
  const refs = new Set<TensorRef>(
    [embed, finalNorm, lmHead, ...linears.flatMap((l) => [l.weight, l.bias]), ...norms].filter(
      (ref): ref is TensorRef => ref !== undefined,
    ),
  );
  const bytesByDtype: Partial<Record<WeightDType, number>> = {};
  for (const ref of refs) bytesByDtype[ref.dtype] = (bytesByDtype[ref.dtype] ?? 0) + tensorBytes(ref);
  const config = files.config;
  const f32 = kvBytesPerToken(config, 4);
  const bf16 = kvBytesPerToken(config, 2);
  return {
    dir: files.dir,
    files: files.checkpoint.files,
    config,
    weights: {
      tensors: refs.size,
      bytesByDtype,
      totalBytes: Object.values(bytesByDtype).reduce((a, b) => a + b, 0),
    },
    kvCache: {
      bytesPerTokenF32: f32,
      bytesPerTokenBf16: bf16,
      maxPositionEmbeddings: config.maxPositionEmbeddings,
      bytesAtMaxPositionsF32: f32 * config.maxPositionEmbeddings,
      bytesAtMaxPositionsBf16: bf16 * config.maxPositionEmbeddings,
    },
  };
}
