// HiP block-sparse split-K decode attention: one new query token attends exactly the keys of
// hip::attended_ranges (native/hip/block-sparse-attention.h):
//   the sink [0, min(sink, w)), the selected blocks [start, start + block_k) clipped to [sink, w), and the
//   window [w, t], w = max(0, t - window + 1),
// with an exact online softmax (f32 math, bf16 P in the PV product as attention_decode), GQA (q head h reads
// kv head h / (n_heads / n_kv_heads)), bf16 in / out.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "kernels/paged-kv.cuh"

namespace hipcode::cuda {

// Splits that fill the GPU (about 2 CTAs per SM) for up to max_attended attended keys, at least 64 keys per
// split, at most 1024 splits.
int hip_decode_splits(int n_heads, int n_kv_heads, int max_attended);

// Most keys a query at `position` attends with at most max_blocks selected blocks.
int hip_decode_max_attended(int position, int sink_tokens, int window_tokens, int max_blocks, int block_k);

// Bytes of f32 workspace hip_decode needs for n_splits splits.
size_t hip_decode_workspace_bytes(int n_heads, int head_dim, int n_splits);

// The query at `position` (its K/V already in the cache) attends the sink, blocks[0 .. *n_blocks) (device
// list of key-block starts, ascending and disjoint as hip_mask_decode writes them; *n_blocks is clamped to
// [0, max_blocks]) and the window. The attended keys are laid out as one virtual list (sink slots, then
// block_k slots per block, slots outside [sink, w) masked, then the window) that the splits cut evenly;
// each CTA = one kv head x one split for all q heads of the group (up to 16 per CTA, tensor cores), a second
// kernel merges the splits in parallel. head_dim 64 or 128. n_splits <= 0 picks
// hip_decode_splits(hip_decode_max_attended(...)). n_blocks is read on the device only (graph-friendly).
void hip_decode(const __nv_bfloat16* q,  // [n_heads, head_dim]
                const PagedKv& cache,
                __nv_bfloat16* out,  // [n_heads, head_dim]
                int n_heads, int position, int sink_tokens, int window_tokens,
                const int32_t* blocks,    // [max_blocks] device
                const int32_t* n_blocks,  // [1] device
                int max_blocks, int block_k, float scale, int n_splits,
                float* workspace,  // hip_decode_workspace_bytes(n_heads, head_dim, n_splits)
                size_t workspace_bytes, cudaStream_t stream);

}  // namespace hipcode::cuda
