// HiP block-sparse attention, CPU reference: per (query, head) an online softmax over the attended ranges.
#include "hip/block-sparse-attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/error.h"

namespace hipcode::hip {
namespace {

constexpr int64_t kTileKeys = 64;

[[noreturn]] void invalid(const std::string& argument, const std::string& why) {
  throw EngineError(ErrorCode::INVALID_ARGUMENT, argument + ": " + why);
}

float dot(const float* a, const float* b, int64_t size) {
  float sum = 0;
  for (int64_t d = 0; d < size; ++d) sum += a[d] * b[d];
  return sum;
}

// Running softmax state of one (query, head): max, denominator and the unnormalised output [head_dim].
struct SoftmaxState {
  float max = -std::numeric_limits<float>::infinity();
  float denominator = 0;
  std::vector<float> acc;
};

// Folds keys [begin, end) (at most kTileKeys) into the state.
void attend_tile(const HipKv& kv, int64_t kv_head, const float* query, float scale, int64_t begin,
                 int64_t end, SoftmaxState& state) {
  float scores[kTileKeys];
  float tile_max = state.max;
  for (int64_t k = begin; k < end; ++k) {
    scores[k - begin] = dot(query, kv.key(k, kv_head), kv.head_dim) * scale;
    tile_max = std::max(tile_max, scores[k - begin]);
  }
  const float rescale = std::exp(state.max - tile_max);
  state.denominator *= rescale;
  for (float& value : state.acc) value *= rescale;
  for (int64_t k = begin; k < end; ++k) {
    const float weight = std::exp(scores[k - begin] - tile_max);
    state.denominator += weight;
    const float* value = kv.value(k, kv_head);
    for (int64_t d = 0; d < kv.head_dim; ++d) state.acc[size_t(d)] += weight * value[d];
  }
  state.max = tile_max;
}

// out [head_dim] for one query row of one head.
void attend_query(const HipKv& kv, int64_t kv_head, const float* query, const std::vector<KeyRange>& ranges,
                  float* out) {
  const float scale = 1.0f / std::sqrt(float(kv.head_dim));
  SoftmaxState state;
  state.acc.assign(size_t(kv.head_dim), 0.0f);
  for (const KeyRange& range : ranges) {
    for (int64_t begin = range.begin; begin < range.end; begin += kTileKeys)
      attend_tile(kv, kv_head, query, scale, begin, std::min(range.end, begin + kTileKeys), state);
  }
  for (int64_t d = 0; d < kv.head_dim; ++d) out[d] = state.acc[size_t(d)] / state.denominator;
}

}  // namespace

std::vector<KeyRange> attended_ranges(const HipConfig& config, const std::vector<int64_t>& blocks,
                                      int64_t position) {
  const int64_t window_begin = std::max<int64_t>(0, position - config.window_tokens + 1);
  const int64_t sink_end = std::min(config.sink_tokens, window_begin);
  std::vector<KeyRange> ranges;
  if (sink_end > 0) ranges.push_back({0, sink_end});
  for (int64_t start : blocks) {
    const KeyRange block{std::max(start, config.sink_tokens),
                         std::min(start + config.block_k(), window_begin)};
    if (block.begin < block.end) ranges.push_back(block);
  }
  ranges.push_back({window_begin, position + 1});
  return ranges;
}

void validate_hip_mask(const HipConfig& config, const HipMask& mask, const HipQueries& queries) {
  if (mask.block_q != config.block_q)
    invalid("mask.block_q", "expected config.block_q " + std::to_string(config.block_q) + ", got " +
                                std::to_string(mask.block_q));
  if (mask.block_k != config.block_k())
    invalid("mask.block_k", "expected config.block_k() " + std::to_string(config.block_k()) + ", got " +
                                std::to_string(mask.block_k));
  const int64_t n_blocks = (queries.n_queries + config.block_q - 1) / config.block_q;
  if (int64_t(mask.blocks.size()) != n_blocks)
    invalid("mask.blocks", "expected one list per query block (" + std::to_string(n_blocks) + "), got " +
                               std::to_string(mask.blocks.size()));
  for (size_t b = 0; b < mask.blocks.size(); ++b) {
    const std::vector<int64_t>& starts = mask.blocks[b];
    for (size_t i = 0; i < starts.size(); ++i) {
      if (starts[i] < 0 || (i > 0 && starts[i] < starts[i - 1] + mask.block_k))
        invalid("mask.blocks[" + std::to_string(b) + "]",
                "expected ascending non-negative starts of disjoint blocks, got " +
                    std::to_string(starts[i]) + " at index " + std::to_string(i));
    }
  }
}

void block_sparse_attention(const HipConfig& config, const HipMask& mask, const HipQueries& queries,
                            const HipKv& kv, float* out) {
  validate_hip_config(config);
  validate_hip_inputs(queries, kv);
  if (kv.values == nullptr && kv.value_pages == nullptr) invalid("kv.values", "expected a pointer, got null");
  validate_hip_mask(config, mask, queries);
  const int64_t group = queries.n_heads / kv.n_kv_heads;
  for (int64_t r = 0; r < queries.n_queries; ++r) {
    const std::vector<int64_t>& blocks = mask.blocks[size_t(r / config.block_q)];
    const std::vector<KeyRange> ranges = attended_ranges(config, blocks, queries.first_position + r);
    for (int64_t head = 0; head < queries.n_heads; ++head) {
      float* row_out = out + (r * queries.n_heads + head) * queries.head_dim;
      attend_query(kv, head / group, queries.row(r, head), ranges, row_out);
    }
  }
}

}  // namespace hipcode::hip
