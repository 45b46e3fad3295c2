// Description of one layer's paged KV cache for one sequence, and the page lookup and row offset every kernel
// that reads or writes it uses.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace hipcode::cuda {

// Logical token index p of the sequence lives in physical page page_table[p / page_size], slot
// p % page_size. K and V of one layer use the same page table:
//   k_pages, v_pages: [num_pages][page_size][n_kv_heads][head_dim] bf16
// page_size is a power of two (default 64). Page-table entries outside [0, num_pages) are never
// dereferenced: kv_write skips such tokens and attention reads such keys as zeros.
struct PagedKv {
  __nv_bfloat16* k_pages;     // [num_pages, page_size, n_kv_heads, head_dim]
  __nv_bfloat16* v_pages;     // [num_pages, page_size, n_kv_heads, head_dim]
  const int32_t* page_table;  // [max_pages_per_seq]: logical page -> physical page
  int num_pages;
  int page_size;
  int max_pages_per_seq;
  int n_kv_heads;
  int head_dim;
};

// log2 of a (power-of-two) page size.
inline int page_shift_of(int page_size) {
  int shift = 0;
  while ((1 << shift) < page_size) ++shift;
  return shift;
}

// The physical page of token `key` (page_shift = log2(page_size)), or -1 for a masked key (< 0), a key past
// the page table or an unmapped page.
__device__ __forceinline__ int kv_page(const PagedKv& cache, int page_shift, int key) {
  if (key < 0) return -1;
  const int logical = key >> page_shift;
  const int page = logical < cache.max_pages_per_seq ? __ldg(cache.page_table + logical) : -1;
  return page >= 0 && page < cache.num_pages ? page : -1;
}

// Element offset of the K (or V) row [n_kv_heads, head_dim] of token `key` in physical page `page`.
__host__ __device__ __forceinline__ int64_t kv_row_offset(const PagedKv& cache, int page, int key) {
  return ((int64_t)page * cache.page_size + (key & (cache.page_size - 1))) * cache.n_kv_heads *
         cache.head_dim;
}

}  // namespace hipcode::cuda
