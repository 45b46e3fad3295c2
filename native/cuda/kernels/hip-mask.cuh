// HiP mask estimation on the GPU for DECODE (one query token): the multi-stage chunk pruning of
// native/hip/mask-estimation.h (hip::select_key_blocks) for a single-query block.
//
// Semantics (identical to the CPU reference for n_queries = 1; query_stride is irrelevant for one row):
//   candidates  keys [sink, t - window + 1) for the query at position t.
//   stage 0     chunks on the grid sink + j * stages[0].chunk_size, clipped to the candidates.
//   stage i     if there are no more chunks than keep = keep_tokens / chunk_size, all are kept unscored;
//               otherwise every chunk is scored for every q head h (KV head h / group) by bisection
//               (probes at the middles of both halves, strict `left > right` keeps the left half, a tie
//               goes right, score = running max of the winners' scores; a one-key chunk scores its key),
//               the chunk score is the max over heads, and the best `keep` by (score desc, start asc)
//               survive. Survivors are split into the next stage's chunks (those past the candidates
//               dropped).
//   result      the last stage's survivors, ascending: starts of block_k = stages.back().chunk_size
//               key blocks.
// Key scores: dot products accumulated in f64 (bf16 x bf16 products are exact in f64, so the sum is exact
// unless the products span more than ~37 binary orders of magnitude), rounded to f32, then to bf16 when
// bf16_scoring (round to nearest even), NaN -> -inf; the CPU reference accumulates in f64 and rounds the
// same way, so the masks are bit-identical whenever both f64 sums are exact (always for inputs that are
// small multiples of 1/8, and in practice for ordinary bf16 data). -0 and +0 scores rank as equal, as in
// the reference's `!=` comparison.
//
// Launches per call: per stage that may need scoring a memset + a scoring kernel (grid over chunks x kv
// heads, one warp per (chunk, kv head, up to 8 q heads of the group) bisecting in lockstep), then per
// stage one single-CTA selection kernel (radix select of the keep-th score, the kept starts compacted in
// list order, then split into the next stage's chunks). Counts stay on the device; the host only needs the
// position t (for grid sizes). Stages whose chunk count is known on the host not to exceed keep launch no
// scoring kernel.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "kernels/paged-kv.cuh"

namespace hipcode::cuda {

constexpr int kHipMaskMaxStages = 8;
// Most chunks one stage's selection keeps (min(its chunks, keep_tokens / chunk_size)): 128 KiB of shared
// memory.
constexpr int kHipMaskMaxKept = 32768;

struct HipMaskStage {
  int chunk_size;        // tokens per chunk (each stage's divides the previous one's)
  int keep_tokens;       // multiple of chunk_size; keep = keep_tokens / chunk_size chunks survive
  int query_stride = 1;  // prefill: consecutive query rows averaged into one scoring row (divides block_q)
};

// Plain mirror of hip::HipConfig. Decode (one query) ignores block_q and the query strides.
struct HipMaskConfig {
  int block_q = 64;  // prefill: queries sharing one mask
  int sink_tokens = 256;
  int window_tokens = 1024;
  int n_stages = 3;
  HipMaskStage stages[kHipMaskMaxStages] = {{256, 32768, 4}, {32, 8192, 4}, {8, 2048, 1}};
  bool bf16_scoring = true;

  int block_k() const { return stages[n_stages - 1].chunk_size; }
  // Capacity of the output block list: keep_tokens / chunk_size of the last stage.
  int max_blocks() const { return stages[n_stages - 1].keep_tokens / stages[n_stages - 1].chunk_size; }
};

// Throws std::runtime_error naming the bad field (same rules as hip::validate_hip_config, block_q and the
// query strides included).
void hip_mask_validate_config(const HipMaskConfig& config);

// Bytes of workspace hip_mask_decode needs for a query at position <= max_position.
size_t hip_mask_decode_workspace_bytes(const HipMaskConfig& config, int max_position);

// Ints of the stage-list buffer of hip_mask_decode_staged: every stage's (>= 1) input list, kept between
// calls.
size_t hip_mask_stage_lists_ints(const HipMaskConfig& config);

// Writes the ascending key-block starts selected for the query q at `position` (its key already in the
// cache, keys RoPE'd) to blocks[0 .. *n_blocks) (capacity config.max_blocks()) and the count to
// *n_blocks (both device memory). n_heads must be a multiple of cache.n_kv_heads; head_dim 64 or 128;
// q, k 8-byte aligned (128) / 4-byte (64).
void hip_mask_decode(const __nv_bfloat16* q,  // [n_heads, head_dim]
                     const PagedKv& cache, int n_heads, int position, const HipMaskConfig& config,
                     int32_t* blocks,    // [config.max_blocks()]
                     int32_t* n_blocks,  // [1]
                     void* workspace, size_t workspace_bytes, cudaStream_t stream);

// The key rows that stage 0's bisection probes in its first `levels` steps of each full chunk, kept in GPU
// memory (a KV cache whose pages lie in host memory otherwise serves every probe over the bus). Those probes
// do not depend on the query: step l (1-based) of a chunk probes, whichever halves the heads kept, one of the
// 2^(l-1) intervals a chunk halves into by then, both its probes; the cache holds them all, slot
// 2^l - 2 + 2 * interval + side (side 0 = left_probe, 1 = right_probe; intervals of one key have none).
// Full chunks only (the last, clipped by the candidates' end, is probed from the pages), of a power-of-two
// chunk_size.
struct HipProbeCache {
  __nv_bfloat16* rows = nullptr;  // [capacity, hip_probe_cache_slots(levels), n_kv_heads, head_dim]
  int levels = 0;                 // steps cached (0: none)
  int capacity = 0;               // chunks the rows hold
  int chunks = 0;                 // full chunks [0, chunks) filled
};

// Slots a chunk takes for `levels` steps, 2^(levels + 1) - 2, which is also where step levels + 1's slots
// begin.
__host__ __device__ inline int hip_probe_cache_slots(int levels) {
  return (2 << levels) - 2;
}

// Whether the probe cache can serve this config: stage 0's chunks halve exactly (a power-of-two chunk_size).
inline bool hip_probe_cache_supports(const HipMaskConfig& config) {
  const int chunk = config.stages[0].chunk_size;
  return chunk > 0 && (chunk & (chunk - 1)) == 0;
}

// Full stage-0 chunks of the candidates of a query at `position`.
int hip_probe_cache_full_chunks(const HipMaskConfig& config, int position);

// Copies the probe rows of full chunks [cache.chunks, hip_probe_cache_full_chunks(position)) from the pages
// (those chunks' keys no longer change) and advances cache.chunks; the capacity must hold them, and stage 0's
// chunk_size must be a power of two.
void hip_probe_cache_fill(const PagedKv& cache, const HipMaskConfig& config, int position,
                          HipProbeCache& probe, cudaStream_t stream);

// hip_mask_decode from stage `first_stage` on (the reference's per-stage mask refresh): stage i >= 1 reads
// its input from stage_lists (hip_mask_stage_lists_ints ints of device memory, kept per layer), written there
// by stage i - 1 of this or an earlier call at a position <= this one; first_stage 0 estimates from scratch.
// The workspace holds only the scores (hip_mask_decode_workspace_bytes is enough). probe: null, or a cache
// filled for this position whose rows stage 0 reads instead of the pages.
void hip_mask_decode_staged(const __nv_bfloat16* q,  // [n_heads, head_dim]
                            const PagedKv& cache, int n_heads, int position, const HipMaskConfig& config,
                            int first_stage, int32_t* stage_lists, int32_t* blocks, int32_t* n_blocks,
                            void* workspace, size_t workspace_bytes, cudaStream_t stream,
                            const HipProbeCache* probe = nullptr);

}  // namespace hipcode::cuda
