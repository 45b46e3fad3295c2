// Hopper (sm_90a) flash-attention pipeline for head_dim 128 over the paged KV cache (bf16 in/out, f32
// online softmax, wgmma.mma_async), shared by the dense prefill (attention-prefill-sm90.cu) and HiP's
// block-sparse prefill (hip-prefill.cu); they differ only in their key policy (attention-common.cuh): which
// key each slot of the walked key list holds and which (row, slot) pairs are masked.
//
// CTA = 3 warpgroups (384 threads), rows = (query token, q head of one kv group) pairs, row r = token * group
// + head (so all q heads of a GQA group share every K/V tile), kBM = 128 rows per CTA:
//   warpgroup 0   producer: cp.async of the CTA's Q tile and of K/V tiles of kBN = 128 slots (page-table
//                 lookup per key) into a kStages = 3 deep ring of shared-memory stages; per stage a
//                 "full" mbarrier (128 producer arrivals, after cp.async.wait_group + proxy fence) and an
//                 "empty" mbarrier (128 arrivals per active consumer warpgroup once its wgmmas have read
//                 the stage).
//   warpgroups 1-2 consumers, 64 rows each: S = Q K^T with wgmma m64n128k16 (A = Q and B = K from shared
//                 memory, both K-major), online softmax on the S accumulators in registers, P packed to
//                 bf16 A fragments in registers, O += P V with wgmma m64n128k16 (A from registers, B = V
//                 N-major from shared memory). The QK^T of tile j is issued together with the PV of tile
//                 j - 1 so the softmax of tile j overlaps the tensor-core work of the PV. A consumer
//                 warpgroup without rows (a CTA of <= 64 rows) exits at once.
// Shared tiles (Q, K, V alike) are [2 halves of head_dim][128 rows][64 bf16 = 128 bytes], 1024-byte
// aligned, with the 128-byte swizzle: the 16-byte chunk c of row r sits at chunk c ^ (r % 8). That is
// the canonical SWIZZLE_128B layout of a K-major operand (Q, K: 8-row groups 1024 bytes apart) and of an
// N-major operand (V: 8-key groups 1024 bytes apart, the two 64-wide head_dim halves kBN * 128 bytes
// apart). The device code exists only in sm_90a builds (HIPCODE_PREFILL_SM90A); kernels built on it compile
// to empty stubs elsewhere, which their hosts detect (no static shared memory) and never launch.
#pragma once

#include <cuda_bf16.h>

#include <cmath>
#include <cstdint>

#include "kernels/attention-common.cuh"
#include "kernels/paged-kv.cuh"

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define HIPCODE_PREFILL_SM90A 1
#else
#define HIPCODE_PREFILL_SM90A 0
#endif

namespace hipcode::cuda::sm90 {

constexpr int kD = 128;                      // head_dim
constexpr int kBM = 128;                     // rows per CTA, 64 per consumer warpgroup
constexpr int kBN = 128;                     // slots per K/V tile
constexpr int kStages = 3;                   // K/V ring depth
constexpr int kThreads = 384;                // producer warpgroup + 2 consumer warpgroups
constexpr int kQBytes = kBM * kD * 2;        // 32 KB
constexpr int kTileBytes = kBN * kD * 2;     // 32 KB: one K or V tile
constexpr int kStageBytes = 2 * kTileBytes;  // K then V
constexpr int kSmemBytes = 1024 + kQBytes + kStages * kStageBytes;  // + slack for 1024-byte alignment
static_assert(kBM == 128 && kBN == 128, "tile layouts assume 128-row tiles");
static_assert(kSmemBytes <= 225 * 1024, "shared memory (2 KB left for the kernels' static arrays)");

// Whether the current device is compute capability 9.0 and this binary carries the sm_90a body of `kernel`:
// that body declares the ring's mbarriers (2 * kStages) as static shared memory, which the stub other targets
// compile has not. `cache` keeps the answer per device (1 available, 2 not).
template <typename Kernel>
bool body_available(Kernel kernel, int (&cache)[64]) {
  return cached_per_device(cache, 2, [kernel](int dev) {
           int major = 0, minor = 0;
           cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
           cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev);
           if (major != 9 || minor != 0) return 2;
           cudaFuncAttributes attr{};
           if (cudaFuncGetAttributes(&attr, kernel) != cudaSuccess) {
             cudaGetLastError();
             return 2;
           }
           return attr.sharedSizeBytes >= 2 * kStages * sizeof(uint64_t) ? 1 : 2;
         }) == 1;
}

#if HIPCODE_PREFILL_SM90A

constexpr int kRowBytes = 128;               // one swizzled row: 64 bf16 (half of head_dim)
constexpr int kHalfBytes = 128 * kRowBytes;  // one head_dim half of a 128-row tile
// PV as two N = 64 wgmmas instead of one N = 128 (a switch for checking the N-major descriptor).
constexpr bool kPvSplitN = false;

__device__ __forceinline__ void mbar_init(uint32_t bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}

__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}

__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
  uint32_t done = 0;
  do {
    asm volatile(
        "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
        : "=r"(done)
        : "r"(bar), "r"(parity)
        : "memory");
  } while (!done);
}

// 16-byte global -> shared copy to a shared-window address; zero-fills when !valid.
__device__ __forceinline__ void cp_async_16_to(uint32_t dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(valid ? 16 : 0)
               : "memory");
}

__device__ __forceinline__ void cp_async_commit_group() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}

template <int N>
__device__ __forceinline__ void cp_async_wait_group() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// Makes this thread's completed generic-proxy shared-memory writes visible to the async proxy (wgmma).
__device__ __forceinline__ void fence_proxy_async() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

__device__ __forceinline__ void wgmma_fence() {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}

__device__ __forceinline__ void wgmma_commit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}

template <int N>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}

// Pins accumulator registers at this point of the program (the compiler must not move their uses
// across the wgmma issue / wait statements).
__device__ __forceinline__ void fence_regs(float (&r)[64]) {
#pragma unroll
  for (int i = 0; i < 64; ++i) asm volatile("" : "+f"(r[i])::"memory");
}

// wgmma shared-memory matrix descriptor (PTX ISA, "Matrix Descriptor Format"): start address >> 4 in
// bits 0-13, leading-dimension byte offset >> 4 in bits 16-29, stride-dimension byte offset >> 4 in
// bits 32-45, base offset 0 (tiles are 1024-byte aligned), swizzle mode 1 = 128B in bits 62-63.
__device__ __forceinline__ uint64_t sw128_desc(uint32_t saddr, uint32_t lbo_bytes, uint32_t sbo_bytes) {
  return (uint64_t)((saddr & 0x3FFFFu) >> 4) | ((uint64_t)((lbo_bytes >> 4) & 0x3FFFu) << 16) |
         ((uint64_t)((sbo_bytes >> 4) & 0x3FFFu) << 32) | (1ull << 62);
}

// D (64 x 128, f32) [+]= A (64 x 16, K-major, shared) * B (16 x 128, K-major, shared). kScaleD = 0
// overwrites D. Accumulator layout per warp w of the warpgroup (g = lane / 4, t = lane % 4):
// d[4i + e] = (row 16w + g, col 8i + 2t + e), d[4i + 2 + e] = (row 16w + g + 8, col 8i + 2t + e).
template <int kScaleD>
__device__ __forceinline__ void wgmma_m64n128k16_ss(float (&d)[64], uint64_t desc_a, uint64_t desc_b) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, "
      "%22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, "
      "%42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, "
      "%62, %63}, %64, %65, p, 1, 1, 0, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
        "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
        "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]),
        "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]),
        "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]),
        "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]),
        "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]),
        "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]),
        "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "l"(desc_a), "l"(desc_b), "n"(kScaleD));
}

// D (64 x 128, f32) += A (64 x 16, bf16 registers: the mma.m16n8k16 A fragment of each warp's 16 rows)
// * B (16 x 128, N-major "transposed" in shared memory).
__device__ __forceinline__ void wgmma_m64n128k16_rs_tb(float (&d)[64], const uint32_t (&a)[4],
                                                       uint64_t desc_b) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, "
      "%22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, "
      "%42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, "
      "%62, %63}, {%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
        "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
        "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]),
        "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]),
        "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]),
        "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]),
        "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]),
        "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]),
        "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b), "n"(1));
}

// The same for N = 64 (d = 32 consecutive accumulators of the 128-wide layout above).
__device__ __forceinline__ void wgmma_m64n64k16_rs_tb(float* d, const uint32_t (&a)[4], uint64_t desc_b) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, "
      "%22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, {%32, %33, %34, %35}, %36, p, 1, 1, 1;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
        "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
        "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]),
        "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]),
        "+f"(d[30]), "+f"(d[31])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b), "n"(1));
}

__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// Producer warpgroup: Q rows [row0, row_end) with tile 0, then every K/V tile into its ring stage. Thread
// tid = 16 rsub + chunk copies the 16-byte chunk `chunk` of rows rsub + 8 i (i < 16), so its swizzled column
// is fixed.
template <typename Keys>
__device__ __forceinline__ void producer(const __nv_bfloat16* __restrict__ q, const PagedKv& cache,
                                         int n_heads, int group, int kvh, int row0, int row_end,
                                         const Keys& keys, int n_tiles, int page_shift, uint32_t sQ,
                                         uint32_t sKV, uint32_t full_bar, uint32_t empty_bar) {
  const int tid = threadIdx.x;
  const int rsub = tid >> 4, chunk = tid & 15;
  const uint32_t dst0 =
      (uint32_t)((chunk >> 3) * kHalfBytes + rsub * kRowBytes + (((chunk & 7) ^ rsub) << 4));
#pragma unroll 4
  for (int i = 0; i < 16; ++i) {
    const int rr = row0 + rsub + 8 * i;
    const bool valid = rr < row_end;
    const __nv_bfloat16* src = q;
    if (valid) {
      const int t = rr / group, g = rr - t * group;
      src = q + ((int64_t)t * n_heads + kvh * group + g) * kD + chunk * 8;
    }
    cp_async_16_to(sQ + dst0 + i * 8 * kRowBytes, src, valid);
  }
  const int64_t col_off = (int64_t)kvh * kD + chunk * 8;
  const int lane0 = tid & 16;  // lane of (rsub, chunk 0) in this warp
  for (int j = 0; j < n_tiles; ++j) {
    const int s = j % kStages;
    if (j >= kStages) mbar_wait(empty_bar + 8 * s, ((j / kStages) + 1) & 1);
    const uint32_t sK = sKV + s * kStageBytes, sV = sK + kTileBytes;
    // This thread resolves row rsub + 8 chunk (key and page, one lookup chain per thread instead of 16
    // queued ones); the 16 threads of row group rsub (one half warp) share them by shuffles.
    const int my_key = keys.load(s, rsub + 8 * chunk, j * kBN + rsub + 8 * chunk, true);
    const int my_page = kv_page(cache, page_shift, my_key);
#pragma unroll 4
    for (int i = 0; i < 16; ++i) {
      const int key = __shfl_sync(0xffffffffu, my_key, lane0 + i);
      const int page = __shfl_sync(0xffffffffu, my_page, lane0 + i);
      const bool valid = page >= 0;
      const int64_t off = valid ? kv_row_offset(cache, page, key) + col_off : 0;
      cp_async_16_to(sK + dst0 + i * 8 * kRowBytes, cache.k_pages + off, valid);
      cp_async_16_to(sV + dst0 + i * 8 * kRowBytes, cache.v_pages + off, valid);
    }
    cp_async_commit_group();
    if (j > 0) {  // tile j - 1 (and Q with tile 0) has landed: publish it
      cp_async_wait_group<1>();
      fence_proxy_async();
      mbar_arrive(full_bar + 8 * ((j - 1) % kStages));
    }
  }
  cp_async_wait_group<0>();
  fence_proxy_async();
  mbar_arrive(full_bar + 8 * ((n_tiles - 1) % kStages));
}

// S = Q K^T for this warpgroup's 64 rows against the 128 keys of the K tile at sK.
__device__ __forceinline__ void issue_qk(float (&s)[64], uint32_t qa, uint32_t sK) {
#pragma unroll
  for (int kk = 0; kk < kD / 16; ++kk) {
    const uint32_t koff = (kk >> 2) * kHalfBytes + (kk & 3) * 32;  // head dims 16 kk .. 16 kk + 15
    const uint64_t da = sw128_desc(qa + koff, 16, 8 * kRowBytes);
    const uint64_t db = sw128_desc(sK + koff, 16, 8 * kRowBytes);
    if (kk == 0) {
      wgmma_m64n128k16_ss<0>(s, da, db);
    } else {
      wgmma_m64n128k16_ss<1>(s, da, db);
    }
  }
}

// O += P V for the 128 keys of the V tile at sV (P as A fragments, p[kk] = keys 16 kk .. 16 kk + 15).
__device__ __forceinline__ void issue_pv(float (&o)[64], const uint32_t (&p)[8][4], uint32_t sV) {
#pragma unroll
  for (int kk = 0; kk < kBN / 16; ++kk) {
    if (kPvSplitN) {  // one N = 64 wgmma per head_dim half: the LBO is never used
      wgmma_m64n64k16_rs_tb(&o[0], p[kk], sw128_desc(sV + kk * 16 * kRowBytes, kHalfBytes, 8 * kRowBytes));
      wgmma_m64n64k16_rs_tb(&o[32], p[kk],
                            sw128_desc(sV + kHalfBytes + kk * 16 * kRowBytes, kHalfBytes, 8 * kRowBytes));
    } else {
      // LBO: the next 64 head dims (the other half); SBO: the next 8 keys.
      const uint64_t db = sw128_desc(sV + kk * 16 * kRowBytes, kHalfBytes, 8 * kRowBytes);
      wgmma_m64n128k16_rs_tb(o, p[kk], db);
    }
  }
}

struct SoftmaxState {
  float m_a, m_b, l_a, l_b;
};

// Scales one S tile and masks it with keep(column, keep_a, keep_b) when need_mask (column = the tile
// slot of the accumulators s[4 i + e] / s[4 i + 2 + e]: 8 i + col + e), updates the running max / partial
// sums, turns S into exp2(S - max) in place and returns the factors alpha_a / alpha_b that rescale the
// old O rows.
template <typename Keep>
__device__ __forceinline__ void softmax_tile(float (&s)[64], SoftmaxState& st, bool need_mask,
                                             const Keep& keep, int col, float scale_log2, float& alpha_a,
                                             float& alpha_b) {
  float mx_a = -INFINITY, mx_b = -INFINITY;
#pragma unroll
  for (int i = 0; i < 16; ++i) {
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      float va = s[4 * i + e] * scale_log2, vb = s[4 * i + 2 + e] * scale_log2;
      if (need_mask) {
        bool keep_a, keep_b;
        keep(8 * i + col + e, keep_a, keep_b);
        if (!keep_a) va = -INFINITY;
        if (!keep_b) vb = -INFINITY;
      }
      s[4 * i + e] = va;
      s[4 * i + 2 + e] = vb;
      mx_a = fmaxf(mx_a, va);
      mx_b = fmaxf(mx_b, vb);
    }
  }
  mx_a = fmaxf(mx_a, __shfl_xor_sync(0xffffffffu, mx_a, 1));
  mx_a = fmaxf(mx_a, __shfl_xor_sync(0xffffffffu, mx_a, 2));
  mx_b = fmaxf(mx_b, __shfl_xor_sync(0xffffffffu, mx_b, 1));
  mx_b = fmaxf(mx_b, __shfl_xor_sync(0xffffffffu, mx_b, 2));
  const float mn_a = fmaxf(st.m_a, mx_a), mn_b = fmaxf(st.m_b, mx_b);
  const float base_a = mn_a == -INFINITY ? 0.f : mn_a, base_b = mn_b == -INFINITY ? 0.f : mn_b;
  alpha_a = fast_exp2(st.m_a - base_a);
  alpha_b = fast_exp2(st.m_b - base_b);
  st.m_a = mn_a;
  st.m_b = mn_b;
  float sum_a = 0.f, sum_b = 0.f;
#pragma unroll
  for (int i = 0; i < 16; ++i) {
    s[4 * i + 0] = fast_exp2(s[4 * i + 0] - base_a);
    s[4 * i + 1] = fast_exp2(s[4 * i + 1] - base_a);
    s[4 * i + 2] = fast_exp2(s[4 * i + 2] - base_b);
    s[4 * i + 3] = fast_exp2(s[4 * i + 3] - base_b);
    sum_a += s[4 * i + 0] + s[4 * i + 1];
    sum_b += s[4 * i + 2] + s[4 * i + 3];
  }
  st.l_a = st.l_a * alpha_a + sum_a;
  st.l_b = st.l_b * alpha_b + sum_b;
}

// S accumulators (8-key column chunks 2 kk, 2 kk + 1) -> bf16 A fragments of keys 16 kk .. 16 kk + 15.
__device__ __forceinline__ void pack_p(const float (&s)[64], uint32_t (&p)[8][4]) {
#pragma unroll
  for (int kk = 0; kk < 8; ++kk) {
    p[kk][0] = attn::pack_bf16(s[8 * kk + 0], s[8 * kk + 1]);
    p[kk][1] = attn::pack_bf16(s[8 * kk + 2], s[8 * kk + 3]);
    p[kk][2] = attn::pack_bf16(s[8 * kk + 4], s[8 * kk + 5]);
    p[kk][3] = attn::pack_bf16(s[8 * kk + 6], s[8 * kk + 7]);
  }
}

// Consumer warpgroup cw (1 or 2; CTA rows row0 + 64 (cw - 1) ..): rows of positions pos0 + row / group.
template <typename Keys>
__device__ __forceinline__ void consumer(const attn::PrefillOut& dst, int n_heads, int group, int kvh,
                                         int row0, int row_end, int pos0, float scale_log2, const Keys& keys,
                                         int n_tiles, uint32_t sQ, uint32_t sKV, uint32_t full_bar,
                                         uint32_t empty_bar) {
  const int cw = threadIdx.x / 128 - 1;
  const int tid = threadIdx.x & 127, warp = tid >> 5, lane = tid & 31;
  const int col = 2 * (lane & 3);
  const int wg_row0 = row0 + cw * 64;
  const int row_a = wg_row0 + warp * 16 + (lane >> 2);  // this thread's rows: row_a, row_a + 8
  const typename Keys::Rows rows =
      keys.rows(pos0 + min(row_a, row_end - 1) / group, pos0 + min(row_a + 8, row_end - 1) / group,
                pos0 + min(wg_row0, row_end - 1) / group, pos0 + min(wg_row0 + 63, row_end - 1) / group);
  const uint32_t qa = sQ + cw * 64 * kRowBytes;

  float o[64], s[64];
  uint32_t p[8][4];
#pragma unroll
  for (int i = 0; i < 64; ++i) o[i] = 0.f;
  SoftmaxState st{-INFINITY, -INFINITY, 0.f, 0.f};
  float alpha_a, alpha_b;
  auto softmax = [&](int j, int stage) {
    const int slot0 = j * kBN;
    softmax_tile(
        s, st, keys.need_mask(rows, slot0, kBN, stage),
        [&](int column, bool& keep_a, bool& keep_b) {
          keys.keep(rows, slot0, stage, column, keep_a, keep_b);
        },
        col, scale_log2, alpha_a, alpha_b);
  };

  mbar_wait(full_bar, 0);
  wgmma_fence();
  issue_qk(s, qa, sKV);
  wgmma_commit();
  wgmma_wait<0>();
  fence_regs(s);
  softmax(0, 0);
  pack_p(s, p);

  for (int j = 1; j < n_tiles; ++j) {
    const int cur = j % kStages, prev = (j - 1) % kStages;
    mbar_wait(full_bar + 8 * cur, (j / kStages) & 1);
    fence_regs(o);
    wgmma_fence();
    issue_qk(s, qa, sKV + cur * kStageBytes);
    wgmma_commit();
    issue_pv(o, p, sKV + prev * kStageBytes + kTileBytes);
    wgmma_commit();
    wgmma_wait<1>();  // S of tile j is ready; the PV of tile j - 1 may still run
    fence_regs(s);
    softmax(j, cur);
    wgmma_wait<0>();
    fence_regs(o);
    mbar_arrive(empty_bar + 8 * prev);  // K and V of tile j - 1 are no longer read
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      o[4 * i + 0] *= alpha_a;
      o[4 * i + 1] *= alpha_a;
      o[4 * i + 2] *= alpha_b;
      o[4 * i + 3] *= alpha_b;
    }
    pack_p(s, p);
  }
  fence_regs(o);
  wgmma_fence();
  issue_pv(o, p, sKV + ((n_tiles - 1) % kStages) * kStageBytes + kTileBytes);
  wgmma_commit();
  wgmma_wait<0>();
  fence_regs(o);
  mbar_arrive(empty_bar + 8 * ((n_tiles - 1) % kStages));

  float l_a = st.l_a, l_b = st.l_b;
  l_a += __shfl_xor_sync(0xffffffffu, l_a, 1);
  l_a += __shfl_xor_sync(0xffffffffu, l_a, 2);
  l_b += __shfl_xor_sync(0xffffffffu, l_b, 1);
  l_b += __shfl_xor_sync(0xffffffffu, l_b, 2);
  attn::store_prefill_rows<kD>(dst, n_heads, group, kvh, row_a, row_end, col, st.m_a, st.m_b, l_a, l_b,
                               [&](int i, int half, int e) { return o[4 * i + 2 * half + e]; });
}

// The whole CTA: rows [row0, row_end) (1 to kBM rows) of kv head kvh attend the n_tiles (>= 1) tiles of
// `keys`. smem_raw: kSmemBytes of dynamic shared memory; bars: 2 * kStages static mbarriers.
template <typename Keys>
__device__ __forceinline__ void run_pipeline(const __nv_bfloat16* __restrict__ q, const PagedKv& cache,
                                             const attn::PrefillOut& dst, int n_heads, int group, int kvh,
                                             int row0, int row_end, int pos0, float scale_log2,
                                             int page_shift, const Keys& keys, int n_tiles,
                                             unsigned char* smem_raw, uint64_t* bars) {
  const uint32_t base = (attn::smem_addr(smem_raw) + 1023u) & ~1023u;
  const uint32_t sQ = base, sKV = base + kQBytes;
  const uint32_t full_bar = attn::smem_addr(&bars[0]), empty_bar = attn::smem_addr(&bars[kStages]);
  const int consumers = row_end - row0 > 64 ? 2 : 1;
  if (threadIdx.x == 0) {
#pragma unroll
    for (int s = 0; s < kStages; ++s) {
      mbar_init(full_bar + 8 * s, 128);
      mbar_init(empty_bar + 8 * s, 128 * consumers);
    }
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();

  if (threadIdx.x < 128) {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n" ::: "memory");
    producer(q, cache, n_heads, group, kvh, row0, row_end, keys, n_tiles, page_shift, sQ, sKV, full_bar,
             empty_bar);
  } else if (threadIdx.x < 128 * (consumers + 1)) {
    asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n" ::: "memory");
    consumer(dst, n_heads, group, kvh, row0, row_end, pos0, scale_log2, keys, n_tiles, sQ, sKV, full_bar,
             empty_bar);
  }
}

#endif  // HIPCODE_PREFILL_SM90A

}  // namespace hipcode::cuda::sm90
