// HiP prefill mask estimation (see hip-mask-prefill.cuh for the semantics).
//
// Workspace: per stage i >= 1 its input lists (counts [n_qblocks], starts [n_qblocks, cap_i], cap_i the most
// chunks stage i can receive); the scores [n_qblocks, pitch] (pitch = the stage's chunk bound;
// order-preserving uint32 encodings, so the max over heads is an atomicMax; 0 = below every score); per
// stride > 1 of a scoring stage the scoring rows [n_qblocks * block_q / stride, n_heads, head_dim] bf16.
//
// hip_mask_prefill_score_kernel<kD, kMTiles>: block = one query block x (up to 8) q heads of one kv head, one
// warp each; blockIdx.z picks a range of kChunksPerCta chunks. A warp keeps its scoring rows (kMTiles m16
// tiles x kD) as mma A fragments in registers and bisects kProbeTiles x 4 chunks per step: each n8 tile holds
// the 2 probes of 4 chunks as B fragments (column g = lane / 4), loaded straight from the paged cache with
// 16-byte loads (the warps of one CTA, and of the CTAs next to it, probe the same chunks, so most loads hit
// L1 / L2). A tile's kD / 16 mma per m-tile, the max over valid rows (xor butterfly over g) and the bf16
// rounding give every column's key score (tile_column_max); lane t applies the step to its chunks 4u + t,
// whose two probe scores land in its columns. (Loading the whole chunk as one tile when it has at most 8 keys
// avoids the dependent loads of its 3 steps but was 1.9x slower on the default last stage: 8 / 6 the loads
// with 4 chunks of key words in flight at 224 registers.)
// The dot-product dims are permuted identically in A and B (lane t's k pairs of k-steps 2p, 2p + 1 are dims
// p * 32 + t * 8 .. + 8), so each lane reads 16 contiguous bytes per row / key. Chunk scores are max-reduced
// in shared memory, then atomicMax'ed globally.
//
// hip_mask_prefill_select_kernel: one CTA per query block, hip_mask::select_and_split on its list.
#include <algorithm>
#include <cmath>
#include <string>

#include "kernels/hip-mask-common.cuh"
#include "kernels/hip-mask-prefill.cuh"
#include "kernels/kernel-common.cuh"
#include "kernels/kv-write.cuh"

namespace hipcode::cuda {

namespace {

using namespace hip_mask;

// Chunks per score CTA, and n8 tiles (4 chunks each) per bisection step: on the H100, 2 tiles beat 1 and 4
// (1.5x / 1.1x faster stage 0 at 1M keys) and 64 chunks per CTA did as well as 128.
constexpr int kChunksPerCta = 64;
constexpr int kProbeTiles = 2;
constexpr int kHeadsPerCta = 8;
constexpr int kSelectThreads = 512;
constexpr int kMaxScoringRows = 64;

// Query block b of a chunk of n_q queries at positions pos0 + row.
struct QueryBlock {
  int first_row;
  int n_rows;
  int cand_end;  // candidates [sink, cand_end)
};

__device__ __forceinline__ QueryBlock query_block(int b, int n_q, int block_q, int pos0, int window) {
  const int first_row = b * block_q;
  const int n_rows = min(block_q, n_q - first_row);
  return {first_row, n_rows, pos0 + first_row + n_rows - 1 - window + 1};
}

// Stage-0 chunks of a query block: the grid sink + j * chunk up to the candidate end.
__device__ __forceinline__ int stage0_count(int cand_end, int sink, int chunk) {
  return cand_end > sink ? (cand_end - sink + chunk - 1) / chunk : 0;
}

// Scoring rows of one stride: rows[(b * rows_per_block + r) * n_heads + h] = bf16(mean of query rows
// b * block_q + r * stride ... (fewer in a partial group), summed in row order in f32).
__global__ void hip_mask_rows_kernel(const __nv_bfloat16* __restrict__ q, int n_q, int n_heads, int head_dim,
                                     int block_q, int stride, __nv_bfloat16* __restrict__ rows) {
  const int rows_per_block = block_q / stride;
  const int b = blockIdx.x / rows_per_block, r = blockIdx.x % rows_per_block, h = blockIdx.y;
  const int d = threadIdx.x;
  if (d >= head_dim) return;
  const int n_rows = min(block_q, n_q - b * block_q);
  const int count = min(stride, n_rows - r * stride);
  const int first = b * block_q + r * stride;
  float sum = 0.f;
  for (int i = 0; i < count; ++i)
    sum += __bfloat162float(q[((int64_t)(first + i) * n_heads + h) * head_dim + d]);
  const float mean = count > 0 ? __fdiv_rn(sum, (float)count) : 0.f;
  rows[((int64_t)blockIdx.x * n_heads + h) * head_dim + d] = __float2bfloat16_rn(mean);
}

struct ScoreArgs {
  const __nv_bfloat16* rows;  // [n_qblocks * rows_per_block, n_heads, kD]
  int rows_per_block;
  int stride;
  PagedKv cache;
  int page_shift;
  int group;
  int n_heads;
  int heads_per_cta;
  int n_q, pos0, block_q, window, sink, n_qblocks;
  int chunk, keep;
  const int32_t* counts;  // [n_qblocks] (null: stage 0, the implicit grid)
  const int32_t* starts;  // [n_qblocks, list_pitch]
  int list_pitch;
  uint32_t* scores;  // [n_qblocks, score_pitch]
  int score_pitch;
};

__device__ __forceinline__ void mma_bf16_16816(float* c, const uint32_t* a, uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// The 16 bytes at dims p * 32 + t * 8 of key `key` (kv head kvh); zeros for an unmapped page or key < 0.
template <int kD>
__device__ __forceinline__ void load_key_words(const PagedKv& cache, int page_shift, int kvh, int key, int t,
                                               uint4 (&words)[kD / 32]) {
  const int page = kv_page(cache, page_shift, key);
  const bool valid = page >= 0;
  const int64_t row = valid ? kv_row_offset(cache, page, key) + kvh * kD : 0;
  const uint4* src = reinterpret_cast<const uint4*>(cache.k_pages + row + t * 8);
#pragma unroll
  for (int p = 0; p < kD / 32; ++p) words[p] = valid ? __ldg(src + p * 4) : make_uint4(0, 0, 0, 0);
}

// One lane's bisection state of one chunk.
struct ChunkState {
  int lo, hi;
  bool single;  // a one-key chunk not yet scored
  float run;

  __device__ bool active() const { return hi - lo > 1 || single; }
  __device__ int left_key() const { return !active() ? -1 : single ? lo : left_probe(lo, hi); }
  __device__ int right_key() const { return !active() ? -1 : single ? lo : right_probe(lo, hi); }
  __device__ void apply(float left, float right) {
    if (single) {
      run = left;
      single = false;
    } else if (hi - lo > 1) {
      bisect_step(lo, hi, run, left, right);
    }
  }
};

// A fragments of the scoring rows of (query block b, head): a0 / a1 = rows g / g + 8 at the k pair 2t, a2 /
// a3 at 2t + 8, in the permuted dims (k-step 2p + u, pairs 2t / 2t + 8 = words 2u / 2u + 1 of the 16 bytes at
// dims p * 32 + t * 8). Rows past n_rows are zeros (and masked out of the max).
template <int kD, int kMTiles>
__device__ __forceinline__ void load_row_fragments(const ScoreArgs& a, int b, int head, int n_rows,
                                                   uint32_t (&frag)[kMTiles][kD / 16][4]) {
  const int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
#pragma unroll
  for (int mt = 0; mt < kMTiles; ++mt) {
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int r = mt * 16 + g + half * 8;
      const bool valid = r < n_rows;
      const uint4* src = reinterpret_cast<const uint4*>(
          a.rows + ((int64_t)(b * a.rows_per_block + (valid ? r : 0)) * a.n_heads + head) * kD + t * 8);
#pragma unroll
      for (int p = 0; p < kD / 32; ++p) {
        const uint4 w = valid ? __ldg(src + p * 4) : make_uint4(0, 0, 0, 0);
        frag[mt][2 * p][half] = w.x;
        frag[mt][2 * p][2 + half] = w.y;
        frag[mt][2 * p + 1][half] = w.z;
        frag[mt][2 * p + 1][2 + half] = w.w;
      }
    }
  }
}

// Start of chunk j of query block b: stage 0's grid, or the stage's input list.
__device__ __forceinline__ int chunk_start(const ScoreArgs& a, int b, int j) {
  return a.counts ? a.starts[(int64_t)b * a.list_pitch + j] : a.sink + j * a.chunk;
}

// One n8 tile: the dot products of the scoring rows with the tile's 8 keys (column g = lane / 4 holds
// `words`), max over the valid rows, rounded to bf16. Lane (g, t) returns the maxima of columns 2t (x) and 2t
// + 1 (y).
template <int kD, int kMTiles>
__device__ __forceinline__ float2 tile_column_max(const uint32_t (&frag)[kMTiles][kD / 16][4],
                                                  const uint4 (&words)[kD / 32], int n_rows) {
  const int g = (threadIdx.x % 32) / 4;
  float left = -INFINITY, right = -INFINITY;
#pragma unroll
  for (int mt = 0; mt < kMTiles; ++mt) {
    float acc[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
    for (int p = 0; p < kD / 32; ++p) {
      mma_bf16_16816(acc, frag[mt][2 * p], words[p].x, words[p].y);
      mma_bf16_16816(acc, frag[mt][2 * p + 1], words[p].z, words[p].w);
    }
    // acc: rows g / g + 8 x columns 2t / 2t + 1; rows past n_rows are padding.
    if (mt * 16 + g < n_rows) {
      left = fmaxf(left, acc[0]);
      right = fmaxf(right, acc[1]);
    }
    if (mt * 16 + g + 8 < n_rows) {
      left = fmaxf(left, acc[2]);
      right = fmaxf(right, acc[3]);
    }
  }
#pragma unroll
  for (int o = 4; o < 32; o <<= 1) {
    left = fmaxf(left, __shfl_xor_sync(0xffffffffu, left, o));
    right = fmaxf(right, __shfl_xor_sync(0xffffffffu, right, o));
  }
  return make_float2(round_score(left, true), round_score(right, true));
}

// Bisects chunks [j_lo, j_hi) kTiles x 4 at a time, loading only the probes of every step. Lane t keeps the
// state of chunks 4u + t; column g of tile u probes chunk 4u + g / 2 (its left half's middle for even g), so
// chunk 4u + t's two probe scores land in lane t's columns 2t, 2t + 1.
template <int kD, int kMTiles>
__device__ __forceinline__ void bisect_chunks(const ScoreArgs& a, int b, const QueryBlock& qb, int kvh,
                                              const uint32_t (&frag)[kMTiles][kD / 16][4], int n_rows,
                                              int j_lo, int j_hi, uint32_t* red) {
  constexpr int kTiles = kProbeTiles;
  const int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  for (int j0 = j_lo; j0 < j_hi; j0 += 4 * kTiles) {
    ChunkState s[kTiles];
#pragma unroll
    for (int u = 0; u < kTiles; ++u) {
      const int j = j0 + 4 * u + t;
      const int start = j < j_hi ? chunk_start(a, b, j) : 0;
      s[u].lo = start;
      s[u].hi = j < j_hi ? min(start + a.chunk, qb.cand_end) : start;
      s[u].single = s[u].hi - s[u].lo == 1;
      s[u].run = -INFINITY;
    }
    while (true) {
      bool active = false;
#pragma unroll
      for (int u = 0; u < kTiles; ++u) active |= s[u].active();
      if (!__any_sync(0xffffffffu, active)) break;
      uint4 words[kTiles][kD / 32];
#pragma unroll
      for (int u = 0; u < kTiles; ++u) {
        const int left = __shfl_sync(0xffffffffu, s[u].left_key(), g / 2);
        const int right = __shfl_sync(0xffffffffu, s[u].right_key(), g / 2);
        load_key_words<kD>(a.cache, a.page_shift, kvh, (g & 1) ? right : left, t, words[u]);
      }
#pragma unroll
      for (int u = 0; u < kTiles; ++u) {
        const float2 m = tile_column_max<kD, kMTiles>(frag, words[u], n_rows);
        s[u].apply(m.x, m.y);
      }
    }
#pragma unroll
    for (int u = 0; u < kTiles; ++u) {
      const int j = j0 + 4 * u + t;
      if (g == 0 && j < j_hi) atomicMax(red + (j - j_lo), encode_score(s[u].run));
    }
  }
}

// Scores chunks [j_lo, min(j_lo + kChunksPerCta, n)) of query block b for one q head into red[j - j_lo]
// (atomicMax of the encoded bisection score).
template <int kD, int kMTiles>
__device__ __forceinline__ void score_warp(const ScoreArgs& a, int b, const QueryBlock& qb, int head, int kvh,
                                           int n, int j_lo, uint32_t* red) {
  const int n_rows = (qb.n_rows + a.stride - 1) / a.stride;
  uint32_t frag[kMTiles][kD / 16][4];
  load_row_fragments<kD, kMTiles>(a, b, head, n_rows, frag);
  const int j_hi = min(j_lo + kChunksPerCta, n);
  bisect_chunks<kD, kMTiles>(a, b, qb, kvh, frag, n_rows, j_lo, j_hi, red);
}

template <int kD, int kMTiles>
__global__ void __launch_bounds__(kHeadsPerCta * 32) hip_mask_prefill_score_kernel(const ScoreArgs a) {
  __shared__ uint32_t red[kChunksPerCta];
  for (int i = threadIdx.x; i < kChunksPerCta; i += blockDim.x) red[i] = 0;
  __syncthreads();
  const int b = blockIdx.x;
  const int head_chunks = (a.group + kHeadsPerCta - 1) / kHeadsPerCta;
  const int kvh = blockIdx.y / head_chunks;
  const int in_group = (blockIdx.y % head_chunks) * kHeadsPerCta + threadIdx.x / 32;
  const int j_lo = blockIdx.z * kChunksPerCta;
  const QueryBlock qb = query_block(b, a.n_q, a.block_q, a.pos0, a.window);
  const int n = a.counts ? a.counts[b] : stage0_count(qb.cand_end, a.sink, a.chunk);
  if (in_group < a.group && n > a.keep && j_lo < n)
    score_warp<kD, kMTiles>(a, b, qb, kvh * a.group + in_group, kvh, n, j_lo, red);
  __syncthreads();
  for (int i = threadIdx.x; i < kChunksPerCta; i += blockDim.x) {
    if (red[i] != 0) atomicMax(a.scores + (int64_t)b * a.score_pitch + j_lo + i, red[i]);
  }
}

struct SelectArgs {
  int n_q, pos0, block_q, window, sink;
  int chunk, next_chunk, keep;
  const int32_t* counts_in;  // [n_qblocks] (null: stage 0)
  const int32_t* starts_in;  // [n_qblocks, pitch_in]
  int pitch_in;
  const uint32_t* scores;  // [n_qblocks, score_pitch]
  int score_pitch;
  int32_t* counts_out;  // [n_qblocks]
  int32_t* starts_out;  // [n_qblocks, pitch_out]
  int pitch_out;
};

__global__ void __launch_bounds__(kSelectThreads) hip_mask_prefill_select_kernel(const SelectArgs a) {
  extern __shared__ int32_t keys[];  // [min(n, keep)]: the kept starts
  const int b = blockIdx.x;
  const QueryBlock qb = query_block(b, a.n_q, a.block_q, a.pos0, a.window);
  const bool implicit = a.counts_in == nullptr;
  const int n = implicit ? stage0_count(qb.cand_end, a.sink, a.chunk) : a.counts_in[b];
  const int32_t* starts = a.starts_in + (int64_t)b * a.pitch_in;
  auto start_of = [&](int j) { return implicit ? a.sink + j * a.chunk : starts[j]; };
  select_and_split(n, start_of, a.scores + (int64_t)b * a.score_pitch, a.keep, a.chunk, a.next_chunk,
                   qb.cand_end, keys, a.starts_out + (int64_t)b * a.pitch_out, a.counts_out + b);
}

size_t align16(size_t bytes) {
  return (bytes + 15) / 16 * 16;
}

// Where everything lives in the workspace.
struct Layout {
  int n_qblocks = 0;
  StagePlan plan;
  bool scores_stage[kHipMaskMaxStages] = {};  // some query block may have more chunks than keep
  size_t counts[kHipMaskMaxStages] = {};      // stage i >= 1: input counts
  size_t starts[kHipMaskMaxStages] = {};      // stage i >= 1: input starts
  size_t rows[kHipMaskMaxStages] = {};        // scoring rows of a stride > 1 (shared by equal strides)
  bool fills_rows[kHipMaskMaxStages] = {};    // the first scoring stage of its stride (> 1) computes them
  size_t scores = 0;
  size_t bytes = 0;
};

Layout make_layout(const HipMaskConfig& config, int n_q, int n_heads, int last_position) {
  Layout layout;
  layout.n_qblocks = (int)ceil_div(n_q, config.block_q);
  layout.plan = make_stage_plan(config, last_position);
  const size_t nqb = (size_t)layout.n_qblocks;
  size_t at = 0, score_pitch = 1;
  for (int i = 0; i < config.n_stages; ++i) {
    const HipMaskStage& s = config.stages[i];
    layout.scores_stage[i] = layout.plan.bound[i] > s.keep_tokens / s.chunk_size;
    if (i > 0) {
      layout.counts[i] = at;
      at += align16(nqb * sizeof(int32_t));
      layout.starts[i] = at;
      at += align16(nqb * (size_t)stage_list_capacity(config, i) * sizeof(int32_t));
    }
    if (!layout.scores_stage[i]) continue;
    score_pitch = std::max(score_pitch, (size_t)layout.plan.bound[i]);
    if (s.query_stride == 1) continue;
    int same = -1;
    for (int k = 0; k < i && same < 0; ++k) {
      if (layout.scores_stage[k] && config.stages[k].query_stride == s.query_stride) same = k;
    }
    if (same >= 0) {
      layout.rows[i] = layout.rows[same];
      continue;
    }
    layout.rows[i] = at;
    layout.fills_rows[i] = true;
    at += align16(nqb * (size_t)(config.block_q / s.query_stride) * n_heads * 128 * sizeof(__nv_bfloat16));
  }
  layout.scores = at;
  at += align16(nqb * score_pitch * sizeof(uint32_t));
  layout.bytes = at;
  return layout;
}

template <int kD, int kMTiles>
void launch_score(const ScoreArgs& args, int bound, int n_kv_heads, cudaStream_t stream) {
  const int head_chunks = (int)ceil_div(args.group, kHeadsPerCta);
  const dim3 grid((unsigned)args.n_qblocks, (unsigned)(n_kv_heads * head_chunks),
                  (unsigned)ceil_div(bound, kChunksPerCta));
  hip_mask_prefill_score_kernel<kD, kMTiles><<<grid, args.heads_per_cta * 32, 0, stream>>>(args);
  check_launch("hip_mask_prefill (score)");
}

// The kernel for the stage's scoring rows (m16 tiles of them).
template <int kD>
void launch_score_d(const ScoreArgs& args, int bound, int n_kv_heads, cudaStream_t stream) {
  const int m_tiles = (int)ceil_div(args.rows_per_block, 16);
  if (m_tiles == 1) return launch_score<kD, 1>(args, bound, n_kv_heads, stream);
  if (m_tiles == 2) return launch_score<kD, 2>(args, bound, n_kv_heads, stream);
  launch_score<kD, 4>(args, bound, n_kv_heads, stream);
}

void check_prefill_config(const HipMaskConfig& config, const char* op) {
  hip_mask_validate_config(config);
  HIPCODE_REQUIRE(config.bf16_scoring, op,
                  "HipMaskConfig.bf16_scoring must be true (the tensor-core scores need bf16 scoring rows)");
  for (int i = 0; i < config.n_stages; ++i) {
    const int rows = config.block_q / config.stages[i].query_stride;
    HIPCODE_REQUIRE(rows <= kMaxScoringRows, op,
                    "HipMaskConfig.block_q / stages[" + std::to_string(i) + "].query_stride must be <= " +
                        std::to_string(kMaxScoringRows) + ", got " + std::to_string(rows));
  }
}

}  // namespace

void hip_mask_prefill_validate_config(const HipMaskConfig& config) {
  check_prefill_config(config, "hip_mask_prefill");
}

size_t hip_mask_prefill_workspace_bytes(const HipMaskConfig& config, int n_q, int n_heads,
                                        int last_position) {
  const char* op = "hip_mask_prefill_workspace_bytes";
  check_prefill_config(config, op);
  HIPCODE_REQUIRE(n_q >= 1, op, "n_q must be >= 1, got " + std::to_string(n_q));
  HIPCODE_REQUIRE(n_heads >= 1, op, "n_heads must be >= 1, got " + std::to_string(n_heads));
  return make_layout(config, n_q, n_heads, last_position).bytes;
}

void hip_mask_prefill(const __nv_bfloat16* q, const PagedKv& cache, int n_q, int n_heads, int pos0,
                      const HipMaskConfig& config, int32_t* blocks, int32_t* counts, void* workspace,
                      size_t workspace_bytes, cudaStream_t stream) {
  hip_mask_prefill_timed(q, cache, n_q, n_heads, pos0, config, blocks, counts, workspace, workspace_bytes,
                         stream, nullptr);
}

void hip_mask_prefill_timed(const __nv_bfloat16* q, const PagedKv& cache, int n_q, int n_heads, int pos0,
                            const HipMaskConfig& config, int32_t* blocks, int32_t* counts, void* workspace,
                            size_t workspace_bytes, cudaStream_t stream, const cudaEvent_t* stage_done) {
  const char* op = "hip_mask_prefill";
  check_prefill_config(config, op);
  check_bf16_kv(cache, op);
  HIPCODE_REQUIRE(n_q >= 1, op, "n_q must be >= 1, got " + std::to_string(n_q));
  HIPCODE_REQUIRE(pos0 >= 0, op, "pos0 must be >= 0, got " + std::to_string(pos0));
  HIPCODE_REQUIRE(cache.n_kv_heads > 0 && n_heads > 0 && n_heads % cache.n_kv_heads == 0, op,
                  "n_heads must be a positive multiple of cache.n_kv_heads " +
                      std::to_string(cache.n_kv_heads) + ", got " + std::to_string(n_heads));
  HIPCODE_REQUIRE(cache.head_dim == 64 || cache.head_dim == 128, op,
                  "cache.head_dim must be 64 or 128, got " + std::to_string(cache.head_dim));
  const int64_t last_position = (int64_t)pos0 + n_q - 1;
  HIPCODE_REQUIRE(last_position < (int64_t)cache.max_pages_per_seq * cache.page_size, op,
                  "the last query position " + std::to_string(last_position) +
                      " is outside the page table (" +
                      std::to_string((int64_t)cache.max_pages_per_seq * cache.page_size) + " tokens)");
  HIPCODE_REQUIRE(q && blocks && counts && workspace, op, "q, blocks, counts and workspace must not be null");
  HIPCODE_REQUIRE(is_aligned(q, 16) && is_aligned(cache.k_pages, 16) && is_aligned(workspace, 16), op,
                  "q, cache.k_pages and the workspace must be 16-byte aligned");
  const Layout layout = make_layout(config, n_q, n_heads, (int)last_position);
  HIPCODE_REQUIRE(workspace_bytes >= layout.bytes, op,
                  "workspace too small: need " + std::to_string(layout.bytes) + " bytes, got " +
                      std::to_string(workspace_bytes));
  auto* base = static_cast<unsigned char*>(workspace);
  auto at = [&](size_t offset) { return reinterpret_cast<int32_t*>(base + offset); };
  auto* scores = reinterpret_cast<uint32_t*>(base + layout.scores);
  const int group = n_heads / cache.n_kv_heads;
  const int nqb = layout.n_qblocks;

  for (int i = 0; i < config.n_stages; ++i) {
    const HipMaskStage& s = config.stages[i];
    const int keep = s.keep_tokens / s.chunk_size;
    const int bound = layout.plan.bound[i];
    const bool last = i + 1 == config.n_stages;
    const int smem = select_smem_bytes(bound, keep, op, i);
    if (layout.scores_stage[i]) {
      const int rows_per_block = config.block_q / s.query_stride;
      auto* own_rows = reinterpret_cast<__nv_bfloat16*>(base + layout.rows[i]);
      if (layout.fills_rows[i]) {
        hip_mask_rows_kernel<<<dim3((unsigned)(nqb * rows_per_block), (unsigned)n_heads), 128, 0, stream>>>(
            q, n_q, n_heads, cache.head_dim, config.block_q, s.query_stride, own_rows);
        check_launch("hip_mask_prefill (rows)");
      }
      check_cuda(cudaMemsetAsync(scores, 0, (size_t)nqb * bound * sizeof(uint32_t), stream), op,
                 "cannot clear the scores");
      ScoreArgs args{};
      args.rows = s.query_stride == 1 ? q : own_rows;
      args.rows_per_block = rows_per_block;
      args.stride = s.query_stride;
      args.cache = cache;
      args.page_shift = page_shift_of(cache.page_size);
      args.group = group;
      args.n_heads = n_heads;
      args.heads_per_cta = std::min(group, kHeadsPerCta);
      args.n_q = n_q;
      args.pos0 = pos0;
      args.block_q = config.block_q;
      args.window = config.window_tokens;
      args.sink = config.sink_tokens;
      args.n_qblocks = nqb;
      args.chunk = s.chunk_size;
      args.keep = keep;
      args.counts = i == 0 ? nullptr : at(layout.counts[i]);
      args.starts = i == 0 ? nullptr : at(layout.starts[i]);
      args.list_pitch = i == 0 ? 0 : stage_list_capacity(config, i);
      args.scores = scores;
      args.score_pitch = bound;
      if (cache.head_dim == 128) {
        launch_score_d<128>(args, bound, cache.n_kv_heads, stream);
      } else {
        launch_score_d<64>(args, bound, cache.n_kv_heads, stream);
      }
    }
    SelectArgs sel{};
    sel.n_q = n_q;
    sel.pos0 = pos0;
    sel.block_q = config.block_q;
    sel.window = config.window_tokens;
    sel.sink = config.sink_tokens;
    sel.chunk = s.chunk_size;
    sel.next_chunk = last ? 0 : config.stages[i + 1].chunk_size;
    sel.keep = keep;
    sel.counts_in = i == 0 ? nullptr : at(layout.counts[i]);
    sel.starts_in = i == 0 ? nullptr : at(layout.starts[i]);
    sel.pitch_in = i == 0 ? 0 : stage_list_capacity(config, i);
    sel.scores = scores;
    sel.score_pitch = bound;
    sel.counts_out = last ? counts : at(layout.counts[i + 1]);
    sel.starts_out = last ? blocks : at(layout.starts[i + 1]);
    sel.pitch_out = last ? config.max_blocks() : stage_list_capacity(config, i + 1);
    allow_select_smem(hip_mask_prefill_select_kernel, smem, op);
    hip_mask_prefill_select_kernel<<<nqb, kSelectThreads, smem, stream>>>(sel);
    check_launch("hip_mask_prefill (select)");
    if (stage_done) check_cuda(cudaEventRecord(stage_done[i], stream), op, "cannot record a stage event");
  }
}

}  // namespace hipcode::cuda
