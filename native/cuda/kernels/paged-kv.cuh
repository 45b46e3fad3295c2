// Description of one layer's paged KV cache for one sequence, and the page lookup and row offset every kernel
// that reads or writes it uses.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace hipcode::cuda {

// Logical token index p of the sequence lives in physical page page_table[p / page_size], slot
// p % page_size. K and V of one layer use the same page table:
//   k_pages, v_pages: [num_pages][page_size][n_kv_heads][head_dim] bf16
// page_size is a power of two (default 64). Page-table entries outside [0, num_pages) are never
// dereferenced: kv_write skips such tokens and attention reads such keys as zeros.
// An fp8 cache (fp8_row_bytes > 0) leaves k_pages / v_pages null and keeps each token's row in k_fp8 / v_fp8:
//   [num_pages][page_size] rows of fp8_row_bytes: [n_kv_heads][head_dim] e4m3, [n_kv_heads] f32 scales
//   (powers of two, e4m3_row_scale), zeros up to a multiple of 16 bytes.
// Only the kernels that say so read fp8 rows; the others take a bf16 copy (kv_fp8_to_bf16_rows).
struct PagedKv {
  __nv_bfloat16* k_pages;     // [num_pages, page_size, n_kv_heads, head_dim]
  __nv_bfloat16* v_pages;     // [num_pages, page_size, n_kv_heads, head_dim]
  const int32_t* page_table;  // [max_pages_per_seq]: logical page -> physical page
  int num_pages;
  int page_size;
  int max_pages_per_seq;
  int n_kv_heads;
  int head_dim;
  uint8_t* k_fp8 = nullptr;  // [num_pages, page_size, fp8_row_bytes]
  uint8_t* v_fp8 = nullptr;  // [num_pages, page_size, fp8_row_bytes]
  int fp8_row_bytes = 0;
};

// Bytes of one token's fp8 row of n_kv_heads heads of head_dim values and their scales.
__host__ __device__ inline int kv_fp8_row_bytes(int n_kv_heads, int head_dim) {
  return (n_kv_heads * (head_dim + 4) + 15) / 16 * 16;
}

__host__ __device__ inline bool kv_is_fp8(const PagedKv& cache) {
  return cache.fp8_row_bytes > 0;
}

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

// Byte offset of the fp8 K (or V) row of token `key` in physical page `page`.
__host__ __device__ __forceinline__ int64_t kv_fp8_row_offset(const PagedKv& cache, int page, int key) {
  return ((int64_t)page * cache.page_size + (key & (cache.page_size - 1))) * cache.fp8_row_bytes;
}

// The scale of kv head `head` in an fp8 row.
__device__ __forceinline__ float kv_fp8_scale(const uint8_t* row, int n_kv_heads, int head_dim, int head) {
  return __ldg(reinterpret_cast<const float*>(row + n_kv_heads * head_dim) + head);
}

// Two e4m3 values times a power-of-two scale: exact in f32 and in bf16 (above bf16's subnormals).
__device__ __forceinline__ __nv_bfloat162 kv_fp8_pair(uint16_t pair, float scale) {
  const __half2 h = __half2(__nv_cvt_fp8x2_to_halfraw2(pair, __NV_E4M3));
  const float2 f = __half22float2(h);
  return __floats2bfloat162_rn(f.x * scale, f.y * scale);
}

// Value d of kv head `head` of token `key`'s K row (values: V row) in physical page `page`, either form.
__device__ __forceinline__ float kv_value(const PagedKv& cache, bool values, int page, int key, int head,
                                          int d) {
  if (kv_is_fp8(cache)) {
    const uint8_t* row = (values ? cache.v_fp8 : cache.k_fp8) + kv_fp8_row_offset(cache, page, key);
    const float x = __half2float(__half(__nv_cvt_fp8_to_halfraw(row[head * cache.head_dim + d], __NV_E4M3)));
    return x * kv_fp8_scale(row, cache.n_kv_heads, cache.head_dim, head);
  }
  const __nv_bfloat16* rows = values ? cache.v_pages : cache.k_pages;
  return __bfloat162float(rows[kv_row_offset(cache, page, key) + head * cache.head_dim + d]);
}

// 8 e4m3 values of a row and their head's scale, as read (kv_fp8_bf16x8 converts them).
struct Fp8x8 {
  uint2 values;
  float scale;
};

// Values [d, d + 8) of kv head `head` of an fp8 row (d a multiple of 8).
__device__ __forceinline__ Fp8x8 kv_fp8_read8(const uint8_t* row, int n_kv_heads, int head_dim, int head,
                                              int d) {
  return {__ldg(reinterpret_cast<const uint2*>(row + head * head_dim + d)),
          kv_fp8_scale(row, n_kv_heads, head_dim, head)};
}

__device__ __forceinline__ uint4 kv_fp8_bf16x8(const Fp8x8& x) {
  uint4 out;
  __nv_bfloat162* pairs = reinterpret_cast<__nv_bfloat162*>(&out);
  pairs[0] = kv_fp8_pair(uint16_t(x.values.x), x.scale);
  pairs[1] = kv_fp8_pair(uint16_t(x.values.x >> 16), x.scale);
  pairs[2] = kv_fp8_pair(uint16_t(x.values.y), x.scale);
  pairs[3] = kv_fp8_pair(uint16_t(x.values.y >> 16), x.scale);
  return out;
}

// Values [d, d + 8) of kv head `head` of an fp8 row as 8 bf16 (d a multiple of 8).
__device__ __forceinline__ uint4 kv_fp8_load8(const uint8_t* row, int n_kv_heads, int head_dim, int head,
                                              int d) {
  return kv_fp8_bf16x8(kv_fp8_read8(row, n_kv_heads, head_dim, head, d));
}

// Chunk c of an fp8 row (values [8 c, 8 c + 8) of its [n_kv_heads, head_dim]) as 8 bf16.
__device__ __forceinline__ uint4 kv_fp8_chunk(const uint8_t* row, int n_kv_heads, int head_dim, int c) {
  return kv_fp8_load8(row, n_kv_heads, head_dim, c * 8 / head_dim, c * 8 % head_dim);
}

// One warp: dst [n_kv_heads, head_dim] bf16 = an fp8 row's values.
__device__ __forceinline__ void kv_fp8_row_to_bf16(const uint8_t* row, int n_kv_heads, int head_dim,
                                                   uint4* dst, int lane) {
  for (int c = lane; c < n_kv_heads * head_dim / 8; c += 32)
    dst[c] = kv_fp8_chunk(row, n_kv_heads, head_dim, c);
}

}  // namespace hipcode::cuda
