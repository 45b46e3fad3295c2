// HiP mask estimation (CPU reference, f32): for every block of block_q queries, the InfiniteHiP multi-stage
// chunk pruning picks the key blocks the block-sparse attention reads besides the sink and the window.
//
// Per query block (rows [b * block_q, ...), last position t_last):
//   candidates  keys [sink_tokens, t_last - window_tokens + 1): the keys that at least one query of the
//               block can see only through selection (causal, outside its window, past the sink).
//   stage 0     chunks of stages[0].chunk_size tokens on the grid sink_tokens + j * chunk_size, each
//               clipped to the candidates.
//   stage i     every chunk is scored by bisection (scan_chunk) for every query head with that head's
//               scoring rows and its KV head (head / (n_heads / n_kv_heads)); the chunk score is the max over
//               heads (one mask per layer, shared by all heads). The best keep_tokens / chunk_size chunks
//               survive (ties: the lower start wins); a stage with no more chunks than that keeps them all
//               without scoring. Survivors are split into chunks of the next stage's size (sub-chunks past
//               the candidates dropped).
//   result      the last stage's survivors, ascending: starts of block_k() = stages.back().chunk_size-token
//               key blocks (the last one may be cut short by the candidate end).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "hip/hip-config.h"

namespace hipcode::hip {

// Queries of one prefill chunk or decode step: data [n_queries, n_heads, head_dim]; row r is at position
// first_position + r.
struct HipQueries {
  const float* data;
  int64_t n_queries;
  int64_t n_heads;
  int64_t head_dim;
  int64_t first_position;

  const float* row(int64_t query, int64_t head) const { return data + (query * n_heads + head) * head_dim; }
};

// One layer's keys and values, position p at row p: keys, values [n_tokens, n_kv_heads, head_dim], or paged.
// Mask estimation reads only the keys (values may be null there).
struct HipKv {
  const float* keys;
  const float* values;
  int64_t n_tokens;
  int64_t n_kv_heads;
  int64_t head_dim;

  // Paged instead (when key_pages is set, keys and values are ignored): position p of KV head h lies at
  // key_pages[p / page_tokens] + (h * page_tokens + p % page_tokens) * head_dim (the CPU KV cache's
  // layout), values alike.
  const float* const* key_pages = nullptr;
  const float* const* value_pages = nullptr;
  int64_t page_tokens = 0;

  const float* key(int64_t position, int64_t kv_head) const {
    if (key_pages) return paged(key_pages, position, kv_head);
    return keys + (position * n_kv_heads + kv_head) * head_dim;
  }
  const float* value(int64_t position, int64_t kv_head) const {
    if (key_pages) return paged(value_pages, position, kv_head);
    return values + (position * n_kv_heads + kv_head) * head_dim;
  }

 private:
  const float* paged(const float* const* pages, int64_t position, int64_t kv_head) const {
    return pages[position / page_tokens] + (kv_head * page_tokens + position % page_tokens) * head_dim;
  }
};

// The key blocks every query block attends besides its sink and window.
struct HipMask {
  int64_t block_q;
  int64_t block_k;
  std::vector<std::vector<int64_t>> blocks;  // [n_query_blocks][selected] ascending key-block starts
};

// Keys [begin, end); empty when end <= begin.
struct KeyRange {
  int64_t begin;
  int64_t end;
};

// Throws EngineError(INVALID_ARGUMENT) naming `queries` or `kv` when the shapes disagree (heads not a
// multiple of kv heads, head_dim, null data) or the keys do not reach the last query's position.
void validate_hip_inputs(const HipQueries& queries, const HipKv& kv);

// The candidate keys of a query block whose last query is at `last_position`.
KeyRange candidate_range(const HipConfig& config, int64_t last_position);

// Scoring rows of rows [first_row, first_row + n_rows) for one head: [ceil(n_rows / stride), head_dim], row i
// the mean of query rows first_row + i * stride ... (fewer in a partial last group), summed in row order in
// f32, divided by the count, then rounded to bf16 when config.bf16_scoring.
std::vector<float> scoring_rows(const HipConfig& config, const HipQueries& queries, int64_t first_row,
                                int64_t n_rows, int64_t head, int64_t stride);

// Score of one key [head_dim]: max over rows [n_rows, head_dim] of the dot product (double accumulation,
// rounded to f32, then to bf16 when bf16_scoring). No softmax scale. NaN scores count as -inf.
float key_score(bool bf16_scoring, const float* rows, int64_t n_rows, const float* key, int64_t head_dim);

// Bisection of chunk [left, right) (non-empty) for one head: while more than one key is left, with
// centre = (left + right) / 2 compare the keys at (left + centre) / 2 and (centre + right) / 2 (the middles
// of the halves) and keep the half whose key scores higher, the right half on a tie (the reference's strict
// `left > right`). The score is the max of the winners' scores (the reference's running max), the score of
// the only key for a one-key chunk; the representative is the key left at the end.
struct ChunkScan {
  int64_t representative;
  float score;
};
ChunkScan scan_chunk(bool bf16_scoring, const float* rows, int64_t n_rows, const HipKv& kv, int64_t kv_head,
                     int64_t left, int64_t right);

// The ascending key-block starts query block `query_block` selects.
std::vector<int64_t> select_key_blocks(const HipConfig& config, const HipQueries& queries, const HipKv& kv,
                                       int64_t query_block);

// select_key_blocks from stage `first_stage` on (the per-stage mask refresh of decode): stage i >= 1 takes
// its input chunk starts from stage_inputs[i] (left there by an earlier call for the same query block at a
// position <= this one, or by this call's stage i - 1); chunks are clipped to this call's candidates.
// Every stage's input (i >= 1, after the split) is stored back; first_stage 0 starts from the grid.
std::vector<int64_t> select_key_blocks_from(const HipConfig& config, const HipQueries& queries,
                                            const HipKv& kv, int64_t query_block, size_t first_stage,
                                            std::vector<std::vector<int64_t>>& stage_inputs);

// Every query block's selection (blocks [ceil(n_queries / block_q)]).
HipMask estimate_hip_mask(const HipConfig& config, const HipQueries& queries, const HipKv& kv);

}  // namespace hipcode::hip
