// Writes the k and v of new tokens into a paged KV cache.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/paged-kv.cuh"

namespace hipcode::cuda {

// Token i goes to logical index positions[i]. Tokens whose logical page is beyond
// max_pages_per_seq, or whose physical page is outside [0, num_pages), are skipped. An fp8 cache keeps each
// head's row as the CPU backend's encode_kv_row does.
void kv_write(const PagedKv& cache,
              const __nv_bfloat16* k,    // [n, n_kv_heads, head_dim]
              const __nv_bfloat16* v,    // [n, n_kv_heads, head_dim]
              const int32_t* positions,  // [n]
              int n, cudaStream_t stream);

// The fp8 rows of n tokens, row i at k_rows / v_rows + i * kv_fp8_row_bytes(n_kv_heads, head_dim): for
// copies into host pages by the copy engine.
void kv_write_fp8_rows(const __nv_bfloat16* k,  // [n, n_kv_heads, head_dim]
                       const __nv_bfloat16* v,  // [n, n_kv_heads, head_dim]
                       int n, int n_kv_heads, int head_dim, uint8_t* k_rows, uint8_t* v_rows,
                       cudaStream_t stream);

// out [row_end, n_kv_heads, head_dim] bf16, rows [row_begin, row_end) = the values of fp8 rows
// (rows + r * kv_fp8_row_bytes(...)); exact, the scales being powers of two. Reads host-mapped rows too.
void kv_fp8_to_bf16_rows(const uint8_t* rows, int64_t row_begin, int64_t row_end, int n_kv_heads,
                         int head_dim, __nv_bfloat16* out, cudaStream_t stream);

// fp8 rows between the pages' form (kv_fp8_row_bytes a row: all heads' values, then their scales, then zeros)
// and the host form of the CPU backend and snapshots ([n_kv_heads, head_dim + 4] a row: each head's values,
// then its scale); to_pages: in is the host form. rows rows, each form contiguous.
void kv_fp8_rows_between_forms(const uint8_t* in, uint8_t* out, int64_t rows, int n_kv_heads, int head_dim,
                               bool to_pages, cudaStream_t stream);

// Validates the geometry fields of a PagedKv (shared with the attention launchers).
void check_paged_kv(const PagedKv& cache, const char* op);
// check_paged_kv, and refuses an fp8 cache (for the kernels that read bf16 pages only).
void check_bf16_kv(const PagedKv& cache, const char* op);

}  // namespace hipcode::cuda
