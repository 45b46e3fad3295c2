// Writes the k and v of new tokens into a paged KV cache.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/paged-kv.cuh"

namespace hipcode::cuda {

// Token i goes to logical index positions[i]. Tokens whose logical page is beyond
// max_pages_per_seq, or whose physical page is outside [0, num_pages), are skipped.
void kv_write(const PagedKv& cache,
              const __nv_bfloat16* k,    // [n, n_kv_heads, head_dim]
              const __nv_bfloat16* v,    // [n, n_kv_heads, head_dim]
              const int32_t* positions,  // [n]
              int n, cudaStream_t stream);

// Validates the geometry fields of a PagedKv (shared with the attention launchers).
void check_paged_kv(const PagedKv& cache, const char* op);

}  // namespace hipcode::cuda
