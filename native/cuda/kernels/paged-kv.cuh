// Description of one layer's paged KV cache for one sequence, shared by kv-write and attention.
#pragma once

#include <cuda_bf16.h>

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

}  // namespace hipcode::cuda
