// Device helpers shared by the attention kernels: cp.async copies, ldmatrix / mma.sync m16n8k16
// (bf16 in, f32 accumulate) wrappers, the loader of K/V rows from the paged cache into shared memory,
// and the key policy of the dense prefill kernels. Included only by the attention kernels (attention-*.cu,
// hip-*.cu and their .cuh helpers).
//
// Fragment layouts (PTX ISA, mma.m16n8k16, g = lane / 4, t = lane % 4):
//   A 16x16 (row-major): a0 = (g, 2t..2t+1), a1 = (g+8, 2t..), a2 = (g, 2t+8..), a3 = (g+8, 2t+8..)
//   B 16x8  (k x n):     b0 = (k 2t..2t+1, n g), b1 = (k 2t+8.., n g)
//   C 16x8  (f32):       c0,c1 = (g, 2t..2t+1), c2,c3 = (g+8, 2t..2t+1)
// Shared-memory tiles are row-major with a row stride of head_dim + 8 elements, so the 8 rows an
// ldmatrix reads start 16 bytes apart modulo 128 and hit distinct banks.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "kernels/kernel-common.cuh"
#include "kernels/paged-kv.cuh"

namespace hipcode::cuda::attn {

constexpr float kLog2e = 1.4426950408889634f;

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16-byte global -> shared copy; when `valid` is false the destination is zero-filled.
__device__ __forceinline__ void cp_async_16(void* smem, const void* gmem, bool valid) {
  const int src_bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(smem)), "l"(gmem),
               "r"(src_bytes));
}

__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::);
}

template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t& r0, uint32_t& r1, uint32_t& r2, uint32_t& r3,
                                            const void* smem) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
               : "r"(smem_addr(smem)));
}

__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t& r0, uint32_t& r1, uint32_t& r2, uint32_t& r3,
                                                  const void* smem) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
               : "r"(smem_addr(smem)));
}

// c += a * b for one m16n8k16 tile.
__device__ __forceinline__ void mma_bf16(float* c, const uint32_t* a, uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}

// Key policy of the prefill kernels (attention-prefill-mma.cuh, attention-prefill-sm90-pipeline.cuh): which
// key every slot of the walked key list holds, and which (row, slot) pairs are masked.
//   int load(int stage, int row, int slot, bool record) const
//       the logical key of `slot` (row `row` of the tile loaded into buffer `stage`), or -1 when no row
//       attends it (the slot is zero-filled); exactly one caller per slot gets record = true and may leave
//       what the mask needs in shared memory (read after the barrier that publishes the tile).
//   struct Rows; Rows rows(int qpos_a, int qpos_b, int pos_min, int pos_max) const
//       a thread's two query rows (positions) and the position range of the rows that share its tiles'
//       masking decision (a warp or a warpgroup).
//   bool need_mask(const Rows&, int slot0, int n_slots, int stage) const
//       false when every row of that range attends every slot of the tile [slot0, slot0 + n_slots).
//   void keep(const Rows&, int slot0, int stage, int column, bool& keep_a, bool& keep_b) const
//       whether rows a and b attend slot slot0 + column.
//
// CausalKeys: the dense causal prefill, slot i = key k_begin + i, keys < k_end loaded; query at q attends
// keys (q - window, q] (window 0: all keys <= q).
struct CausalKeys {
  int k_begin, k_end, window;

  struct Rows {
    int qpos_a, qpos_b, pos_min, pos_max;
  };
  __device__ int load(int, int, int slot, bool) const {
    const int key = k_begin + slot;
    return key < k_end ? key : -1;
  }
  __device__ Rows rows(int qpos_a, int qpos_b, int pos_min, int pos_max) const {
    return {qpos_a, qpos_b, pos_min, pos_max};
  }
  __device__ bool need_mask(const Rows& r, int slot0, int n_slots, int) const {
    const int key0 = k_begin + slot0;
    return key0 + n_slots - 1 > r.pos_min || (window > 0 && key0 <= r.pos_max - window);
  }
  __device__ void keep(const Rows& r, int slot0, int, int column, bool& keep_a, bool& keep_b) const {
    const int key = k_begin + slot0 + column;
    keep_a = key <= r.qpos_a && (window == 0 || key > r.qpos_a - window);
    keep_b = key <= r.qpos_b && (window == 0 || key > r.qpos_b - window);
  }
};

// Split-K of a dense prefill (few query rows against many keys): the CTAs of split blockIdx.z walk tiles
// [first, end) of the n_tiles tiles of their key range (gridDim.z splits of equal length; empty when
// first == end).
struct SplitTiles {
  int first, end;
};
__device__ __forceinline__ SplitTiles split_tiles(int n_tiles) {
  const int per = (n_tiles + (int)gridDim.z - 1) / (int)gridDim.z;
  const int first = min(n_tiles, (int)blockIdx.z * per);
  return {first, min(n_tiles, first + per)};
}

// The keys of split `tiles` of a causal range of `tile_keys`-key tiles: every split but the last ends on a
// tile boundary, so no split zero-fills a key its rows attend.
__device__ __forceinline__ CausalKeys split_keys(const CausalKeys& all, SplitTiles tiles, int tile_keys) {
  return {all.k_begin + tiles.first * tile_keys, min(all.k_end, all.k_begin + tiles.end * tile_keys),
          all.window};
}

// Where the rows of a prefill CTA go (row r = token * group + head of kv head kvh). Without partials: out
// [n_q, n_heads, kD], normalised bf16. With them (split-K, split blockIdx.z): the unnormalised partials of
// split-combine.cuh, part_o [n_q * n_heads, n_splits, kD] and part_ml [n_q * n_heads, n_splits, 2].
struct PrefillOut {
  __nv_bfloat16* out = nullptr;
  float* part_o = nullptr;
  float* part_ml = nullptr;
  int n_splits = 1;
};

// Stores a thread's rows row_a and row_a + 8 (those below row_end): value(i, half, e) is dimension
// 8 i + col + e of row row_a + 8 half; m_* are the rows' running maxima (log2 domain), l_* their sums over
// the whole quad of lanes.
template <int kD, typename Value>
__device__ __forceinline__ void store_prefill_rows(const PrefillOut& dst, int n_heads, int group, int kvh,
                                                   int row_a, int row_end, int col, float m_a, float m_b,
                                                   float l_a, float l_b, const Value& value) {
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int row = row_a + 8 * half;
    if (row >= row_end) continue;
    const int t = row / group, g = row - t * group;
    const int64_t out_row = (int64_t)t * n_heads + kvh * group + g;
    const float l = half ? l_b : l_a;
    if (dst.part_o) {
      const int64_t slot = out_row * dst.n_splits + blockIdx.z;
      float* po = dst.part_o + slot * kD + col;
#pragma unroll
      for (int i = 0; i < kD / 8; ++i)
        *reinterpret_cast<float2*>(po + 8 * i) = make_float2(value(i, half, 0), value(i, half, 1));
      if (col == 0) {
        dst.part_ml[2 * slot] = half ? m_b : m_a;
        dst.part_ml[2 * slot + 1] = l;
      }
      continue;
    }
    const float inv = l > 0.f ? 1.f / l : 0.f;
    __nv_bfloat16* po = dst.out + out_row * kD + col;
#pragma unroll
    for (int i = 0; i < kD / 8; ++i) {
      *reinterpret_cast<__nv_bfloat162*>(po + 8 * i) =
          __floats2bfloat162_rn(value(i, half, 0) * inv, value(i, half, 1) * inv);
    }
  }
}

// The partials of rows [row0, row_end) of a CTA whose split holds no key: max -inf, sum 0, zeros.
template <int kD>
__device__ __forceinline__ void store_empty_split(const PrefillOut& dst, int n_heads, int group, int kvh,
                                                  int row0, int row_end) {
  for (int idx = threadIdx.x; idx < (row_end - row0) * kD; idx += blockDim.x) {
    const int row = row0 + idx / kD, d = idx % kD;
    const int t = row / group, g = row - t * group;
    const int64_t slot = ((int64_t)t * n_heads + kvh * group + g) * dst.n_splits + blockIdx.z;
    dst.part_o[slot * kD + d] = 0.f;
    if (d == 0) {
      dst.part_ml[2 * slot] = -INFINITY;
      dst.part_ml[2 * slot + 1] = 0.f;
    }
  }
}

// Copies the K/V rows of slots [slot0, slot0 + kRows) of kv head `kvh` into sK / sV (row stride kD + 8).
// Slots past slot_end, masked slots and unmapped pages are zero-filled (so 0 * V never meets garbage); slots
// below keys.hot_end come from the keys' hot rows. fp8 page rows are read into registers (all of this
// thread's at once, so their loads overlap), then converted into place.
template <int kD, int kRows, int kThreads, bool kFp8, typename Keys>
__device__ __forceinline__ void load_kv_slots(__nv_bfloat16* sK, __nv_bfloat16* sV, const PagedKv& cache,
                                              int page_shift, int kvh, const Keys& keys, int slot0,
                                              int slot_end) {
  constexpr int kChunks = kD / 8;
  constexpr int kStride = kD + 8;
  constexpr int kItems = kFp8 ? (kRows * kChunks + kThreads - 1) / kThreads : 1;
  const int row_elems = cache.n_kv_heads * kD;
  Fp8x8 fp8_k[kItems], fp8_v[kItems];
  int fp8_at[kItems];  // where item i's fp8 values go in sK / sV, -1 for none
#pragma unroll
  for (int i = 0; i < kItems; ++i) fp8_at[i] = -1;
  constexpr int kPasses = (kRows * kChunks + kThreads - 1) / kThreads;
#pragma unroll(kFp8 ? kPasses : 1)
  for (int i = 0; i < kPasses; ++i) {
    const int idx = threadIdx.x + i * kThreads;
    if (idx >= kRows * kChunks) continue;
    const int r = idx / kChunks, c = idx % kChunks;
    const int slot = slot0 + r;
    const int key = slot < slot_end ? keys.key(slot) : -1;
    bool valid = key >= 0;
    const __nv_bfloat16* k_rows = cache.k_pages;
    const __nv_bfloat16* v_rows = cache.v_pages;
    int64_t off = 0;
    if (valid && slot < keys.hot_end) {
      k_rows = keys.hot_k;
      v_rows = keys.hot_v;
      off = (int64_t)slot * row_elems + kvh * kD + c * 8;
    } else if (valid) {
      const int page = kv_page(cache, page_shift, key);
      valid = page >= 0;
      if constexpr (kFp8) {
        if (valid) {
          const int64_t row = kv_fp8_row_offset(cache, page, key);
          fp8_k[i] = kv_fp8_read8(cache.k_fp8 + row, cache.n_kv_heads, kD, kvh, c * 8);
          fp8_v[i] = kv_fp8_read8(cache.v_fp8 + row, cache.n_kv_heads, kD, kvh, c * 8);
          fp8_at[i] = r * kStride + c * 8;
          continue;
        }
      }
      off = valid ? kv_row_offset(cache, page, key) + kvh * kD + c * 8 : 0;
    }
    cp_async_16(sK + r * kStride + c * 8, k_rows + off, valid);
    cp_async_16(sV + r * kStride + c * 8, v_rows + off, valid);
  }
#pragma unroll
  for (int i = 0; i < kItems; ++i) {
    if (!kFp8 || fp8_at[i] < 0) continue;
    *reinterpret_cast<uint4*>(sK + fp8_at[i]) = kv_fp8_bf16x8(fp8_k[i]);
    *reinterpret_cast<uint4*>(sV + fp8_at[i]) = kv_fp8_bf16x8(fp8_v[i]);
  }
}

}  // namespace hipcode::cuda::attn
