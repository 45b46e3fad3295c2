// Split-K flash-decoding of ONE query token per sequence over a list of key slots: the dense decode (the
// slots are the last keys, or the sliding window) and HiP's block-sparse decode (sink + selected blocks +
// window) differ only in their `Keys`, which maps slot i to a logical key (or -1: masked).
//
// Pass 1 (split_decode_kernel): grid = (n_splits, n_kv_heads * head_chunks). The CTA's rows are the q heads
// of one kv group (16 per chunk, zero-padded), so one m16 tile of mma.sync covers the whole group. 4 warps;
// slots are walked in tiles of 64 (16 per warp), double-buffered with cp.async; every warp keeps its own
// online-softmax state, the 4 states are merged through shared memory and the CTA writes an unnormalised
// partial (acc[head_dim], max, sum) per head (log2 domain). Pass 2 (split_combine, split-combine.cuh) merges
// the splits of each q head.
//
// Keys: a device-constructible type with `struct Params` (passed by value to the kernel), a constructor from
// Params (it may read device memory, e.g. a length for CUDA-graph replay), `int total()` (the slot count),
// `int key(int slot)`, and `hot_k`, `hot_v`, `hot_end`: slots [0, hot_end) are read from row `slot` of hot_k
// / hot_v ([slot, n_kv_heads, head_dim]) instead of the pages (hot_end 0: none). Included only by
// attention-decode.cu and hip-decode.cu.
#pragma once

#include <cmath>

#include "kernels/attention-common.cuh"
#include "kernels/split-combine.cuh"

namespace hipcode::cuda {

using namespace attn;

constexpr int kSplitDecodeBN = 64;
constexpr int kSplitDecodeWarps = 4;

template <int kD>
constexpr int split_decode_smem_bytes() {
  return (16 + 4 * kSplitDecodeBN) * (kD + 8) * (int)sizeof(__nv_bfloat16);
}

// Number of splits that fills the GPU (about 2 CTAs per SM) for up to `max_slots` slots, at least
// `min_slots_per_split` slots per split, at most 1024 splits.
inline int split_decode_splits(int n_heads, int n_kv_heads, int max_slots, int min_slots_per_split) {
  if (n_kv_heads <= 0 || n_heads <= 0 || max_slots <= 0) return 1;
  const int group = n_heads / n_kv_heads;
  const int64_t ctas_per_split = (int64_t)n_kv_heads * ((group + 15) / 16);
  int64_t splits = ceil_div(2 * (int64_t)device_sm_count(), ctas_per_split);
  const int64_t by_slots = ceil_div(max_slots, min_slots_per_split);
  if (splits > by_slots) splits = by_slots;
  if (splits > 1024) splits = 1024;
  return splits < 1 ? 1 : (int)splits;
}

inline size_t split_decode_workspace_bytes(int n_heads, int head_dim, int n_splits) {
  return split_partials_bytes(n_heads, head_dim, n_splits);
}

// kFp8: the pages hold fp8 rows (a separate instance, so that the bf16 one keeps its registers).
template <int kD, typename Keys, bool kFp8>
__global__ void __launch_bounds__(kSplitDecodeWarps * 32)
    split_decode_kernel(const __nv_bfloat16* __restrict__ q, PagedKv cache, typename Keys::Params params,
                        float* __restrict__ part_o, float* __restrict__ part_ml, int group, float scale_log2,
                        int page_shift, int n_splits) {
  constexpr int kBN = kSplitDecodeBN, kStride = kD + 8, kThreads = kSplitDecodeWarps * 32, kChunks = kD / 8;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __nv_bfloat16* sQ = reinterpret_cast<__nv_bfloat16*>(smem_raw);  // [16][kStride]
  __nv_bfloat16* sK = sQ + 16 * kStride;                           // [2][kBN][kStride]
  __nv_bfloat16* sV = sK + 2 * kBN * kStride;                      // [2][kBN][kStride]
  pdl_wait();
  pdl_launch_dependents();

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int split = blockIdx.x;
  const int head_chunks = (group + 15) / 16;
  const int kvh = blockIdx.y / head_chunks, hc = blockIdx.y % head_chunks;
  const int h0 = kvh * group + hc * 16;
  const int rows = min(16, group - hc * 16);

  const Keys keys(params);
  const int range = keys.total();
  const int per_split = (int)ceil_div(ceil_div(range, n_splits), kBN) * kBN;
  const int s_begin = (int)min((int64_t)split * per_split, (int64_t)range);
  const int s_end = min(range, s_begin + per_split);
  const int n_tiles = s_end > s_begin ? (s_end - s_begin + kBN - 1) / kBN : 0;

  for (int idx = threadIdx.x; idx < 16 * kChunks; idx += kThreads) {
    const int r = idx / kChunks, c = idx % kChunks;
    const bool valid = r < rows;
    cp_async_16(sQ + r * kStride + c * 8, q + (int64_t)(h0 + (valid ? r : 0)) * kD + c * 8, valid);
  }
  cp_async_commit();
  if (n_tiles > 0) {
    load_kv_slots<kD, kBN, kThreads, kFp8>(sK, sV, cache, page_shift, kvh, keys, s_begin, s_end);
    cp_async_commit();
  }
  cp_async_wait<0>();
  __syncthreads();

  uint32_t qf[kD / 16][4];
#pragma unroll
  for (int kk = 0; kk < kD / 16; ++kk) {
    ldmatrix_x4(qf[kk][0], qf[kk][1], qf[kk][2], qf[kk][3],
                sQ + (lane & 15) * kStride + kk * 16 + (lane >> 4) * 8);
  }

  float o[kD / 8][4];
#pragma unroll
  for (int i = 0; i < kD / 8; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
  float m_a = -INFINITY, m_b = -INFINITY, l_a = 0.f, l_b = 0.f;

  for (int j = 0; j < n_tiles; ++j) {
    const int buf = j & 1;
    if (j + 1 < n_tiles) {
      load_kv_slots<kD, kBN, kThreads, kFp8>(sK + (buf ^ 1) * kBN * kStride, sV + (buf ^ 1) * kBN * kStride,
                                             cache, page_shift, kvh, keys, s_begin + (j + 1) * kBN, s_end);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const __nv_bfloat16* tK = sK + (buf * kBN + warp * 16) * kStride;  // this warp's 16 keys
    const __nv_bfloat16* tV = sV + (buf * kBN + warp * 16) * kStride;

    float s[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
#pragma unroll
    for (int kk = 0; kk < kD / 16; ++kk) {
      uint32_t b0, b1, b2, b3;
      ldmatrix_x4(b0, b1, b2, b3,
                  tK + ((lane & 7) + ((lane >> 4) << 3)) * kStride + kk * 16 + ((lane >> 3) & 1) * 8);
      mma_bf16(s[0], qf[kk], b0, b1);
      mma_bf16(s[1], qf[kk], b2, b3);
    }
    const int slot0 = s_begin + j * kBN + warp * 16;
    float mx_a = -INFINITY, mx_b = -INFINITY;
#pragma unroll
    for (int nt = 0; nt < 2; ++nt) {
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int slot = slot0 + nt * 8 + (lane & 3) * 2 + e;
        const bool valid = slot < s_end && keys.key(slot) >= 0;
        const float va = valid ? s[nt][e] * scale_log2 : -INFINITY;
        const float vb = valid ? s[nt][2 + e] * scale_log2 : -INFINITY;
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
#pragma unroll
    for (int nt = 0; nt < 2; ++nt) {
      s[nt][0] = exp2f(s[nt][0] - base_a);
      s[nt][1] = exp2f(s[nt][1] - base_a);
      s[nt][2] = exp2f(s[nt][2] - base_b);
      s[nt][3] = exp2f(s[nt][3] - base_b);
    }
    l_a = l_a * alpha_a + s[0][0] + s[0][1] + s[1][0] + s[1][1];
    l_b = l_b * alpha_b + s[0][2] + s[0][3] + s[1][2] + s[1][3];
    const uint32_t a[4] = {pack_bf16(s[0][0], s[0][1]), pack_bf16(s[0][2], s[0][3]),
                           pack_bf16(s[1][0], s[1][1]), pack_bf16(s[1][2], s[1][3])};
#pragma unroll
    for (int dp = 0; dp < kD / 16; ++dp) {
      o[2 * dp][0] *= alpha_a;
      o[2 * dp][1] *= alpha_a;
      o[2 * dp][2] *= alpha_b;
      o[2 * dp][3] *= alpha_b;
      o[2 * dp + 1][0] *= alpha_a;
      o[2 * dp + 1][1] *= alpha_a;
      o[2 * dp + 1][2] *= alpha_b;
      o[2 * dp + 1][3] *= alpha_b;
      uint32_t b0, b1, b2, b3;
      ldmatrix_x4_trans(b0, b1, b2, b3,
                        tV + ((lane & 7) + ((lane >> 3) & 1) * 8) * kStride + dp * 16 + (lane >> 4) * 8);
      mma_bf16(o[2 * dp], a, b0, b1);
      mma_bf16(o[2 * dp + 1], a, b2, b3);
    }
    __syncthreads();  // the next iteration's prefetch overwrites this buffer
  }

  // Merge the 4 warps' states through shared memory (reusing the K/V buffers).
  l_a += __shfl_xor_sync(0xffffffffu, l_a, 1);
  l_a += __shfl_xor_sync(0xffffffffu, l_a, 2);
  l_b += __shfl_xor_sync(0xffffffffu, l_b, 1);
  l_b += __shfl_xor_sync(0xffffffffu, l_b, 2);
  __syncthreads();
  float* sm_o = reinterpret_cast<float*>(sK);        // [4][16][kD]
  float* sm_m = sm_o + kSplitDecodeWarps * 16 * kD;  // [4][16]
  float* sm_l = sm_m + kSplitDecodeWarps * 16;       // [4][16]
  const int g = lane / 4;
#pragma unroll
  for (int nt = 0; nt < kD / 8; ++nt) {
    const int d = nt * 8 + (lane & 3) * 2;
    sm_o[(warp * 16 + g) * kD + d] = o[nt][0];
    sm_o[(warp * 16 + g) * kD + d + 1] = o[nt][1];
    sm_o[(warp * 16 + g + 8) * kD + d] = o[nt][2];
    sm_o[(warp * 16 + g + 8) * kD + d + 1] = o[nt][3];
  }
  if ((lane & 3) == 0) {
    sm_m[warp * 16 + g] = m_a;
    sm_m[warp * 16 + g + 8] = m_b;
    sm_l[warp * 16 + g] = l_a;
    sm_l[warp * 16 + g + 8] = l_b;
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < rows * kD; idx += kThreads) {
    const int r = idx / kD, d = idx % kD;
    float M = -INFINITY;
#pragma unroll
    for (int w = 0; w < kSplitDecodeWarps; ++w) M = fmaxf(M, sm_m[w * 16 + r]);
    float acc = 0.f, L = 0.f;
#pragma unroll
    for (int w = 0; w < kSplitDecodeWarps; ++w) {
      const float mw = sm_m[w * 16 + r];
      if (mw == -INFINITY) continue;
      const float f = exp2f(mw - M);
      acc += sm_o[(w * 16 + r) * kD + d] * f;
      L += sm_l[w * 16 + r] * f;
    }
    const int64_t slot = (int64_t)(h0 + r) * n_splits + split;
    part_o[slot * kD + d] = acc;
    if (d == 0) {
      part_ml[slot * 2] = M;
      part_ml[slot * 2 + 1] = L;
    }
  }
}

// Runs both passes; `op` names the caller in errors. workspace: split_decode_workspace_bytes(...).
template <int kD, typename Keys>
void launch_split_decode(const __nv_bfloat16* q, const PagedKv& cache, __nv_bfloat16* out, int n_heads,
                         const typename Keys::Params& params, float scale, int n_splits, float* workspace,
                         cudaStream_t stream, const char* op) {
  const int group = n_heads / cache.n_kv_heads;
  float* part_o = workspace;
  float* part_ml = workspace + (size_t)n_heads * n_splits * kD;
  constexpr int smem = split_decode_smem_bytes<kD>();
  auto kernel = kv_is_fp8(cache) ? split_decode_kernel<kD, Keys, true> : split_decode_kernel<kD, Keys, false>;
  check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem), op,
             "cannot raise the shared-memory limit");
  const dim3 grid((unsigned)n_splits, (unsigned)(cache.n_kv_heads * ((group + 15) / 16)));
  launch_dependent(kernel, grid, dim3(kSplitDecodeWarps * 32), smem, stream, q, cache, params, part_o,
                   part_ml, group, scale * kLog2e, page_shift_of(cache.page_size), n_splits);
  check_launch(op);
  split_combine(part_o, part_ml, out, n_heads, n_splits, kD, stream, op);
}

}  // namespace hipcode::cuda
