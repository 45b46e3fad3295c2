// Causal attention of a chunk of queries against the paged KV cache (prefill), flash-attention-2
// style: tiled, online softmax in f32, tensor cores for head_dim 64 and 128.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "kernels/paged-kv.cuh"

namespace hipcode::cuda {

// Queries q[i] sit at positions pos0 + i (i < n_q); the cache must already hold keys/values
// 0 .. pos0 + n_q - 1 (kv_write the chunk first). Query i attends keys j with
//   j <= pos0 + i  and  (window == 0 or j > pos0 + i - window).
// GQA: q head h reads kv head h / (n_heads / cache.n_kv_heads). scale is normally 1/sqrt(head_dim).
// head_dim 64 and 128 use the tensor-core kernel; other head_dim (<= 256) fall back to
// attention_generic.
//
// Split-K: when a call's rows leave more than half the SMs idle and walk long key ranges (a few queries after
// a long context), each key range is cut into pieces run side by side and merged (split-combine.cuh), given a
// workspace of attention_prefill_workspace_bytes() (0: no split for these arguments). Without a workspace
// the key ranges are walked whole.
void attention_prefill(const __nv_bfloat16* q,  // [n_q, n_heads, head_dim]
                       const PagedKv& cache,
                       __nv_bfloat16* out,  // [n_q, n_heads, head_dim]
                       int n_q, int n_heads, int pos0, int window, float scale, cudaStream_t stream,
                       void* workspace = nullptr, size_t workspace_bytes = 0);

size_t attention_prefill_workspace_bytes(int n_q, int n_heads, int n_kv_heads, int head_dim, int pos0,
                                         int window);

}  // namespace hipcode::cuda
