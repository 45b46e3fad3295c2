// Split-K flash-decoding: attention of ONE new query token per sequence against the paged cache.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "kernels/paged-kv.cuh"

namespace hipcode::cuda {

// Number of key splits that fills the GPU (about 2 CTAs per SM) for up to max_keys keys, at least
// 128 keys per split, at most 1024 splits.
int attention_decode_splits(int n_heads, int n_kv_heads, int max_keys);

// Bytes of f32 workspace attention_decode needs for n_splits splits.
size_t attention_decode_workspace_bytes(int n_heads, int head_dim, int n_splits);

// The query (position n_keys - 1, already written to the cache) attends keys
// max(0, n_keys - window) .. n_keys - 1 (window 0 = all). Each CTA processes one kv head x one split
// of the keys for all q heads of that group (up to 16 per CTA), so a K/V tile is read once per group;
// a second kernel merges the splits' partial (max, sum, acc). head_dim 64 and 128 use tensor cores;
// other head_dim (<= 256) fall back to attention_generic (no splits).
//
// CUDA graphs: pass n_keys_dev (device int holding the current n_keys) and a fixed n_splits computed
// with attention_decode_splits(max_keys); the kernels then read the length on the device, so the
// captured graph stays valid while the sequence grows (up to the capacity n_splits was sized for;
// beyond it splits just get longer). n_keys (host) is then only used for validation/auto splits.
// n_splits <= 0 picks attention_decode_splits(n_keys).
void attention_decode(const __nv_bfloat16* q,  // [n_heads, head_dim]
                      const PagedKv& cache,
                      __nv_bfloat16* out,  // [n_heads, head_dim]
                      int n_heads, int n_keys, const int32_t* n_keys_dev, int window, float scale,
                      int n_splits,
                      float* workspace,  // attention_decode_workspace_bytes(n_heads, head_dim, n_splits)
                      size_t workspace_bytes, cudaStream_t stream);

}  // namespace hipcode::cuda
