// HiP mask estimation on the GPU for PREFILL: every block of block_q queries of a chunk gets the key blocks
// of the CPU reference hip::estimate_hip_mask (native/hip/mask-estimation.h).
//
// Semantics (per query block b: rows [b * block_q, +n_rows) at positions pos0 + row, last position t_b):
//   candidates  keys [sink, t_b - window + 1).
//   stage 0     chunks on the grid sink + j * stages[0].chunk_size, clipped to the candidates.
//   stage i     with no more chunks than keep = keep_tokens / chunk_size all are kept unscored; otherwise the
//               scoring rows of stage i (the means of query_stride consecutive rows, summed in row order in
//               f32, divided by the count, rounded to bf16; a partial last group averages fewer rows) bisect
//               every chunk for every q head (KV head h / group; probes at the middles of both halves, a
//               strict `left > right` keeps the left half, a tie goes right, score = running max of the
//               winners, a one-key chunk scores its key). A key's score is the max over the scoring rows of
//               the dot product, rounded to bf16. The chunk score is the max over heads; the best `keep` by
//               (score desc, start asc) survive and are split into the next stage's chunks (those past the
//               candidates dropped).
//   result      the last stage's survivors, ascending: starts of block_k = stages.back().chunk_size key
//   blocks.
//
// Precision: the dot products run on tensor cores (mma.sync m16n8k16: exact bf16 x bf16 products, summed in
// f32 in an order and with intermediate alignment the hardware chooses), where the reference sums in f64 and
// rounds to f32. Both see the same bf16 scoring rows (the same f32 sums and division) and keys, so the masks
// are bit-identical whenever every product and partial sum of every dot product is exact in f32, i.e. they
// are all multiples of some 2^-e with magnitudes well below 2^(23 - e): then every order and alignment gives
// the exact sum. Example (the kernel tests): rows and keys that are multiples of 1/8 up to 3/8; the bf16
// means (strides 1 to 4) are then multiples of 2^-12, every product a multiple of 2^-15 and every sum below
// 20, so 20 bits suffice. On ordinary bf16 data an f32 sum can differ from the f64 one in its last bits;
// after rounding to bf16 that flips a comparison only when a score sits on a bf16 rounding boundary or two
// probes tie, so an occasional block can differ (the kernel tests report the identical fraction on random
// data). Only bf16_scoring = true is supported (the tensor cores need bf16 scoring rows).
//
// Launches per stage that may score (some query block has more chunks than keep): a scoring-row kernel
// (strides > 1; stride 1 reads q itself), a memset of the scores and the scoring kernel (grid: query blocks x
// (kv head, up to 8 of its q heads) x ranges of 64 chunks; one warp per (query block, q head) walks
// 8 chunks at a time, each bisection step's 16 probes as two n8 mma tiles); then per stage one selection
// kernel (one CTA per query block, the sort of hip-mask-common.cuh). Counts stay on the device.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "kernels/hip-mask.cuh"
#include "kernels/paged-kv.cuh"

namespace hipcode::cuda {

// Throws std::runtime_error naming the field when the prefill mask kernels cannot run `config`:
// hip_mask_validate_config's rules, bf16_scoring, and at most 64 scoring rows (block_q / query_stride) a
// stage.
void hip_mask_prefill_validate_config(const HipMaskConfig& config);

// Bytes of workspace hip_mask_prefill needs for n_q queries of n_heads heads (head_dim <= 128) whose last
// query is at `last_position` (= pos0 + n_q - 1).
size_t hip_mask_prefill_workspace_bytes(const HipMaskConfig& config, int n_q, int n_heads, int last_position);

// Writes every query block's selection: blocks [ceil(n_q / block_q), config.max_blocks()] and counts
// [ceil(n_q / block_q)] (device int32): query block b's ascending key-block starts (block_k =
// config.block_k() tokens each) and how many. The queries' keys must already be in the cache. n_heads a
// multiple of cache.n_kv_heads; head_dim 64 or 128; q, cache.k_pages and the workspace 16-byte aligned;
// block_q / query_stride <= 64 for every stage; bf16_scoring.
void hip_mask_prefill(const __nv_bfloat16* q,  // [n_q, n_heads, head_dim], RoPE'd
                      const PagedKv& cache, int n_q, int n_heads, int pos0, const HipMaskConfig& config,
                      int32_t* blocks, int32_t* counts, void* workspace, size_t workspace_bytes,
                      cudaStream_t stream);

// hip_mask_prefill that also records stage_done[i] on `stream` when stage i's kernels are queued
// (stage_done: config.n_stages events; for per-stage timings).
void hip_mask_prefill_timed(const __nv_bfloat16* q, const PagedKv& cache, int n_q, int n_heads, int pos0,
                            const HipMaskConfig& config, int32_t* blocks, int32_t* counts, void* workspace,
                            size_t workspace_bytes, cudaStream_t stream, const cudaEvent_t* stage_done);

}  // namespace hipcode::cuda
