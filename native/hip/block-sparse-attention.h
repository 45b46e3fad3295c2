// HiP block-sparse attention (CPU reference, f32): every query attends its sink, its query block's selected
// key blocks and its sliding window, causally, with an exact online softmax.
#pragma once

#include <cstdint>
#include <vector>

#include "hip/hip-config.h"
#include "hip/mask-estimation.h"

namespace hipcode::hip {

// The keys a query at `position` attends, ascending and disjoint: the sink [0, min(sink, w)), the selected
// blocks [start, start + block_k) clipped to [sink, w), and the window [w, position + 1), where
// w = max(0, position - window_tokens + 1). Every key is counted once, none is past the query.
std::vector<KeyRange> attended_ranges(const HipConfig& config, const std::vector<int64_t>& blocks,
                                      int64_t position);

// Throws EngineError(INVALID_ARGUMENT) naming `mask` when it does not fit the config and queries (block
// sizes, one list per query block, ascending non-negative starts of disjoint blocks).
void validate_hip_mask(const HipConfig& config, const HipMask& mask, const HipQueries& queries);

// out [n_queries, n_heads, head_dim] = softmax(q kᵀ / sqrt(head_dim)) v over attended_ranges of each query
// (query row r of query block r / block_q at position first_position + r); query head h reads KV head
// h / (n_heads / n_kv_heads). Keys are visited in ascending order in tiles with an f32 online softmax.
void block_sparse_attention(const HipConfig& config, const HipMask& mask, const HipQueries& queries,
                            const HipKv& kv, float* out);

}  // namespace hipcode::hip
