// Paged KV write: one block per token copies its n_kv_heads * head_dim values of k and of v into
// the token's page slot, 16 bytes per thread when head_dim is a multiple of 8. fp8 caches: one warp per
// token, head and K or V encodes the head's row (the CPU backend's encode_kv_row, bit for bit), and a bf16
// copy of fp8 rows for the kernels that read bf16 only.
#include <cfloat>

#include "kernels/kernel-common.cuh"
#include "kernels/kv-write.cuh"

namespace hipcode::cuda {

// The physical page position `pos` is written to, or -1 when it is skipped.
__device__ __forceinline__ int write_page(const PagedKv& cache, int pos) {
  if (pos < 0) return -1;
  const int logical_page = pos / cache.page_size;
  if (logical_page >= cache.max_pages_per_seq) return -1;
  const int page = cache.page_table[logical_page];
  return page >= 0 && page < cache.num_pages ? page : -1;
}

template <bool kVec>
static __global__ void kv_write_kernel(PagedKv cache, const __nv_bfloat16* __restrict__ k,
                                       const __nv_bfloat16* __restrict__ v,
                                       const int32_t* __restrict__ positions) {
  pdl_wait();
  pdl_launch_dependents();
  const int64_t t = blockIdx.x;
  const int pos = positions[t];
  const int page = write_page(cache, pos);
  if (page < 0) return;
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

// encode_kv_row's scale: the least power of two s with largest / s <= 448, at least FLT_MIN, 1 for zeros.
__device__ __forceinline__ float fp8_row_scale(float largest) {
  if (!(largest > 0.f)) return 1.f;
  uint32_t bits = __float_as_uint(fmaxf(__fdiv_rn(largest, 448.f), FLT_MIN));
  if ((bits & 0x7fffffu) != 0 && (bits & 0x7f800000u) != 0x7f800000u) bits = (bits & 0x7f800000u) + 0x800000u;
  return __uint_as_float(bits);
}

// Encodes row `src` [head_dim] into `dst` (head_dim e4m3 values) and returns its scale; one warp.
__device__ __forceinline__ float encode_fp8_head(const __nv_bfloat16* __restrict__ src, uint8_t* dst,
                                                 int head_dim, int lane) {
  float largest = 0.f;
  for (int i = lane; i < head_dim; i += 32) largest = fmaxf(largest, fabsf(__bfloat162float(src[i])));
  for (int offset = 16; offset > 0; offset >>= 1)
    largest = fmaxf(largest, __shfl_xor_sync(0xffffffffu, largest, offset));
  const float scale = fp8_row_scale(largest);
  for (int i = 2 * lane; i < head_dim; i += 64) {
    const float2 x = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(src + i));
    const float2 scaled = make_float2(__fdiv_rn(x.x, scale), __fdiv_rn(x.y, scale));
    *reinterpret_cast<__nv_fp8x2_storage_t*>(dst + i) =
        __nv_cvt_float2_to_fp8x2(scaled, __NV_SATFINITE, __NV_E4M3);
  }
  return scale;
}

// Item w = (token t, head, K or V): rows go to the token's page slot, or with kContiguous to dst + t *
// row_bytes.
template <bool kContiguous>
static __global__ void kv_write_fp8_kernel(PagedKv cache, const __nv_bfloat16* __restrict__ k,
                                           const __nv_bfloat16* __restrict__ v,
                                           const int32_t* __restrict__ positions, int n) {
  pdl_wait();
  pdl_launch_dependents();
  const int64_t item = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int heads = cache.n_kv_heads, head_dim = cache.head_dim;
  if (item >= (int64_t)n * heads * 2) return;
  const int values = int(item % 2), head = int(item / 2 % heads);
  const int64_t t = item / 2 / heads;
  int64_t row_offset = t * cache.fp8_row_bytes;
  if (!kContiguous) {
    const int page = write_page(cache, positions[t]);
    if (page < 0) return;
    row_offset = kv_fp8_row_offset(cache, page, positions[t]);
  }
  uint8_t* row = (values ? cache.v_fp8 : cache.k_fp8) + row_offset;
  const __nv_bfloat16* src = (values ? v : k) + (t * heads + head) * head_dim;
  const float scale = encode_fp8_head(src, row + head * head_dim, head_dim, lane);
  if (lane == 0) reinterpret_cast<float*>(row + heads * head_dim)[head] = scale;
  if (head + 1 == heads) {  // the padding
    for (int i = heads * (head_dim + 4) + lane; i < cache.fp8_row_bytes; i += 32) row[i] = 0;
  }
}

// dst row r [n_kv_heads, head_dim] bf16 = fp8 row r of src, for rows [row_begin, row_end); 8 values a thread.
static __global__ void kv_fp8_to_bf16_kernel(const uint8_t* __restrict__ src, __nv_bfloat16* __restrict__ dst,
                                             int64_t row_begin, int64_t row_end, int n_kv_heads, int head_dim,
                                             int row_bytes) {
  const int per_row = n_kv_heads * head_dim / 8;
  const int64_t item = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  const int64_t r = row_begin + item / per_row;
  if (r >= row_end) return;
  const int c = int(item % per_row);
  reinterpret_cast<uint4*>(dst + r * n_kv_heads * head_dim)[c] =
      kv_fp8_chunk(src + r * row_bytes, n_kv_heads, head_dim, c);
}

// Word w of fp8 row r in the pages' form from (to_pages) or into (!to_pages) the host form: each head's
// values and then its scale ([n_kv_heads, head_dim + 4] bytes a row). Padding words are zeros.
template <bool kToPages>
static __global__ void kv_fp8_rearrange_kernel(const uint32_t* __restrict__ in, uint32_t* __restrict__ out,
                                               int64_t rows, int n_kv_heads, int head_dim) {
  const int page_words = kv_fp8_row_bytes(n_kv_heads, head_dim) / 4;
  const int host_words = n_kv_heads * (head_dim + 4) / 4;
  const int64_t item = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (item >= rows * page_words) return;
  const int64_t r = item / page_words;
  const int w = int(item % page_words), head_words = head_dim / 4, values = n_kv_heads * head_words;
  int host = -1;  // the word's place in the host form
  if (w < values)
    host = w / head_words * (head_words + 1) + w % head_words;
  else if (w < values + n_kv_heads)
    host = (w - values) * (head_words + 1) + head_words;
  if (kToPages) {
    out[r * page_words + w] = host >= 0 ? in[r * host_words + host] : 0u;
  } else if (host >= 0) {
    out[r * host_words + host] = in[r * page_words + w];
  }
}

void kv_fp8_rows_between_forms(const uint8_t* in, uint8_t* out, int64_t rows, int n_kv_heads, int head_dim,
                               bool to_pages, cudaStream_t stream) {
  const char* op = "kv_fp8_rows_between_forms";
  HIPCODE_REQUIRE(rows >= 0 && n_kv_heads > 0 && head_dim > 0 && head_dim % 8 == 0, op,
                  "needs rows >= 0, n_kv_heads > 0 and head_dim a positive multiple of 8");
  HIPCODE_REQUIRE(is_aligned(in, 4) && is_aligned(out, 4), op, "in and out must be 4-byte aligned");
  if (rows == 0) return;
  const int64_t items = rows * kv_fp8_row_bytes(n_kv_heads, head_dim) / 4;
  const unsigned blocks = unsigned(ceil_div(items, int64_t(256)));
  const auto* words_in = reinterpret_cast<const uint32_t*>(in);
  auto* words_out = reinterpret_cast<uint32_t*>(out);
  if (to_pages) {
    kv_fp8_rearrange_kernel<true>
        <<<blocks, 256, 0, stream>>>(words_in, words_out, rows, n_kv_heads, head_dim);
  } else {
    kv_fp8_rearrange_kernel<false>
        <<<blocks, 256, 0, stream>>>(words_in, words_out, rows, n_kv_heads, head_dim);
  }
  check_launch(op);
}

void check_paged_kv(const PagedKv& c, const char* op) {
  if (kv_is_fp8(c)) {
    HIPCODE_REQUIRE(c.k_fp8 && c.v_fp8 && c.page_table, op, "cache.k_fp8, v_fp8 and page_table must be set");
    HIPCODE_REQUIRE(c.head_dim % 8 == 0 && c.fp8_row_bytes == kv_fp8_row_bytes(c.n_kv_heads, c.head_dim), op,
                    "an fp8 cache needs head_dim a multiple of 8 and fp8_row_bytes = kv_fp8_row_bytes(), got "
                    "head_dim " +
                        std::to_string(c.head_dim) + ", fp8_row_bytes " + std::to_string(c.fp8_row_bytes));
    HIPCODE_REQUIRE(is_aligned(c.k_fp8, 16) && is_aligned(c.v_fp8, 16), op,
                    "cache.k_fp8 and v_fp8 must be 16-byte aligned");
  } else {
    HIPCODE_REQUIRE(c.k_pages && c.v_pages && c.page_table, op,
                    "cache.k_pages, v_pages and page_table must be set");
  }
  HIPCODE_REQUIRE(c.page_size > 0 && (c.page_size & (c.page_size - 1)) == 0, op,
                  "cache.page_size must be a power of two, got " + std::to_string(c.page_size));
  HIPCODE_REQUIRE(c.num_pages > 0, op, "cache.num_pages must be > 0, got " + std::to_string(c.num_pages));
  HIPCODE_REQUIRE(c.max_pages_per_seq > 0, op,
                  "cache.max_pages_per_seq must be > 0, got " + std::to_string(c.max_pages_per_seq));
  HIPCODE_REQUIRE(c.n_kv_heads > 0, op, "cache.n_kv_heads must be > 0, got " + std::to_string(c.n_kv_heads));
  HIPCODE_REQUIRE(c.head_dim > 0, op, "cache.head_dim must be > 0, got " + std::to_string(c.head_dim));
}

void check_bf16_kv(const PagedKv& cache, const char* op) {
  check_paged_kv(cache, op);
  HIPCODE_REQUIRE(!kv_is_fp8(cache), op,
                  "this kernel reads bf16 pages; give it a bf16 copy of an fp8 cache (kv_fp8_to_bf16_rows)");
}

static void launch_write_fp8(bool contiguous, const PagedKv& cache, const __nv_bfloat16* k,
                             const __nv_bfloat16* v, const int32_t* positions, int n, cudaStream_t stream) {
  HIPCODE_REQUIRE(is_aligned(k, 4) && is_aligned(v, 4), "kv_write", "k and v must be 4-byte aligned");
  constexpr int kWarps = 8;
  const dim3 grid(unsigned(ceil_div((int64_t)n * cache.n_kv_heads * 2, kWarps)));
  if (contiguous) {
    launch_dependent(kv_write_fp8_kernel<true>, grid, dim3(kWarps * 32), 0, stream, cache, k, v, positions,
                     n);
  } else {
    launch_dependent(kv_write_fp8_kernel<false>, grid, dim3(kWarps * 32), 0, stream, cache, k, v, positions,
                     n);
  }
  check_launch("kv_write");
}

void kv_write_fp8_rows(const __nv_bfloat16* k, const __nv_bfloat16* v, int n, int n_kv_heads, int head_dim,
                       uint8_t* k_rows, uint8_t* v_rows, cudaStream_t stream) {
  const char* op = "kv_write_fp8_rows";
  HIPCODE_REQUIRE(n >= 0 && n_kv_heads > 0 && head_dim > 0 && head_dim % 8 == 0, op,
                  "needs n >= 0, n_kv_heads > 0 and head_dim a positive multiple of 8");
  HIPCODE_REQUIRE(is_aligned(k_rows, 16) && is_aligned(v_rows, 16), op, "the rows must be 16-byte aligned");
  if (n == 0) return;
  PagedKv rows{};
  rows.n_kv_heads = n_kv_heads;
  rows.head_dim = head_dim;
  rows.k_fp8 = k_rows;
  rows.v_fp8 = v_rows;
  rows.fp8_row_bytes = kv_fp8_row_bytes(n_kv_heads, head_dim);
  launch_write_fp8(true, rows, k, v, nullptr, n, stream);
}

void kv_fp8_to_bf16_rows(const uint8_t* rows, int64_t row_begin, int64_t row_end, int n_kv_heads,
                         int head_dim, __nv_bfloat16* out, cudaStream_t stream) {
  const char* op = "kv_fp8_to_bf16_rows";
  HIPCODE_REQUIRE(
      row_begin >= 0 && row_end >= row_begin && n_kv_heads > 0 && head_dim > 0 && head_dim % 8 == 0, op,
      "needs 0 <= row_begin <= row_end, n_kv_heads > 0 and head_dim a positive multiple of 8");
  HIPCODE_REQUIRE(is_aligned(rows, 16) && is_aligned(out, 16), op, "rows and out must be 16-byte aligned");
  if (row_end == row_begin) return;
  const int64_t items = (row_end - row_begin) * n_kv_heads * head_dim / 8;
  kv_fp8_to_bf16_kernel<<<unsigned(ceil_div(items, int64_t(256))), 256, 0, stream>>>(
      rows, out, row_begin, row_end, n_kv_heads, head_dim, kv_fp8_row_bytes(n_kv_heads, head_dim));
  check_launch(op);
}

void kv_write(const PagedKv& cache, const __nv_bfloat16* k, const __nv_bfloat16* v, const int32_t* positions,
              int n, cudaStream_t stream) {
  check_paged_kv(cache, "kv_write");
  HIPCODE_REQUIRE(n >= 0, "kv_write", "n must be >= 0, got " + std::to_string(n));
  if (n == 0) return;
  if (kv_is_fp8(cache)) {
    launch_write_fp8(false, cache, k, v, positions, n, stream);
    return;
  }
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
