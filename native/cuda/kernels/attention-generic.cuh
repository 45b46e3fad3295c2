// Simple causal attention over the paged cache for any head_dim (<= 256): one warp per
// (query token, q head). The correct-but-slow fallback of attention_prefill / attention_decode for
// head sizes without a tensor-core kernel.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/paged-kv.cuh"

namespace hipcode::cuda {

// Query i sits at position pos0 + i and attends keys max(0, pos0 + i - window + 1) .. pos0 + i
// (window 0 = no window). When n_keys_dev is not null, pos0 is read on the device as
// *n_keys_dev - n_q (for CUDA-graph replay while the sequence grows).
void attention_generic(const __nv_bfloat16* q,  // [n_q, n_heads, head_dim]
                       const PagedKv& cache,
                       __nv_bfloat16* out,  // [n_q, n_heads, head_dim]
                       int n_q, int n_heads, int pos0, int window, float scale, const int32_t* n_keys_dev,
                       cudaStream_t stream);

}  // namespace hipcode::cuda
