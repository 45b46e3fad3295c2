// Pieces shared by the decode (hip-mask.cu) and prefill (hip-mask-prefill.cu) HiP mask estimation: score
// rounding and encoding, the bisection step with the reference's tie rule, the per-list selection (radix
// select of the kept chunks, split into the next stage's chunks) and the host-side bounds of every stage's
// chunk count. Included only by those two .cu files.
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

// Exclusive prefix sum of `v` over the block's threads in thread order (blockDim.x a multiple of 32);
// `total` gets the block's sum. Every thread of the block must call it.
__device__ __forceinline__ int block_exclusive_scan(int v, int& total) {
  __shared__ int warp_sums[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  const int inclusive = warp_inclusive_scan(v);
  if (lane == 31) warp_sums[warp] = inclusive;
  __syncthreads();
  if (warp == 0) {
    warp_sums[lane] = warp_inclusive_scan(lane < warps ? warp_sums[lane] : 0);  // inclusive over the warps
  }
  __syncthreads();
  total = warp_sums[warps - 1];
  const int base = warp == 0 ? 0 : warp_sums[warp - 1];
  __syncthreads();  // the next call rewrites warp_sums
  return base + inclusive - v;
}

// The rank-th smallest (1-based, rank <= n) of ~scores[i], i < n, by the whole block: four passes of an 8-bit
// radix histogram. On return `rank` is its rank among the entries equal to it.
__device__ __forceinline__ uint32_t radix_select(const uint32_t* scores, int n, int& rank) {
  __shared__ int hist[256];
  __shared__ int found_digit, found_before;
  uint32_t prefix = 0, mask = 0;
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int b = threadIdx.x; b < 256; b += blockDim.x) hist[b] = 0;
    __syncthreads();
    // Whole warps walk the list (n rounded up to 32) and add once per bin their lanes share: most scores
    // fall into a few bins of the top digit.
    for (int i = threadIdx.x; i < (n + 31) / 32 * 32; i += blockDim.x) {
      const uint32_t u = i < n ? ~scores[i] : 0u;
      const bool counted = i < n && (u & mask) == prefix;
      const int bin = counted ? (int)((u >> shift) & 255) : 256;
      const unsigned peers = __match_any_sync(0xffffffffu, bin);
      if (counted && __ffs(peers) - 1 == (int)(threadIdx.x & 31)) atomicAdd(&hist[bin], __popc(peers));
    }
    __syncthreads();
    if (threadIdx.x < 32) {  // the digit whose bin holds the rank-th entry: lane l sums bins 8 l .. 8 l + 7
      const int lane = threadIdx.x;
      int sum = 0;
#pragma unroll
      for (int b = 0; b < 8; ++b) sum += hist[lane * 8 + b];
      const int inclusive = warp_inclusive_scan(sum);
      const int crossing = __ffs(__ballot_sync(0xffffffffu, inclusive >= rank)) - 1;
      if (lane == crossing) {
        int before = inclusive - sum, b = lane * 8;
        while (before + hist[b] < rank) before += hist[b++];
        found_digit = b;
        found_before = before;
      }
    }
    __syncthreads();
    prefix |= (uint32_t)found_digit << shift;
    mask |= 255u << shift;
    rank -= found_before;
  }
  return prefix;
}

// One stage's selection for one list (starts strictly ascending in list order), by the whole block
// (blockDim.x a multiple of 32): with more than `keep` chunks, keeps the first `keep` by (score desc, start
// asc) — the entries scoring above the keep-th score, then those equal to it in list order — else the whole
// list; the kept starts go to `keys` in ascending order (capacity min(n, keep)). Then writes them split into
// next_chunk-token children below cand_end (only the last, highest start can be clipped), or the kept starts
// themselves when next_chunk is 0, to out_starts and their number to *out_count.
template <typename StartOf>
__device__ __forceinline__ void select_and_split(int n, const StartOf& start_of, const uint32_t* scores,
                                                 int keep, int chunk, int next_chunk, int cand_end,
                                                 int32_t* keys, int32_t* out_starts, int32_t* out_count) {
  int kept;
  if (n > keep) {
    int ties = keep;  // becomes how many of the entries equal to the threshold are kept
    const uint32_t threshold = radix_select(scores, n, ties);
    // Each thread walks a run of the list, so the kept entries keep their list (= start) order.
    const int per = (n + blockDim.x - 1) / blockDim.x;
    const int first = min(n, (int)threadIdx.x * per), end = min(n, first + per);
    int equal = 0;
    for (int i = first; i < end; ++i) equal += ~scores[i] == threshold;
    int total;
    const int equal_before = block_exclusive_scan(equal, total);
    auto kept_at = [&](int i, int& equal_seen) {
      const uint32_t u = ~scores[i];
      return u < threshold || (u == threshold && equal_seen++ < ties);
    };
    int mine = 0;
    for (int i = first, seen = equal_before; i < end; ++i) mine += kept_at(i, seen);
    int out = block_exclusive_scan(mine, total);
    for (int i = first, seen = equal_before; i < end; ++i) {
      if (kept_at(i, seen)) keys[out++] = start_of(i);
    }
    __syncthreads();
    kept = keep;
  } else {
    for (int i = threadIdx.x; i < n; i += blockDim.x) keys[i] = start_of(i);
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

// Most chunks entering stage i >= 1: the previous stage's survivors split into this stage's chunks.
inline int stage_list_capacity(const HipMaskConfig& config, int stage) {
  return config.stages[stage - 1].keep_tokens / config.stages[stage].chunk_size;
}

// Shared memory of the selection of a stage with up to `bound` chunks keeping `keep` (its kept starts);
// throws when it keeps more than kHipMaskMaxKept.
inline int select_smem_bytes(int bound, int keep, const char* op, int stage) {
  const int kept = std::max(1, std::min(bound, keep));
  HIPCODE_REQUIRE(kept <= kHipMaskMaxKept, op,
                  "stage " + std::to_string(stage) + " keeps up to " + std::to_string(kept) +
                      " chunks, more than the " + std::to_string(kHipMaskMaxKept) +
                      " one selection holds: lower its keep_tokens or raise its chunk_size");
  return kept * (int)sizeof(int32_t);
}

// Raises `kernel`'s dynamic shared-memory limit when `smem` is over the default 48 KiB.
template <typename Kernel>
void allow_select_smem(Kernel kernel, int smem, const char* op) {
  if (smem <= 48 * 1024) return;
  check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  kHipMaskMaxKept * (int)sizeof(int32_t)),
             op, "cannot raise the shared-memory limit");
}

}  // namespace hipcode::cuda::hip_mask
