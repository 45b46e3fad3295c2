// Flash-attention-2 style prefill over the paged cache with mma.sync m16n8k16 (bf16 -> f32).
//
// Rows of a CTA are (query token, q head of one kv group) pairs, row r = token * group + head, so all
// q heads of a GQA group share every K/V tile a CTA loads. A CTA has kWarps warps of 16 rows each
// (kBM = 16 * kWarps rows) and walks the keys in tiles of kBN = 64, double-buffered with cp.async;
// each warp keeps its Q fragments and O accumulators in registers, S = Q K^T and O += P V run on the
// tensor cores, and P goes from the S accumulators to A fragments without touching shared memory.
// CTAs with the most keys (the last rows) are launched first.
#include <cmath>

#include "kernels/attention-common.cuh"
#include "kernels/attention-generic.cuh"
#include "kernels/attention-prefill-sm90.cuh"
#include "kernels/attention-prefill.cuh"
#include "kernels/kv-write.cuh"

namespace hipcode::cuda {

using namespace attn;

constexpr int kPrefillBN = 64;

template <int kD, int kWarps>
constexpr int prefill_smem_bytes() {
  return (16 * kWarps + 4 * kPrefillBN) * (kD + 8) * (int)sizeof(__nv_bfloat16);
}

template <int kD, int kWarps>
static __global__ void __launch_bounds__(kWarps * 32)
    attention_prefill_kernel(const __nv_bfloat16* __restrict__ q, PagedKv cache,
                             __nv_bfloat16* __restrict__ out, int n_q, int n_heads, int group, int pos0,
                             int window, float scale_log2, int page_shift) {
  constexpr int kBM = 16 * kWarps, kBN = kPrefillBN, kStride = kD + 8, kThreads = kWarps * 32;
  constexpr int kChunks = kD / 8;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __nv_bfloat16* sQ = reinterpret_cast<__nv_bfloat16*>(smem_raw);  // [kBM][kStride]
  __nv_bfloat16* sK = sQ + kBM * kStride;                          // [2][kBN][kStride]
  __nv_bfloat16* sV = sK + 2 * kBN * kStride;                      // [2][kBN][kStride]

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int kvh = blockIdx.y;
  const int tile = gridDim.x - 1 - blockIdx.x;
  const int rows_total = n_q * group;
  const int r0 = tile * kBM;
  const int r_last = min(r0 + kBM, rows_total) - 1;

  for (int idx = threadIdx.x; idx < kBM * kChunks; idx += kThreads) {
    const int r = idx / kChunks, c = idx % kChunks;
    const int rr = r0 + r;
    const bool valid = rr < rows_total;
    const int t = valid ? rr / group : 0, g = valid ? rr % group : 0;
    cp_async_16(sQ + r * kStride + c * 8, q + ((int64_t)t * n_heads + kvh * group + g) * kD + c * 8, valid);
  }
  cp_async_commit();

  const int q_pos_min = pos0 + r0 / group;
  const int q_pos_max = pos0 + r_last / group;
  const int k_end = q_pos_max + 1;
  int k_begin = window > 0 ? max(0, q_pos_min - window + 1) : 0;
  k_begin = (k_begin / kBN) * kBN;
  const int n_tiles = (k_end - k_begin + kBN - 1) / kBN;

  load_kv_slots<kD, kBN, kThreads>(sK, sV, cache, page_shift, kvh, IdentityKeys{}, k_begin, k_end);
  cp_async_commit();
  cp_async_wait<1>();
  __syncthreads();

  uint32_t qf[kD / 16][4];
#pragma unroll
  for (int kk = 0; kk < kD / 16; ++kk) {
    ldmatrix_x4(qf[kk][0], qf[kk][1], qf[kk][2], qf[kk][3],
                sQ + (warp * 16 + (lane & 15)) * kStride + kk * 16 + (lane >> 4) * 8);
  }

  const int row_a = r0 + warp * 16 + lane / 4;  // this thread's rows: row_a and row_a + 8
  const int qpos_a = pos0 + min(row_a, rows_total - 1) / group;
  const int qpos_b = pos0 + min(row_a + 8, rows_total - 1) / group;

  float o[kD / 8][4];
#pragma unroll
  for (int i = 0; i < kD / 8; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
  float m_a = -INFINITY, m_b = -INFINITY, l_a = 0.f, l_b = 0.f;

  for (int j = 0; j < n_tiles; ++j) {
    const int buf = j & 1;
    if (j + 1 < n_tiles) {
      load_kv_slots<kD, kBN, kThreads>(sK + (buf ^ 1) * kBN * kStride, sV + (buf ^ 1) * kBN * kStride, cache,
                                       page_shift, kvh, IdentityKeys{}, k_begin + (j + 1) * kBN, k_end);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const __nv_bfloat16* tK = sK + buf * kBN * kStride;
    const __nv_bfloat16* tV = sV + buf * kBN * kStride;

    float s[kBN / 8][4];
#pragma unroll
    for (int i = 0; i < kBN / 8; ++i) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < kD / 16; ++kk) {
#pragma unroll
      for (int p = 0; p < kBN / 16; ++p) {
        uint32_t b0, b1, b2, b3;
        ldmatrix_x4(
            b0, b1, b2, b3,
            tK + (p * 16 + (lane & 7) + ((lane >> 4) << 3)) * kStride + kk * 16 + ((lane >> 3) & 1) * 8);
        mma_bf16(s[2 * p], qf[kk], b0, b1);
        mma_bf16(s[2 * p + 1], qf[kk], b2, b3);
      }
    }

    const int key0 = k_begin + j * kBN;
    const bool need_mask = key0 + kBN - 1 > q_pos_min || (window > 0 && key0 <= q_pos_max - window);
    float mx_a = -INFINITY, mx_b = -INFINITY;
#pragma unroll
    for (int nt = 0; nt < kBN / 8; ++nt) {
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        float va = s[nt][e] * scale_log2, vb = s[nt][2 + e] * scale_log2;
        if (need_mask) {
          const int key = key0 + nt * 8 + (lane & 3) * 2 + e;
          if (key > qpos_a || (window > 0 && key <= qpos_a - window)) va = -INFINITY;
          if (key > qpos_b || (window > 0 && key <= qpos_b - window)) vb = -INFINITY;
        }
        s[nt][e] = va;
        s[nt][2 + e] = vb;
        mx_a = fmaxf(mx_a, va);
        mx_b = fmaxf(mx_b, vb);
      }
    }
    mx_a = fmaxf(mx_a, __shfl_xor_sync(0xffffffffu, mx_a, 1));
    mx_a = fmaxf(mx_a, __shfl_xor_sync(0xffffffffu, mx_a, 2));
    mx_b = fmaxf(mx_b, __shfl_xor_sync(0xffffffffu, mx_b, 1));
    mx_b = fmaxf(mx_b, __shfl_xor_sync(0xffffffffu, mx_b, 2));
    const float mn_a = fmaxf(m_a, mx_a), mn_b = fmaxf(m_b, mx_b);
    const float base_a = mn_a == -INFINITY ? 0.f : mn_a, base_b = mn_b == -INFINITY ? 0.f : mn_b;
    const float alpha_a = exp2f(m_a - base_a), alpha_b = exp2f(m_b - base_b);
    m_a = mn_a;
    m_b = mn_b;
    float sum_a = 0.f, sum_b = 0.f;
#pragma unroll
    for (int nt = 0; nt < kBN / 8; ++nt) {
      s[nt][0] = exp2f(s[nt][0] - base_a);
      s[nt][1] = exp2f(s[nt][1] - base_a);
      s[nt][2] = exp2f(s[nt][2] - base_b);
      s[nt][3] = exp2f(s[nt][3] - base_b);
      sum_a += s[nt][0] + s[nt][1];
      sum_b += s[nt][2] + s[nt][3];
    }
    l_a = l_a * alpha_a + sum_a;
    l_b = l_b * alpha_b + sum_b;
#pragma unroll
    for (int i = 0; i < kD / 8; ++i) {
      o[i][0] *= alpha_a;
      o[i][1] *= alpha_a;
      o[i][2] *= alpha_b;
      o[i][3] *= alpha_b;
    }
#pragma unroll
    for (int k2 = 0; k2 < kBN / 16; ++k2) {
      const uint32_t a[4] = {pack_bf16(s[2 * k2][0], s[2 * k2][1]), pack_bf16(s[2 * k2][2], s[2 * k2][3]),
                             pack_bf16(s[2 * k2 + 1][0], s[2 * k2 + 1][1]),
                             pack_bf16(s[2 * k2 + 1][2], s[2 * k2 + 1][3])};
#pragma unroll
      for (int dp = 0; dp < kD / 16; ++dp) {
        uint32_t b0, b1, b2, b3;
        ldmatrix_x4_trans(
            b0, b1, b2, b3,
            tV + (k2 * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * kStride + dp * 16 + (lane >> 4) * 8);
        mma_bf16(o[2 * dp], a, b0, b1);
        mma_bf16(o[2 * dp + 1], a, b2, b3);
      }
    }
    __syncthreads();  // the next iteration's prefetch overwrites this buffer
  }

  l_a += __shfl_xor_sync(0xffffffffu, l_a, 1);
  l_a += __shfl_xor_sync(0xffffffffu, l_a, 2);
  l_b += __shfl_xor_sync(0xffffffffu, l_b, 1);
  l_b += __shfl_xor_sync(0xffffffffu, l_b, 2);
  const float inv_a = l_a > 0.f ? 1.f / l_a : 0.f, inv_b = l_b > 0.f ? 1.f / l_b : 0.f;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int row = row_a + 8 * half;
    if (row >= rows_total) continue;
    const float inv = half ? inv_b : inv_a;
    const int t = row / group, g = row % group;
    __nv_bfloat16* dst = out + ((int64_t)t * n_heads + kvh * group + g) * kD + (lane & 3) * 2;
#pragma unroll
    for (int nt = 0; nt < kD / 8; ++nt) {
      *reinterpret_cast<__nv_bfloat162*>(dst + nt * 8) =
          __floats2bfloat162_rn(o[nt][2 * half] * inv, o[nt][2 * half + 1] * inv);
    }
  }
}

template <int kD, int kWarps>
static void launch_prefill(const __nv_bfloat16* q, const PagedKv& cache, __nv_bfloat16* out, int n_q,
                           int n_heads, int pos0, int window, float scale, cudaStream_t stream) {
  const int group = n_heads / cache.n_kv_heads;
  const int64_t rows = (int64_t)n_q * group;
  const dim3 grid((unsigned)ceil_div(rows, 16 * kWarps), (unsigned)cache.n_kv_heads);
  constexpr int smem = prefill_smem_bytes<kD, kWarps>();
  auto kernel = attention_prefill_kernel<kD, kWarps>;
  check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem),
             "attention_prefill", "cannot raise the shared-memory limit");
  kernel<<<grid, kWarps * 32, smem, stream>>>(q, cache, out, n_q, n_heads, group, pos0, window,
                                              scale * kLog2e, page_shift_of(cache.page_size));
  check_launch("attention_prefill");
}

void attention_prefill(const __nv_bfloat16* q, const PagedKv& cache, __nv_bfloat16* out, int n_q, int n_heads,
                       int pos0, int window, float scale, cudaStream_t stream) {
  const char* op = "attention_prefill";
  check_paged_kv(cache, op);
  HIPCODE_REQUIRE(n_q >= 0, op, "n_q must be >= 0, got " + std::to_string(n_q));
  HIPCODE_REQUIRE(n_heads > 0 && n_heads % cache.n_kv_heads == 0, op,
                  "n_heads must be a positive multiple of cache.n_kv_heads, got " + std::to_string(n_heads));
  HIPCODE_REQUIRE(pos0 >= 0, op, "pos0 must be >= 0, got " + std::to_string(pos0));
  HIPCODE_REQUIRE(window >= 0, op, "window must be >= 0, got " + std::to_string(window));
  HIPCODE_REQUIRE((int64_t)pos0 + n_q <= (int64_t)cache.max_pages_per_seq * cache.page_size, op,
                  "pos0 + n_q exceeds the page table (max_pages_per_seq * page_size)");
  HIPCODE_REQUIRE(cache.n_kv_heads <= 65535, op, "cache.n_kv_heads must be <= 65535");
  if (n_q == 0) return;
  const bool aligned = is_aligned(q, 16) && is_aligned(out, 16) && is_aligned(cache.k_pages, 16) &&
                       is_aligned(cache.v_pages, 16);
  if (!aligned || (cache.head_dim != 64 && cache.head_dim != 128)) {
    attention_generic(q, cache, out, n_q, n_heads, pos0, window, scale, nullptr, stream);
    return;
  }
  // Hopper with sm_90a code: the wgmma kernel (attention-prefill-sm90.cu) for head_dim 128.
  if (cache.head_dim == 128 && attention_prefill_sm90_enabled() && attention_prefill_sm90_available()) {
    attention_prefill_sm90(q, cache, out, n_q, n_heads, pos0, window, scale, stream);
    return;
  }
  // 8 warps (128 rows) per CTA share each K/V tile among more rows; use them when that still gives
  // every SM at least one CTA.
  const int64_t rows = (int64_t)n_q * (n_heads / cache.n_kv_heads);
  const bool wide = ceil_div(rows, 128) * cache.n_kv_heads >= device_sm_count();
  if (cache.head_dim == 128) {
    if (wide) {
      launch_prefill<128, 8>(q, cache, out, n_q, n_heads, pos0, window, scale, stream);
    } else {
      launch_prefill<128, 4>(q, cache, out, n_q, n_heads, pos0, window, scale, stream);
    }
  } else {
    if (wide) {
      launch_prefill<64, 8>(q, cache, out, n_q, n_heads, pos0, window, scale, stream);
    } else {
      launch_prefill<64, 4>(q, cache, out, n_q, n_heads, pos0, window, scale, stream);
    }
  }
}

}  // namespace hipcode::cuda
