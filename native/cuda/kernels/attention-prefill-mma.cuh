// mma.sync m16n8k16 (bf16 -> f32) flash-attention-2 CTA over the paged KV cache, shared by the dense prefill
// (attention-prefill.cu) and HiP's block-sparse prefill fallback (hip-prefill.cu); they differ only in their
// key policy (attention-common.cuh): which key each slot of the walked key list holds and which (row, slot)
// pairs are masked.
//
// Rows of a CTA are (query token, q head of one kv group) pairs, row r = token * group + head, so all q
// heads of a GQA group share every K/V tile a CTA loads. A CTA has kWarps warps of 16 rows each
// (16 * kWarps rows) and walks the slots in tiles of kPrefillBN = 64, double-buffered with cp.async; each
// warp keeps its Q fragments and O accumulators in registers, S = Q K^T and O += P V run on the tensor
// cores, and P goes from the S accumulators to A fragments without touching shared memory. Masking
// decisions are per warp (Keys::Rows spans the warp's 16 rows).
#pragma once

#include <cuda_bf16.h>

#include <cmath>
#include <cstdint>

#include "kernels/attention-common.cuh"
#include "kernels/paged-kv.cuh"

namespace hipcode::cuda::attn {

constexpr int kPrefillBN = 64;

template <int kD, int kWarps>
constexpr int prefill_smem_bytes() {
  return (16 * kWarps + 4 * kPrefillBN) * (kD + 8) * (int)sizeof(__nv_bfloat16);
}

// Copies the K/V rows of slots [slot0, slot0 + kPrefillBN) (buffer `stage`) of kv head `kvh` into sK / sV
// (row stride kD + 8); slots the policy masks and unmapped pages are zero-filled. Thread (rsub, c) copies
// chunk c of rows rsub + kRowsPerPass * i; each row's key and page are resolved once, by thread
// (rsub, c = i), and shared within the warp by shuffles (the lookups of a tile overlap instead of queueing
// behind each other).
template <int kD, int kThreads, typename Keys>
__device__ __forceinline__ void load_prefill_tile(__nv_bfloat16* sK, __nv_bfloat16* sV, const PagedKv& cache,
                                                  int page_shift, int kvh, const Keys& keys, int stage,
                                                  int slot0) {
  constexpr int kChunks = kD / 8, kStride = kD + 8;
  constexpr int kRowsPerPass = kThreads / kChunks, kPasses = kPrefillBN / kRowsPerPass;
  static_assert(32 % kChunks == 0 && kPasses <= kChunks && kPasses * kRowsPerPass == kPrefillBN,
                "a warp holds whole rows, and every row has a resolving thread");
  const int rsub = threadIdx.x / kChunks, c = threadIdx.x % kChunks;
  int my_key = -1, my_page = -1;
  if (c < kPasses) {
    const int r = rsub + kRowsPerPass * c;
    my_key = keys.load(stage, r, slot0 + r, true);
    my_page = kv_page(cache, page_shift, my_key);
  }
  const int lane0 = (int)(threadIdx.x % 32) - c;
#pragma unroll
  for (int i = 0; i < kPasses; ++i) {
    const int r = rsub + kRowsPerPass * i;
    const int key = __shfl_sync(0xffffffffu, my_key, lane0 + i);
    const int page = __shfl_sync(0xffffffffu, my_page, lane0 + i);
    const bool valid = page >= 0;
    const int64_t off = valid ? kv_row_offset(cache, page, key) + kvh * kD + c * 8 : 0;
    cp_async_16(sK + r * kStride + c * 8, cache.k_pages + off, valid);
    cp_async_16(sV + r * kStride + c * 8, cache.v_pages + off, valid);
  }
}

// The whole CTA: rows [row0, row_end) (1 to 16 * kWarps rows) of kv head kvh, at positions
// pos0 + row / group, attend the n_tiles (>= 1) tiles of `keys`. smem: prefill_smem_bytes<kD, kWarps>().
template <int kD, int kWarps, typename Keys>
__device__ __forceinline__ void prefill_mma_cta(const __nv_bfloat16* __restrict__ q, const PagedKv& cache,
                                                const PrefillOut& dst, int n_heads, int group, int kvh,
                                                int row0, int row_end, int pos0, float scale_log2,
                                                int page_shift, const Keys& keys, int n_tiles,
                                                unsigned char* smem) {
  constexpr int kBM = 16 * kWarps, kBN = kPrefillBN, kStride = kD + 8, kThreads = kWarps * 32;
  constexpr int kChunks = kD / 8;
  __nv_bfloat16* sQ = reinterpret_cast<__nv_bfloat16*>(smem);  // [kBM][kStride]
  __nv_bfloat16* sK = sQ + kBM * kStride;                      // [2][kBN][kStride]
  __nv_bfloat16* sV = sK + 2 * kBN * kStride;                  // [2][kBN][kStride]

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int idx = threadIdx.x; idx < kBM * kChunks; idx += kThreads) {
    const int r = idx / kChunks, c = idx % kChunks;
    const int rr = row0 + r;
    const bool valid = rr < row_end;
    const int t = valid ? rr / group : 0, g = valid ? rr % group : 0;
    cp_async_16(sQ + r * kStride + c * 8, q + ((int64_t)t * n_heads + kvh * group + g) * kD + c * 8, valid);
  }
  cp_async_commit();
  load_prefill_tile<kD, kThreads>(sK, sV, cache, page_shift, kvh, keys, 0, 0);
  cp_async_commit();
  cp_async_wait<1>();
  __syncthreads();

  uint32_t qf[kD / 16][4];
#pragma unroll
  for (int kk = 0; kk < kD / 16; ++kk) {
    ldmatrix_x4(qf[kk][0], qf[kk][1], qf[kk][2], qf[kk][3],
                sQ + (warp * 16 + (lane & 15)) * kStride + kk * 16 + (lane >> 4) * 8);
  }

  const int warp_row0 = row0 + warp * 16;
  const int row_a = warp_row0 + lane / 4;  // this thread's rows: row_a and row_a + 8
  const typename Keys::Rows rows =
      keys.rows(pos0 + min(row_a, row_end - 1) / group, pos0 + min(row_a + 8, row_end - 1) / group,
                pos0 + min(warp_row0, row_end - 1) / group, pos0 + min(warp_row0 + 15, row_end - 1) / group);

  float o[kD / 8][4];
#pragma unroll
  for (int i = 0; i < kD / 8; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
  float m_a = -INFINITY, m_b = -INFINITY, l_a = 0.f, l_b = 0.f;

  for (int j = 0; j < n_tiles; ++j) {
    const int buf = j & 1;
    if (j + 1 < n_tiles) {
      load_prefill_tile<kD, kThreads>(sK + (buf ^ 1) * kBN * kStride, sV + (buf ^ 1) * kBN * kStride, cache,
                                      page_shift, kvh, keys, buf ^ 1, (j + 1) * kBN);
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

    const int slot0 = j * kBN;
    const bool need_mask = keys.need_mask(rows, slot0, kBN, buf);
    float mx_a = -INFINITY, mx_b = -INFINITY;
#pragma unroll
    for (int nt = 0; nt < kBN / 8; ++nt) {
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        float va = s[nt][e] * scale_log2, vb = s[nt][2 + e] * scale_log2;
        if (need_mask) {
          bool keep_a, keep_b;
          keys.keep(rows, slot0, buf, nt * 8 + (lane & 3) * 2 + e, keep_a, keep_b);
          if (!keep_a) va = -INFINITY;
          if (!keep_b) vb = -INFINITY;
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
  store_prefill_rows<kD>(dst, n_heads, group, kvh, row_a, row_end, (lane & 3) * 2, m_a, m_b, l_a, l_b,
                         [&](int i, int half, int e) { return o[i][2 * half + e]; });
}

}  // namespace hipcode::cuda::attn
