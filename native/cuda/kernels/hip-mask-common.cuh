// Pieces shared by the decode (hip-mask.cu) and prefill (hip-mask-prefill.cu) HiP mask estimation: score
// rounding and encoding, the bisection step with the reference's tie rule, the per-list selection (bitonic
// sort, keep, split into the next stage's chunks) and the host-side bounds of every stage's chunk count.
// Included only by those two .cu files.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "kernels/hip-mask.cuh"
#include "kernels/kernel-common.cuh"

namespace hipcode::cuda::hip_mask {

// A key's score as the reference ranks it: f32 -> bf16 (round to nearest even) when bf16_scoring.
__device__ __forceinline__ float round_score(float s, bool bf16_scoring) {
  return bf16_scoring ? __bfloat162float(__float2bfloat16_rn(s)) : s;
}

// Order-preserving uint32 encoding of a score (0 ranks below every score); -0 ranks like +0.
__device__ __forceinline__ uint32_t encode_score(float s) {
  if (s == 0.f) s = 0.f;
  const uint32_t u = __float_as_uint(s);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// One bisection step of chunk [lo, hi) (hi - lo > 1) given the scores of the middles of its halves: a strict
// `left > right` keeps the left half, a tie keeps the right one; `run` is the running max of the winners.
__device__ __forceinline__ void bisect_step(int& lo, int& hi, float& run, float left, float right) {
  const int centre = (lo + hi) / 2;
  if (left > right) {
    hi = centre;
    run = fmaxf(run, left);
  } else {
    lo = centre;
    run = fmaxf(run, right);
  }
}

// The probes of chunk [lo, hi) (hi - lo > 1): the middles of its halves.
__device__ __forceinline__ int left_probe(int lo, int hi) {
  return (lo + (lo + hi) / 2) / 2;
}
__device__ __forceinline__ int right_probe(int lo, int hi) {
  return ((lo + hi) / 2 + hi) / 2;
}

// Ascending bitonic sort of keys[0, size) (size a power of two) by the whole block.
__device__ __forceinline__ void bitonic_sort(unsigned long long* keys, int size) {
  for (int k = 2; k <= size; k <<= 1) {
    for (int j = k >> 1; j > 0; j >>= 1) {
      for (int i = threadIdx.x; i < size; i += blockDim.x) {
        const int ixj = i ^ j;
        if (ixj > i) {
          const unsigned long long a = keys[i], b = keys[ixj];
          if ((a > b) == ((i & k) == 0)) {
            keys[i] = b;
            keys[ixj] = a;
          }
        }
      }
      __syncthreads();
    }
  }
}

__host__ __device__ inline int pow2_at_least(int n) {
  int p = 1;
  while (p < n) p <<= 1;
  return p;
}

// One stage's selection for one list, by the whole block: with more than `keep` chunks, sorts
// (~encode(score), start) ascending (= score desc, start asc) in `keys` (capacity pow2_at_least(n)), keeps
// the first `keep` and sorts their starts ascending; else keeps the (ascending) list. Then writes the kept
// starts split into next_chunk-token children below cand_end (only the last, highest start can be clipped),
// or the kept starts themselves when next_chunk is 0, to out_starts and their number to *out_count.
template <typename StartOf>
__device__ __forceinline__ void select_and_split(int n, const StartOf& start_of, const uint32_t* scores,
                                                 int keep, int chunk, int next_chunk, int cand_end,
                                                 unsigned long long* keys, int32_t* out_starts,
                                                 int32_t* out_count) {
  int kept;
  if (n > keep) {
    const int sort_size = pow2_at_least(n), keep_sort_size = pow2_at_least(keep);
    for (int i = threadIdx.x; i < sort_size; i += blockDim.x) {
      keys[i] = i < n ? ((unsigned long long)(~scores[i]) << 32) | (uint32_t)start_of(i) : ~0ull;
    }
    __syncthreads();
    bitonic_sort(keys, sort_size);
    for (int i = threadIdx.x; i < keep_sort_size; i += blockDim.x) {
      keys[i] = i < keep ? (keys[i] & 0xffffffffull) : ~0ull;
    }
    __syncthreads();
    bitonic_sort(keys, keep_sort_size);
    kept = keep;
  } else {
    for (int i = threadIdx.x; i < n; i += blockDim.x) keys[i] = (uint32_t)start_of(i);
    __syncthreads();
    kept = n;
  }
  if (next_chunk == 0) {
    for (int i = threadIdx.x; i < kept; i += blockDim.x) out_starts[i] = (int32_t)keys[i];
    if (threadIdx.x == 0) *out_count = kept;
    return;
  }
  const int ratio = chunk / next_chunk;
  int children = 0;
  if (kept > 0) {
    const int last = (int)keys[kept - 1];
    const int last_end = min(last + chunk, cand_end);
    children = (kept - 1) * ratio + (last_end - last + next_chunk - 1) / next_chunk;
  }
  for (int i = threadIdx.x; i < children; i += blockDim.x) {
    out_starts[i] = (int32_t)keys[i / ratio] + (i % ratio) * next_chunk;
  }
  if (threadIdx.x == 0) *out_count = children;
}

// Host-side upper bounds of every stage's chunk count for a query (block) whose last position is `position`
// (they grow with the position, so the last query block's bound every block's).
struct StagePlan {
  int cand_end = 0;
  int n0 = 0;                         // stage-0 chunks (exact)
  int bound[kHipMaskMaxStages] = {};  // most chunks entering stage i
  int cap = 1;                        // largest bound of the stages i >= 1
};

inline StagePlan make_stage_plan(const HipMaskConfig& config, int position) {
  StagePlan plan;
  plan.cand_end = position - config.window_tokens + 1;
  const int64_t range = std::max<int64_t>(0, (int64_t)plan.cand_end - config.sink_tokens);
  plan.n0 = (int)ceil_div(range, config.stages[0].chunk_size);
  int64_t survivors = 0;
  for (int i = 0; i < config.n_stages; ++i) {
    const HipMaskStage& s = config.stages[i];
    const int64_t n = i == 0 ? plan.n0
                             : std::min<int64_t>(survivors * (config.stages[i - 1].chunk_size / s.chunk_size),
                                                 ceil_div(range, s.chunk_size));
    plan.bound[i] = (int)n;
    survivors = std::min<int64_t>(n, s.keep_tokens / s.chunk_size);
    if (i > 0) plan.cap = std::max(plan.cap, (int)n);
  }
  return plan;
}

// log2 of a (power-of-two) page size.
inline int page_shift_of(int page_size) {
  int shift = 0;
  while ((1 << shift) < page_size) ++shift;
  return shift;
}

// Most chunks entering stage i >= 1: the previous stage's survivors split into this stage's chunks.
inline int stage_list_capacity(const HipMaskConfig& config, int stage) {
  return config.stages[stage - 1].keep_tokens / config.stages[stage].chunk_size;
}

// Shared memory of the selection of a stage with up to `bound` chunks (its sort buffer); throws when it is
// over kHipMaskMaxSort.
inline int select_smem_bytes(int bound, const char* op, int stage) {
  const int sort_size = pow2_at_least(std::max(bound, 1));
  HIPCODE_REQUIRE(sort_size <= kHipMaskMaxSort, op,
                  "stage " + std::to_string(stage) + " has up to " + std::to_string(bound) +
                      " chunks, more than the " + std::to_string(kHipMaskMaxSort) +
                      " one selection can rank (context too long for this chunk size)");
  return sort_size * (int)sizeof(unsigned long long);
}

// Raises `kernel`'s dynamic shared-memory limit when `smem` is over the default 48 KiB.
template <typename Kernel>
void allow_select_smem(Kernel kernel, int smem, const char* op) {
  if (smem <= 48 * 1024) return;
  check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  kHipMaskMaxSort * (int)sizeof(unsigned long long)),
             op, "cannot raise the shared-memory limit");
}

}  // namespace hipcode::cuda::hip_mask
