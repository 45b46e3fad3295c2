// Paged KV write: one block per token copies its n_kv_heads * head_dim values of k and of v into
// the token's page slot, 16 bytes per thread when head_dim is a multiple of 8.
#include "kernels/kernel-common.cuh"
#include "kernels/kv-write.cuh"

namespace hipcode::cuda {

template <bool kVec>
static __global__ void kv_write_kernel(PagedKv cache, const __nv_bfloat16* __restrict__ k,
                                       const __nv_bfloat16* __restrict__ v,
                                       const int32_t* __restrict__ positions) {
  pdl_wait();
  pdl_launch_dependents();
  const int64_t t = blockIdx.x;
  const int pos = positions[t];
  if (pos < 0) return;
  const int logical_page = pos / cache.page_size;
  if (logical_page >= cache.max_pages_per_seq) return;
  const int page = cache.page_table[logical_page];
  if (page < 0 || page >= cache.num_pages) return;
  const int row = cache.n_kv_heads * cache.head_dim;
  const int64_t dst = kv_row_offset(cache, page, pos);
  const int64_t src = t * row;
  if (kVec) {
    for (int i = threadIdx.x; i < row / 8; i += blockDim.x) {
      reinterpret_cast<bf16x8*>(cache.k_pages + dst)[i] = reinterpret_cast<const bf16x8*>(k + src)[i];
      reinterpret_cast<bf16x8*>(cache.v_pages + dst)[i] = reinterpret_cast<const bf16x8*>(v + src)[i];
    }
  } else {
    for (int i = threadIdx.x; i < row; i += blockDim.x) {
      cache.k_pages[dst + i] = k[src + i];
      cache.v_pages[dst + i] = v[src + i];
    }
  }
}

void check_paged_kv(const PagedKv& c, const char* op) {
  HIPCODE_REQUIRE(c.k_pages && c.v_pages && c.page_table, op,
                  "cache.k_pages, v_pages and page_table must be set");
  HIPCODE_REQUIRE(c.page_size > 0 && (c.page_size & (c.page_size - 1)) == 0, op,
                  "cache.page_size must be a power of two, got " + std::to_string(c.page_size));
  HIPCODE_REQUIRE(c.num_pages > 0, op, "cache.num_pages must be > 0, got " + std::to_string(c.num_pages));
  HIPCODE_REQUIRE(c.max_pages_per_seq > 0, op,
                  "cache.max_pages_per_seq must be > 0, got " + std::to_string(c.max_pages_per_seq));
  HIPCODE_REQUIRE(c.n_kv_heads > 0, op, "cache.n_kv_heads must be > 0, got " + std::to_string(c.n_kv_heads));
  HIPCODE_REQUIRE(c.head_dim > 0, op, "cache.head_dim must be > 0, got " + std::to_string(c.head_dim));
}

void kv_write(const PagedKv& cache, const __nv_bfloat16* k, const __nv_bfloat16* v, const int32_t* positions,
              int n, cudaStream_t stream) {
  check_paged_kv(cache, "kv_write");
  HIPCODE_REQUIRE(n >= 0, "kv_write", "n must be >= 0, got " + std::to_string(n));
  if (n == 0) return;
  const int row = cache.n_kv_heads * cache.head_dim;
  const bool vec = cache.head_dim % 8 == 0 && is_aligned(k, 16) && is_aligned(v, 16) &&
                   is_aligned(cache.k_pages, 16) && is_aligned(cache.v_pages, 16);
  const int work = vec ? row / 8 : row;
  const int threads = work >= 256 ? 256 : ((work + 31) / 32) * 32;
  if (vec) {
    launch_dependent(kv_write_kernel<true>, dim3(n), dim3(threads), 0, stream, cache, k, v, positions);
  } else {
    launch_dependent(kv_write_kernel<false>, dim3(n), dim3(threads), 0, stream, cache, k, v, positions);
  }
  check_launch("kv_write");
}

}  // namespace hipcode::cuda
