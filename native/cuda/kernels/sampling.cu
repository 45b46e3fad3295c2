// Sampling kernels.
//   argmax_kernel: one block of 1024 threads scans the row (16-byte loads when aligned) and reduces
//     (value, index) pairs.
//   repetition_penalty_kernel: one thread per previous id; a bitmap in the workspace makes each
//     distinct id penalised exactly once.
//   sample_kernel: one block of 1024 threads. A 4-pass radix select (8 bits per pass, over the
//     order-preserving uint32 image of the floats) finds the k-th largest logit; a pass with
//     block-wide ballot scans gathers the k candidates deterministically (threshold ties: lowest ids)
//     and the full-vocabulary softmax normaliser; a bitonic sort orders them by (logit desc, id asc);
//     block scans then apply top-p, min-p and the draw.
#include <cmath>

#include "kernels/kernel-common.cuh"
#include "kernels/sampling.cuh"

namespace hipcode::cuda {

constexpr int kSampleThreads = 1024;
static_assert(kSamplingMaxCandidates == kSampleThreads, "one candidate per thread");

__device__ __forceinline__ bool better(float v, int i, float bv, int bi) {
  return v > bv || (v == bv && i < bi);
}

static __global__ void __launch_bounds__(kSampleThreads)
    argmax_kernel(const float* __restrict__ logits, int vocab, int32_t* __restrict__ out) {
  __shared__ float s_val[32];
  __shared__ int s_idx[32];
  float bv = -INFINITY;
  int bi = 0x7fffffff;
  const bool vec = (vocab % 4 == 0) && ((reinterpret_cast<uintptr_t>(logits) & 15) == 0);
  if (vec) {
    const float4* l4 = reinterpret_cast<const float4*>(logits);
    for (int i = threadIdx.x; i < vocab / 4; i += blockDim.x) {
      const float4 v = l4[i];
      if (better(v.x, 4 * i, bv, bi)) bv = v.x, bi = 4 * i;
      if (better(v.y, 4 * i + 1, bv, bi)) bv = v.y, bi = 4 * i + 1;
      if (better(v.z, 4 * i + 2, bv, bi)) bv = v.z, bi = 4 * i + 2;
      if (better(v.w, 4 * i + 3, bv, bi)) bv = v.w, bi = 4 * i + 3;
    }
  } else {
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
      const float v = logits[i];
      if (better(v, i, bv, bi)) bv = v, bi = i;
    }
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
    const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
    if (better(ov, oi, bv, bi)) bv = ov, bi = oi;
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) s_val[warp] = bv, s_idx[warp] = bi;
  __syncthreads();
  if (warp == 0) {
    const int n_warps = blockDim.x >> 5;
    bv = lane < n_warps ? s_val[lane] : -INFINITY;
    bi = lane < n_warps ? s_idx[lane] : 0x7fffffff;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
      const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
      if (better(ov, oi, bv, bi)) bv = ov, bi = oi;
    }
    if (lane == 0) *out = bi == 0x7fffffff ? 0 : bi;  // all NaN -> token 0
  }
}

static __global__ void repetition_penalty_kernel(float* __restrict__ logits, int vocab,
                                                 const int32_t* __restrict__ prev_ids, int n_prev,
                                                 float penalty, uint32_t* __restrict__ seen) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n_prev) return;
  const int id = prev_ids[i];
  if (id < 0 || id >= vocab) return;
  const uint32_t bit = 1u << (id & 31);
  if (atomicOr(&seen[id >> 5], bit) & bit) return;  // someone else owns this id
  const float x = logits[id];
  logits[id] = x < 0.f ? x * penalty : x / penalty;
}

// Order-preserving map float -> uint32 (larger float -> larger key); NaN maps to 0 (below -inf).
__device__ __forceinline__ uint32_t order_key(float f) {
  if (f != f) return 0u;
  const uint32_t u = __float_as_uint(f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// Inclusive scan of one float per thread over the block (deterministic). scratch: 32 floats.
__device__ __forceinline__ float block_inclusive_scan(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_inclusive_scan(v);
  __syncthreads();
  if (lane == 31) scratch[warp] = v;
  __syncthreads();
  if (warp == 0) {
    scratch[lane] = warp_inclusive_scan(scratch[lane]);  // inclusive totals per warp
  }
  __syncthreads();
  return warp > 0 ? v + scratch[warp - 1] : v;
}

static __global__ void __launch_bounds__(kSampleThreads)
    sample_kernel(const float* __restrict__ logits, int vocab, int k, bool full_norm, float inv_temp,
                  float top_p, float min_p, float u_host, const float* __restrict__ u_dev,
                  int32_t* __restrict__ out) {
  __shared__ uint32_t hist[256];
  __shared__ float cand_val[kSampleThreads];
  __shared__ int cand_idx[kSampleThreads];
  __shared__ int s_sel, s_remaining, s_rank_min, s_rank_max;
  __shared__ float s_total;
  __shared__ int w_gt[32], w_eq[32];
  __shared__ float scratch[32];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;

  // Max logit (for the softmax) while nothing else is going on.
  float mx = -INFINITY;
  for (int i = tid; i < vocab; i += kSampleThreads) mx = fmaxf(mx, logits[i]);
  mx = warp_max(mx);
  if (lane == 0) scratch[warp] = mx;
  __syncthreads();
  mx = warp_max(scratch[lane]);  // 1024 threads = 32 warps, every slot written
  __syncthreads();

  // Radix select of the k-th largest key.
  uint32_t prefix = 0, prefix_mask = 0;
  int remaining = k;
  for (int shift = 24; shift >= 0; shift -= 8) {
    if (tid < 256) hist[tid] = 0;
    __syncthreads();
    for (int i = tid; i < vocab; i += kSampleThreads) {
      const uint32_t key = order_key(logits[i]);
      if ((key & prefix_mask) == prefix) atomicAdd(&hist[(key >> shift) & 255u], 1u);
    }
    __syncthreads();
    if (tid == 0) {
      int cum = 0, sel = 0;
      for (int d = 255; d >= 0; --d) {
        const int h = (int)hist[d];
        if (cum + h >= remaining) {
          sel = d;
          break;
        }
        cum += h;
      }
      s_sel = sel;
      s_remaining = remaining - cum;
    }
    __syncthreads();
    prefix |= (uint32_t)s_sel << shift;
    prefix_mask |= 255u << shift;
    remaining = s_remaining;
    __syncthreads();
  }
  const uint32_t threshold = prefix;
  const int n_gt = k - remaining;  // candidates strictly above the threshold; `remaining` ties follow

  // Deterministic gather + full softmax normaliser.
  float z_full = 0.f;
  int run_gt = 0, run_eq = 0;
  const uint32_t lanemask_lt = (1u << lane) - 1u;
  for (int base = 0; base < vocab; base += kSampleThreads) {
    const int i = base + tid;
    const float x = i < vocab ? logits[i] : -INFINITY;
    const uint32_t key = i < vocab ? order_key(x) : 0u;
    const bool gt = i < vocab && key > threshold, eq = i < vocab && key == threshold;
    if (full_norm && i < vocab && x == x) z_full += expf((x - mx) * inv_temp);
    const uint32_t bgt = __ballot_sync(0xffffffffu, gt), beq = __ballot_sync(0xffffffffu, eq);
    if (lane == 0) w_gt[warp] = __popc(bgt), w_eq[warp] = __popc(beq);
    __syncthreads();
    int off_gt = 0, off_eq = 0, tot_gt = 0, tot_eq = 0;
    for (int w = 0; w < 32; ++w) {  // 32 smem broadcasts; cheap next to the global loads
      if (w < warp) off_gt += w_gt[w], off_eq += w_eq[w];
      tot_gt += w_gt[w];
      tot_eq += w_eq[w];
    }
    if (gt) {
      const int pos = run_gt + off_gt + __popc(bgt & lanemask_lt);
      cand_val[pos] = x;
      cand_idx[pos] = i;
    }
    if (eq) {
      const int rank = run_eq + off_eq + __popc(beq & lanemask_lt);
      if (rank < remaining) {
        cand_val[n_gt + rank] = x;
        cand_idx[n_gt + rank] = i;
      }
    }
    run_gt += tot_gt;
    run_eq += tot_eq;
    __syncthreads();
  }
  if (full_norm) z_full = block_sum(z_full, scratch);
  if (tid >= k) {
    cand_val[tid] = -INFINITY;
    cand_idx[tid] = 0x7fffffff;
  }
  __syncthreads();

  // Bitonic sort: (value desc, index asc).
  for (int size = 2; size <= kSampleThreads; size <<= 1) {
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      const int j = tid ^ stride;
      if (j > tid) {
        const float vi = cand_val[tid], vj = cand_val[j];
        const int ii = cand_idx[tid], ij = cand_idx[j];
        const bool first_half_desc = (tid & size) == 0;
        const bool j_before_i = better(vj, ij, vi, ii) || (vi != vi && vj == vj);
        const bool i_before_j = better(vi, ii, vj, ij) || (vj != vj && vi == vi);
        if (first_half_desc ? j_before_i : i_before_j) {
          cand_val[tid] = vj;
          cand_val[j] = vi;
          cand_idx[tid] = ij;
          cand_idx[j] = ii;
        }
      }
      __syncthreads();
    }
  }

  // Softmax weights relative to the top candidate; w = prob / prob_top.
  const float v0 = cand_val[0];
  const float v = cand_val[tid];
  float w = (tid < k && v == v && v0 == v0) ? expf((v - v0) * inv_temp) : 0.f;
  if (tid < k && v0 == -INFINITY) w = tid == 0 ? 1.f : 0.f;  // everything masked: take the first
  float z = full_norm ? z_full * expf((mx - v0) * inv_temp) : block_sum(w, scratch);
  if (!(z > 0.f)) z = 1.f;
  bool keep = tid < k && w > 0.f;
  if (top_p < 1.f) {
    const float incl = block_inclusive_scan(w / z, scratch);
    const float excl = incl - w / z;
    keep = keep && (tid == 0 || excl < top_p);
  }
  if (min_p > 0.f) keep = keep && w >= min_p;
  const float kw = keep ? w : 0.f;
  const float cum = block_inclusive_scan(kw, scratch);
  if (tid == 0) {
    s_rank_min = 0x7fffffff;
    s_rank_max = -1;
  }
  __syncthreads();
  if (tid == kSampleThreads - 1) s_total = cum;
  __syncthreads();
  const float u = u_dev ? *u_dev : u_host;
  const float target = u * s_total;
  if (kw > 0.f) {
    if (cum > target) atomicMin(&s_rank_min, tid);
    atomicMax(&s_rank_max, tid);
  }
  __syncthreads();
  if (tid == 0) {
    int rank = s_rank_min != 0x7fffffff ? s_rank_min : s_rank_max;
    if (rank < 0) rank = 0;
    const int id = cand_idx[rank];
    *out = id == 0x7fffffff ? 0 : id;
  }
}

void argmax(const float* logits, int vocab, int32_t* out_token, cudaStream_t stream) {
  HIPCODE_REQUIRE(vocab > 0, "argmax", "vocab must be > 0, got " + std::to_string(vocab));
  argmax_kernel<<<1, kSampleThreads, 0, stream>>>(logits, vocab, out_token);
  check_launch("argmax");
}

size_t sampling_workspace_bytes(int vocab) {
  return (size_t)((vocab + 31) / 32) * sizeof(uint32_t);
}

void sample(float* logits, int vocab, const int32_t* prev_ids, int n_prev, const SamplingParams& params,
            float u, const float* u_dev, int32_t* out_token, void* workspace, size_t workspace_bytes,
            cudaStream_t stream) {
  const char* op = "sample";
  HIPCODE_REQUIRE(vocab > 0, op, "vocab must be > 0, got " + std::to_string(vocab));
  HIPCODE_REQUIRE(n_prev >= 0, op, "n_prev must be >= 0, got " + std::to_string(n_prev));
  HIPCODE_REQUIRE(n_prev == 0 || prev_ids, op, "prev_ids must be set when n_prev > 0");
  HIPCODE_REQUIRE(params.repetition_penalty > 0.f, op, "repetition_penalty must be > 0");
  HIPCODE_REQUIRE(u_dev || (u >= 0.f && u < 1.f), op, "u must be in [0, 1)");
  if (params.repetition_penalty != 1.f && n_prev > 0) {
    HIPCODE_REQUIRE(
        workspace && workspace_bytes >= sampling_workspace_bytes(vocab), op,
        "workspace too small: need " + std::to_string(sampling_workspace_bytes(vocab)) + " bytes");
    check_cuda(cudaMemsetAsync(workspace, 0, sampling_workspace_bytes(vocab), stream), op, "memset");
    repetition_penalty_kernel<<<(unsigned)ceil_div(n_prev, 256), 256, 0, stream>>>(
        logits, vocab, prev_ids, n_prev, params.repetition_penalty, static_cast<uint32_t*>(workspace));
    check_launch("sample (repetition penalty)");
  }
  if (params.temperature <= 0.f) {
    argmax(logits, vocab, out_token, stream);
    return;
  }
  const bool top_k_on = params.top_k > 0;
  int k = top_k_on ? params.top_k : kSamplingMaxCandidates;
  if (k > kSamplingMaxCandidates) k = kSamplingMaxCandidates;
  if (k > vocab) k = vocab;
  sample_kernel<<<1, kSampleThreads, 0, stream>>>(logits, vocab, k, !top_k_on, 1.f / params.temperature,
                                                  params.top_p, params.min_p, u, u_dev, out_token);
  check_launch(op);
}

}  // namespace hipcode::cuda
