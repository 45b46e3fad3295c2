// HiP decode mask estimation (see hip-mask.cuh for the semantics).
//
// Stage lists: stage i >= 1 reads its input list (count, starts) from the stage-list buffer, where stage i -
// 1's selection wrote it (stage 0's list is implicit: start = sink + j * chunk, count known on the host); the
// lists stay there, so a later call can re-run the stages from any i >= 1. Workspace: [scores: uint32 x cap],
// cap = the largest chunk list of any stage. Scores are stored as order-preserving uint32 encodings so the
// max over heads is an atomicMax (0 = below every score; the memset before each scoring kernel resets them).
//
// hip_mask_score_kernel: grid (ceil(cap / 4), n_kv_heads * ceil(group / 8)), 4 warps. Warp w of block x
// scores chunk 4x + w for up to 8 q heads of one kv group: every head bisects its own way (probes differ
// per head), all in lockstep so the up to 16 probe-key loads of one step are in flight together. Each lane
// holds head_dim / 32 dims; dot products are f64 (exact for bf16 inputs), the step's 16 dots summed over the
// warp together by halving exchanges, and every lane reads each head's two scores back, so control flow
// stays warp-uniform.
//
// hip_mask_select_kernel: one CTA of 1024 threads running hip_mask::select_and_split (hip-mask-common.cuh):
// the top `keep` chunks by (score desc, start asc), ascending, split into the next stage's list or, after the
// last stage, written as the output blocks.
#include <algorithm>
#include <climits>
#include <cmath>
#include <string>

#include "kernels/hip-mask-common.cuh"
#include "kernels/hip-mask.cuh"
#include "kernels/kernel-common.cuh"
#include "kernels/kv-write.cuh"

namespace hipcode::cuda {

namespace {

using namespace hip_mask;

constexpr int kScoreWarps = 4;
constexpr int kHeadsPerWarp = 8;
constexpr int kSelectThreads = 1024;

// Sums each of the 16 lane partials v[d] over the warp by halving exchanges (16 f64 shuffles in all, not 16
// per sum); lane l ends with the sum of dot l / 2. The sums are exact (f64 sums of exact products), so the
// order does not change them.
template <int M>
__device__ __forceinline__ void halve_sums(double (&v)[16], int lane) {
  const bool upper = lane & (2 * M);
#pragma unroll
  for (int i = 0; i < M; ++i) {
    const double send = upper ? v[i] : v[i + M];
    const double keep = upper ? v[i + M] : v[i];
    v[i] = keep + __shfl_xor_sync(0xffffffffu, send, 2 * M);
  }
}

__device__ __forceinline__ double warp_sums_16(double (&v)[16], int lane) {
  halve_sums<8>(v, lane);
  halve_sums<4>(v, lane);
  halve_sums<2>(v, lane);
  halve_sums<1>(v, lane);
  return v[0] + __shfl_xor_sync(0xffffffffu, v[0], 1);
}

// f64 sum -> f32 -> (bf16) ; NaN -> -inf (the reference's key_score for one row).
__device__ __forceinline__ float finish_score(double sum, bool bf16_scoring) {
  const float s = round_score(__double2float_rn(sum), bf16_scoring);
  return isnan(s) ? -INFINITY : s;
}

template <int kD>
struct KeyVec;
template <>
struct KeyVec<128> {
  using T = uint2;  // 4 bf16
};
template <>
struct KeyVec<64> {
  using T = uint32_t;  // 2 bf16
};

// The physical pages of a chunk's keys: lane l holds the page of logical page first + l (-1: past the table
// or unmapped), for chunks spanning at most 32 pages; longer ones (`direct`) look each key's page up.
struct ChunkPages {
  int first, mine;
  bool direct;
};

__device__ __forceinline__ ChunkPages chunk_pages(const PagedKv& cache, int page_shift, int start, int end,
                                                  int lane) {
  const int first = start >> page_shift;
  const bool direct = ((end - 1) >> page_shift) - first >= 32;
  const int logical = first + lane;
  int page = !direct && logical < cache.max_pages_per_seq ? __ldg(cache.page_table + logical) : -1;
  if (page >= cache.num_pages) page = -1;
  return {first, page, direct};
}

// Lane `lane`'s share of kv head kvh's key in an fp8 row, as bf16 (exact).
template <int kD>
__device__ __forceinline__ typename KeyVec<kD>::T fp8_key(const uint8_t* row, int n_kv_heads, int kvh,
                                                          int lane) {
  constexpr int kE = kD / 32;
  const float scale = kv_fp8_scale(row, n_kv_heads, kD, kvh);
  const uint8_t* src = row + kvh * kD + lane * kE;
  typename KeyVec<kD>::T out;
  __nv_bfloat162* pairs = reinterpret_cast<__nv_bfloat162*>(&out);
  if constexpr (kE == 4) {
    const unsigned int raw = __ldg(reinterpret_cast<const unsigned int*>(src));
    pairs[0] = kv_fp8_pair(uint16_t(raw), scale);
    pairs[1] = kv_fp8_pair(uint16_t(raw >> 16), scale);
  } else {
    pairs[0] = kv_fp8_pair(__ldg(reinterpret_cast<const unsigned short*>(src)), scale);
  }
  return out;
}

// Lane `lane`'s share of kv head kvh's key `key` (warp-uniform), a key of the chunk of `pages`.
template <int kD>
__device__ __forceinline__ typename KeyVec<kD>::T load_key(const PagedKv& cache, const ChunkPages& pages,
                                                           int page_shift, int kvh, int key, int lane) {
  constexpr int kE = kD / 32;
  using T = typename KeyVec<kD>::T;
  const int logical = key >> page_shift;
  int page = __shfl_sync(0xffffffffu, pages.mine, (logical - pages.first) & 31);
  if (pages.direct) page = kv_page(cache, page_shift, key);
  if (page < 0) return T{};
  if (kv_is_fp8(cache))
    return fp8_key<kD>(cache.k_fp8 + kv_fp8_row_offset(cache, page, key), cache.n_kv_heads, kvh, lane);
  const int64_t off = kv_row_offset(cache, page, key) + kvh * kD + lane * kE;
  return __ldg(reinterpret_cast<const T*>(cache.k_pages + off));
}

// This lane's head_dim / 32 dims of a key, widened to f64.
template <int kD>
__device__ __forceinline__ void widen(typename KeyVec<kD>::T k, double (&kd)[kD / 32]) {
  const __nv_bfloat16* kb = reinterpret_cast<const __nv_bfloat16*>(&k);
#pragma unroll
  for (int e = 0; e < kD / 32; ++e) kd[e] = (double)__bfloat162float(kb[e]);
}

// This lane's share of q . k in f64 (the products of bf16 values are exact).
template <int kE>
__device__ __forceinline__ double lane_dot(const double (&qd)[kE], const double (&kd)[kE]) {
  double s = 0;
#pragma unroll
  for (int e = 0; e < kE; ++e) s = fma(qd[e], kd[e], s);
  return s;
}

template <int kD>
__global__ void __launch_bounds__(kScoreWarps * 32, 3)
    hip_mask_score_kernel(const __nv_bfloat16* __restrict__ q, PagedKv cache, int group, int page_shift,
                          const int32_t* __restrict__ count_dev, int count_host,
                          const int32_t* __restrict__ starts, uint32_t* __restrict__ scores, int keep,
                          int sink, int chunk, int cand_end, bool bf16_scoring, HipProbeCache probe) {
  constexpr int kE = kD / 32;
  using T = typename KeyVec<kD>::T;
  pdl_wait();
  pdl_launch_dependents();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int n = count_dev ? *count_dev : count_host;
  if (n <= keep) return;  // kept without scoring
  const int j = blockIdx.x * kScoreWarps + warp;
  if (j >= n) return;
  const int head_chunks = (group + kHeadsPerWarp - 1) / kHeadsPerWarp;
  const int kvh = blockIdx.y / head_chunks, hc = blockIdx.y % head_chunks;
  const int h0 = kvh * group + hc * kHeadsPerWarp;
  const int nh = min(kHeadsPerWarp, group - hc * kHeadsPerWarp);
  const int start = starts ? starts[j] : sink + j * chunk;
  const int right = min(start + chunk, cand_end);
  const ChunkPages pages = chunk_pages(cache, page_shift, start, right, lane);

  double qd[kHeadsPerWarp][kE];  // zeros for heads past the group
#pragma unroll
  for (int g = 0; g < kHeadsPerWarp; ++g) {
#pragma unroll
    for (int e = 0; e < kE; ++e)
      qd[g][e] = g < nh ? (double)__bfloat162float(q[(int64_t)(h0 + g) * kD + lane * kE + e]) : 0.0;
  }

  // A step scores 16 dots: head g's left and right probe are dots 2 g and 2 g + 1 (zero for heads past the
  // group); the warp-wide sums leave dot d in lanes 2 d and 2 d + 1, so head g's scores are read back from
  // lanes 4 g and 4 g + 2.
  double dots[16];
  auto step_score = [&]() { return finish_score(warp_sums_16(dots, lane), bf16_scoring); };
  auto head_dots = [&](int g, const double(&left)[kE], const double(&right_key)[kE]) {
    dots[2 * g] = g < nh ? lane_dot(qd[g], left) : 0.0;
    dots[2 * g + 1] = g < nh ? lane_dot(qd[g], right_key) : 0.0;
  };
  // Lane's share of `key`, the probe on `side` of interval `path` at bisection step `level`: from the probe
  // cache when it holds the chunk's probes of that step, else from the pages.
  const bool cached_chunk = probe.rows && !starts && right - start == chunk && j < probe.chunks;
  const int chunk_shift = 31 - __clz(chunk);  // the probe cache takes power-of-two chunks only
  auto probe_key = [&](int level, int path, int side, int key) {
    if (cached_chunk && level <= probe.levels) {
      const int64_t slot = (int64_t)j * hip_probe_cache_slots(probe.levels) +
                           hip_probe_cache_slots(level - 1) + 2 * path + side;
      return __ldg(
          reinterpret_cast<const T*>(probe.rows + slot * cache.n_kv_heads * kD + kvh * kD + lane * kE));
    }
    return load_key<kD>(cache, pages, page_shift, kvh, key, lane);
  };
  auto widened_key = [&](int level, int path, int side, int key, double(&kd)[kE]) {
    widen<kD>(probe_key(level, path, side, key), kd);
  };
  float best = -INFINITY;  // max over this warp's heads
  if (right - start == 1) {
    double kd[kE];
    widen<kD>(load_key<kD>(cache, pages, page_shift, kvh, start, lane), kd);
#pragma unroll
    for (int g = 0; g < kHeadsPerWarp; ++g) {
      dots[2 * g] = g < nh ? lane_dot(qd[g], kd) : 0.0;
      dots[2 * g + 1] = 0.0;
    }
    const float score = step_score();
#pragma unroll
    for (int g = 0; g < kHeadsPerWarp; ++g) {
      const float s = __shfl_sync(0xffffffffu, score, 4 * g);
      if (g < nh) best = fmaxf(best, s);
    }
  } else {
    int lo[kHeadsPerWarp], hi[kHeadsPerWarp];
    float run[kHeadsPerWarp];
#pragma unroll
    for (int g = 0; g < kHeadsPerWarp; ++g) {
      lo[g] = start;
      hi[g] = g < nh ? right : start + 1;  // unused heads are finished from the start
      run[g] = -INFINITY;
    }
    auto bisect_all = [&](float score) {
#pragma unroll
      for (int g = 0; g < kHeadsPerWarp; ++g) {
        const float ls = __shfl_sync(0xffffffffu, score, 4 * g);
        const float rs = __shfl_sync(0xffffffffu, score, 4 * g + 2);
        if (hi[g] - lo[g] > 1) bisect_step(lo[g], hi[g], run[g], ls, rs);
      }
    };
    {  // every head's first step probes the same two keys: loaded and widened once
      double left[kE], right_key[kE];
      widened_key(1, 0, 0, left_probe(start, right), left);
      widened_key(1, 0, 1, right_probe(start, right), right_key);
#pragma unroll
      for (int g = 0; g < kHeadsPerWarp; ++g) head_dots(g, left, right_key);
      bisect_all(step_score());
    }
    if (right - start >= 4) {  // the second step: each head kept one half, whose two probes it shares
      const int mid = (start + right) / 2;
      double a[kE], b[kE], c[kE], d[kE];
      widened_key(2, 0, 0, left_probe(start, mid), a);
      widened_key(2, 0, 1, right_probe(start, mid), b);
      widened_key(2, 1, 0, left_probe(mid, right), c);
      widened_key(2, 1, 1, right_probe(mid, right), d);
#pragma unroll
      for (int g = 0; g < kHeadsPerWarp; ++g) {
        const bool left_half = lo[g] == start;
        double left[kE], right_key[kE];
#pragma unroll
        for (int e = 0; e < kE; ++e) {
          left[e] = left_half ? a[e] : c[e];
          right_key[e] = left_half ? b[e] : d[e];
        }
        head_dots(g, left, right_key);
      }
      bisect_all(step_score());
    }
    for (int level = right - start >= 4 ? 3 : 2;; ++level) {
      bool any = false;
      T kl[kHeadsPerWarp], kr[kHeadsPerWarp];
#pragma unroll
      for (int g = 0; g < kHeadsPerWarp; ++g) {
        kl[g] = kr[g] = T{};
        if (hi[g] - lo[g] > 1) {
          any = true;
          // A full chunk of 2^chunk_shift keys halves exactly: step `level`'s interval index is lo's offset
          // in units of its length.
          const int path = (lo[g] - start) >> (chunk_shift - level + 1);
          kl[g] = probe_key(level, path, 0, left_probe(lo[g], hi[g]));
          kr[g] = probe_key(level, path, 1, right_probe(lo[g], hi[g]));
        }
      }
      if (!any) break;
#pragma unroll
      for (int g = 0; g < kHeadsPerWarp; ++g) {
        double left[kE], right_key[kE];
        widen<kD>(kl[g], left);
        widen<kD>(kr[g], right_key);
        head_dots(g, left, right_key);
      }
      bisect_all(step_score());
    }
#pragma unroll
    for (int g = 0; g < kHeadsPerWarp; ++g) {
      if (g < nh) best = fmaxf(best, run[g]);
    }
  }
  if (lane == 0) atomicMax(scores + j, encode_score(best));
}

// Then clears scores[0, clear) for the next stage's scoring.
__global__ void __launch_bounds__(kSelectThreads)
    hip_mask_select_kernel(const int32_t* __restrict__ count_dev, int count_host,
                           const int32_t* __restrict__ starts, uint32_t* __restrict__ scores, int keep,
                           int sink, int chunk, int next_chunk, int cand_end,
                           int32_t* __restrict__ out_starts, int32_t* __restrict__ out_count, int clear) {
  extern __shared__ int32_t keys[];  // [min(n, keep)]: the kept starts
  pdl_wait();
  pdl_launch_dependents();
  const bool implicit = count_host >= 0;  // stage 0: start = sink + j * chunk
  const int n = implicit ? count_host : *count_dev;
  auto start_of = [&](int j) { return implicit ? sink + j * chunk : starts[j]; };
  select_and_split(n, start_of, scores, keep, chunk, next_chunk, cand_end, keys, out_starts, out_count);
  __syncthreads();  // every read of the scores is done
  for (int i = threadIdx.x; i < clear; i += blockDim.x) scores[i] = 0;
}

constexpr int kFillWarps = 8;

// Warp w of CTA x copies probe-cache item 8x + w of chunks [first_chunk, ...): the row (every kv head) of one
// slot's probe key, found by halving the chunk along the slot's path.
__global__ void __launch_bounds__(kFillWarps * 32)
    hip_probe_fill_kernel(PagedKv cache, HipProbeCache probe, int first_chunk, int items, int sink, int chunk,
                          int page_shift) {
  const int item = blockIdx.x * kFillWarps + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (item >= items) return;
  const int slots = hip_probe_cache_slots(probe.levels);
  const int j = first_chunk + item / slots, slot = item % slots;
  int level = 1;  // step l's slots: [hip_probe_cache_slots(l - 1), hip_probe_cache_slots(l))
  while (hip_probe_cache_slots(level) <= slot) ++level;
  const int index = slot - hip_probe_cache_slots(level - 1), path = index / 2, side = index % 2;
  int lo = sink + j * chunk, hi = lo + chunk;
  for (int bit = level - 2; bit >= 0; --bit) {
    const int centre = (lo + hi) / 2;
    if ((path >> bit) & 1) {
      lo = centre;
    } else {
      hi = centre;
    }
  }
  if (hi - lo <= 1) return;  // an interval of one key has no probes
  const int key = side ? right_probe(lo, hi) : left_probe(lo, hi);
  const int64_t row = (int64_t)cache.n_kv_heads * cache.head_dim;  // elements
  const int page = kv_page(cache, page_shift, key);
  uint4* dst = reinterpret_cast<uint4*>(probe.rows + ((int64_t)j * slots + slot) * row);
  if (page >= 0 && kv_is_fp8(cache)) {
    kv_fp8_row_to_bf16(cache.k_fp8 + kv_fp8_row_offset(cache, page, key), cache.n_kv_heads, cache.head_dim,
                       dst, lane);
    return;
  }
  const uint4* src =
      page < 0 ? nullptr : reinterpret_cast<const uint4*>(cache.k_pages + kv_row_offset(cache, page, key));
  for (int c = lane; c < int(row / 8); c += 32) dst[c] = src ? src[c] : uint4{};
}

// Stage i's (i >= 1) input list in the stage-list buffer: [count, starts...].
int32_t* stage_list(const HipMaskConfig& config, int32_t* lists, int stage) {
  for (int i = 1; i < stage; ++i) lists += 1 + stage_list_capacity(config, i);
  return lists;
}

}  // namespace

void hip_mask_validate_config(const HipMaskConfig& config) {
  const char* op = "hip_mask";
  HIPCODE_REQUIRE(config.block_q >= 1, op,
                  "HipMaskConfig.block_q must be >= 1, got " + std::to_string(config.block_q));
  HIPCODE_REQUIRE(config.sink_tokens >= 0, op, "HipMaskConfig.sink_tokens must be >= 0");
  HIPCODE_REQUIRE(config.window_tokens >= 1, op, "HipMaskConfig.window_tokens must be >= 1");
  HIPCODE_REQUIRE(config.n_stages >= 1 && config.n_stages <= kHipMaskMaxStages, op,
                  "HipMaskConfig.n_stages must be in [1, " + std::to_string(kHipMaskMaxStages) + "], got " +
                      std::to_string(config.n_stages));
  for (int i = 0; i < config.n_stages; ++i) {
    const HipMaskStage& s = config.stages[i];
    const std::string name = "HipMaskConfig.stages[" + std::to_string(i) + "]";
    HIPCODE_REQUIRE(s.chunk_size >= 1, op, name + ".chunk_size must be >= 1");
    HIPCODE_REQUIRE(s.keep_tokens >= s.chunk_size && s.keep_tokens % s.chunk_size == 0, op,
                    name + ".keep_tokens must be a positive multiple of chunk_size");
    HIPCODE_REQUIRE(s.query_stride >= 1 && config.block_q % s.query_stride == 0, op,
                    name + ".query_stride must be a positive divisor of block_q " +
                        std::to_string(config.block_q) + ", got " + std::to_string(s.query_stride));
    if (i > 0) {
      HIPCODE_REQUIRE(config.stages[i - 1].chunk_size % s.chunk_size == 0, op,
                      name + ".chunk_size must divide the previous stage's chunk_size");
      HIPCODE_REQUIRE(s.keep_tokens <= config.stages[i - 1].keep_tokens, op,
                      name + ".keep_tokens must be <= the previous stage's keep_tokens");
    }
  }
}

size_t hip_mask_stage_lists_ints(const HipMaskConfig& config) {
  hip_mask_validate_config(config);
  size_t ints = 0;
  for (int i = 1; i < config.n_stages; ++i) ints += 1 + stage_list_capacity(config, i);
  return std::max<size_t>(ints, 1);
}

namespace {

// Bytes of the stage lists at the start of hip_mask_decode's workspace, rounded up so the scores stay 16-byte
// aligned.
size_t workspace_list_bytes(const HipMaskConfig& config) {
  return (hip_mask_stage_lists_ints(config) * sizeof(int32_t) + 15) / 16 * 16;
}

}  // namespace

size_t hip_mask_decode_workspace_bytes(const HipMaskConfig& config, int max_position) {
  hip_mask_validate_config(config);
  const StagePlan plan = make_stage_plan(config, max_position);
  const size_t scores = (size_t)std::max(plan.cap, plan.n0) + 1;
  return scores * sizeof(uint32_t) + workspace_list_bytes(config);
}

void hip_mask_decode(const __nv_bfloat16* q, const PagedKv& cache, int n_heads, int position,
                     const HipMaskConfig& config, int32_t* blocks, int32_t* n_blocks, void* workspace,
                     size_t workspace_bytes, cudaStream_t stream) {
  HIPCODE_REQUIRE(
      workspace && workspace_bytes >= hip_mask_decode_workspace_bytes(config, position), "hip_mask_decode",
      "workspace too small: need " + std::to_string(hip_mask_decode_workspace_bytes(config, position)) +
          " bytes, got " + std::to_string(workspace_bytes));
  const size_t list_bytes = workspace_list_bytes(config);
  auto* lists = static_cast<int32_t*>(workspace);
  hip_mask_decode_staged(q, cache, n_heads, position, config, 0, lists, blocks, n_blocks,
                         static_cast<unsigned char*>(workspace) + list_bytes, workspace_bytes - list_bytes,
                         stream);
}

int hip_probe_cache_full_chunks(const HipMaskConfig& config, int position) {
  const int64_t range = (int64_t)position - config.window_tokens + 1 - config.sink_tokens;
  return range > 0 ? (int)(range / config.stages[0].chunk_size) : 0;
}

void hip_probe_cache_fill(const PagedKv& cache, const HipMaskConfig& config, int position,
                          HipProbeCache& probe, cudaStream_t stream) {
  const char* op = "hip_probe_cache_fill";
  check_paged_kv(cache, op);
  HIPCODE_REQUIRE(probe.rows && probe.levels >= 1 && probe.levels <= 16, op,
                  "the cache needs rows and 1 to 16 levels, got " + std::to_string(probe.levels));
  const int chunk = config.stages[0].chunk_size;
  HIPCODE_REQUIRE(hip_probe_cache_supports(config), op,
                  "stage 0's chunk_size must be a power of two, got " + std::to_string(chunk));
  HIPCODE_REQUIRE(is_aligned(cache.k_pages, 16) && is_aligned(probe.rows, 16), op,
                  "the K pages and the cache rows must be 16-byte aligned");
  const int end = hip_probe_cache_full_chunks(config, position);
  HIPCODE_REQUIRE(end <= probe.capacity, op,
                  "the cache holds " + std::to_string(probe.capacity) + " chunks, the position needs " +
                      std::to_string(end));
  if (end <= probe.chunks) return;
  const int items = (end - probe.chunks) * hip_probe_cache_slots(probe.levels);
  hip_probe_fill_kernel<<<(unsigned)ceil_div(items, kFillWarps), kFillWarps * 32, 0, stream>>>(
      cache, probe, probe.chunks, items, config.sink_tokens, chunk, page_shift_of(cache.page_size));
  check_launch(op);
  probe.chunks = end;
}

void hip_mask_decode_staged(const __nv_bfloat16* q, const PagedKv& cache, int n_heads, int position,
                            const HipMaskConfig& config, int first_stage, int32_t* stage_lists,
                            int32_t* blocks, int32_t* n_blocks, void* workspace, size_t workspace_bytes,
                            cudaStream_t stream, const HipProbeCache* probe) {
  const char* op = "hip_mask_decode";
  hip_mask_validate_config(config);
  check_paged_kv(cache, op);
  HIPCODE_REQUIRE(cache.n_kv_heads > 0 && n_heads > 0 && n_heads % cache.n_kv_heads == 0, op,
                  "n_heads must be a positive multiple of cache.n_kv_heads, got " + std::to_string(n_heads));
  HIPCODE_REQUIRE(cache.head_dim == 64 || cache.head_dim == 128, op,
                  "head_dim must be 64 or 128, got " + std::to_string(cache.head_dim));
  HIPCODE_REQUIRE(position >= 0 && (int64_t)position < (int64_t)cache.max_pages_per_seq * cache.page_size, op,
                  "position outside the page table: " + std::to_string(position));
  HIPCODE_REQUIRE(first_stage >= 0 && first_stage < config.n_stages, op,
                  "first_stage must be in [0, n_stages), got " + std::to_string(first_stage));
  HIPCODE_REQUIRE(q && blocks && n_blocks && workspace && stage_lists, op, "null pointer argument");
  HIPCODE_REQUIRE(is_aligned(cache.k_pages, 8) && is_aligned(workspace, 16), op,
                  "cache.k_pages must be 8-byte and the workspace 16-byte aligned");
  const StagePlan plan = make_stage_plan(config, position);
  const size_t score_slots = (size_t)std::max(plan.cap, plan.n0) + 1;
  HIPCODE_REQUIRE(workspace_bytes >= score_slots * sizeof(uint32_t), op,
                  "workspace too small: need " + std::to_string(score_slots * sizeof(uint32_t)) +
                      " bytes, got " + std::to_string(workspace_bytes));
  const int group = n_heads / cache.n_kv_heads;
  const int head_chunks = (group + kHeadsPerWarp - 1) / kHeadsPerWarp;
  const int page_shift = page_shift_of(cache.page_size);
  uint32_t* scores = static_cast<uint32_t*>(workspace);

  // Scoring stage i needs scores[0, bound) zero: cleared once here, then by each selection for the next.
  auto scored = [&](int i) {
    return i < config.n_stages && plan.bound[i] > config.stages[i].keep_tokens / config.stages[i].chunk_size;
  };
  bool scores_clear = false;
  for (int i = first_stage; i < config.n_stages; ++i) {
    const HipMaskStage& s = config.stages[i];
    const int keep = s.keep_tokens / s.chunk_size;
    // A list cached at an earlier (smaller) position holds no more chunks than this position's bound.
    const int bound = plan.bound[i];
    const bool last = i + 1 == config.n_stages;
    const int next_chunk = last ? 0 : config.stages[i + 1].chunk_size;
    int32_t* count_in = i == 0 ? nullptr : stage_list(config, stage_lists, i);
    const int32_t* list = i == 0 ? nullptr : count_in + 1;
    int32_t* count_out = last ? n_blocks : stage_list(config, stage_lists, i + 1);
    int32_t* starts_out = last ? blocks : count_out + 1;
    const int smem = select_smem_bytes(bound, keep, op, i);
    if (scored(i)) {
      HIPCODE_REQUIRE((size_t)bound <= score_slots, op, "workspace too small for stage " + std::to_string(i));
      if (!scores_clear) {
        check_cuda(cudaMemsetAsync(scores, 0, (size_t)bound * sizeof(uint32_t), stream), op,
                   "cannot clear the scores");
      }
      const dim3 grid((unsigned)ceil_div(bound, kScoreWarps), (unsigned)(cache.n_kv_heads * head_chunks));
      launch_dependent(cache.head_dim == 128 ? hip_mask_score_kernel<128> : hip_mask_score_kernel<64>, grid,
                       dim3(kScoreWarps * 32), 0, stream, q, cache, group, page_shift, count_in, plan.n0,
                       list, scores, keep, config.sink_tokens, s.chunk_size, plan.cand_end,
                       config.bf16_scoring, i == 0 && probe ? *probe : HipProbeCache{});
      check_launch("hip_mask_decode (score)");
    }
    const int clear = scored(i + 1) ? plan.bound[i + 1] : 0;
    HIPCODE_REQUIRE((size_t)clear <= score_slots, op,
                    "workspace too small for stage " + std::to_string(i + 1));
    allow_select_smem(hip_mask_select_kernel, smem, op);
    launch_dependent(hip_mask_select_kernel, dim3(1), dim3(kSelectThreads), smem, stream, count_in,
                     i == 0 ? plan.n0 : -1, list, scores, keep, config.sink_tokens, s.chunk_size, next_chunk,
                     plan.cand_end, starts_out, count_out, clear);
    check_launch("hip_mask_decode (select)");
    scores_clear = clear > 0;
  }
}

}  // namespace hipcode::cuda
