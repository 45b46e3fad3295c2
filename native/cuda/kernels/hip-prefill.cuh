// HiP block-sparse PREFILL attention: a chunk of queries attends, per query, exactly the keys of
// hip::attended_ranges (native/hip/block-sparse-attention.h) for its query block's selected key blocks:
//   the sink [0, min(sink, w)), the selected blocks [start, start + block_k) clipped to [sink, w), and the
//   window [w, t], w = max(0, t - window + 1), for the query at position t,
// with an exact online softmax (f32 math, bf16 P in the PV product), GQA (q head h reads kv head
// h / (n_heads / n_kv_heads)), bf16 in / out.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/paged-kv.cuh"

namespace hipcode::cuda {

// Queries q[i] sit at positions pos0 + i (i < n_q); the cache already holds keys/values 0 .. pos0 + n_q - 1.
// Query i belongs to query block b = i / block_q, whose selected key-block starts are
// blocks[b * max_blocks .. + counts[b]) (device memory; ascending, disjoint blocks of block_k keys, as
// hip::validate_hip_mask requires; counts[b] is clamped to [0, max_blocks]; n_qblocks = ceil(n_q / block_q)
// rows). scale is normally 1/sqrt(head_dim).
// Any block_q >= 1 and block_k >= 1; head_dim 64 or 128; positions below 2^30; q, out and the K/V pages
// 16-byte aligned. One CTA per (query block, row tile, kv head): rows are (query, q head of the group)
// pairs, so every q head of a GQA group shares each K/V tile; the CTA walks one virtual key list (sink
// slots, block_k slots per selected block, then the window of its rows) in tiles gathered through the page
// table, masking per row. On Hopper builds with sm_90a code head_dim 128 runs a wgmma kernel (128-row
// CTAs), otherwise an mma.sync kernel (64-row CTAs).
void hip_prefill_attention(const __nv_bfloat16* q,  // [n_q, n_heads, head_dim]
                           const PagedKv& cache,
                           __nv_bfloat16* out,  // [n_q, n_heads, head_dim]
                           int n_q, int n_heads, int pos0, int sink_tokens, int window_tokens,
                           const int32_t* blocks,  // [n_qblocks, max_blocks]
                           const int32_t* counts,  // [n_qblocks]
                           int max_blocks, int block_q, int block_k, float scale, cudaStream_t stream);

// Test / benchmark switch (default on): when off, hip_prefill_attention never picks the sm90 kernel.
void hip_prefill_attention_set_sm90(bool enabled);

// Whether hip_prefill_attention runs the sm90 wgmma kernel for head_dim 128 on the current device.
bool hip_prefill_attention_uses_sm90();

}  // namespace hipcode::cuda
