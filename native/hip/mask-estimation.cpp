// HiP mask estimation, CPU reference: candidate chunks, bisection scoring, max over heads, top-k per stage.
#include "hip/mask-estimation.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/dtype.h"
#include "core/error.h"

namespace hipcode::hip {
namespace {

constexpr float kMinusInfinity = -std::numeric_limits<float>::infinity();

[[noreturn]] void invalid(const std::string& argument, const std::string& why) {
  throw EngineError(ErrorCode::INVALID_ARGUMENT, argument + ": " + why);
}

float round_to_bf16(float value) {
  return bf16_to_f32(f32_to_bf16(value));
}

struct ScoredChunk {
  int64_t start;
  float score;
};

// Higher score first, then the lower start.
bool ranks_before(const ScoredChunk& a, const ScoredChunk& b) {
  if (a.score != b.score) return a.score > b.score;
  return a.start < b.start;
}

// Scoring rows of every query head for one stage: [n_heads][rows * head_dim].
std::vector<std::vector<float>> stage_rows(const HipConfig& config, const HipQueries& queries,
                                           int64_t first_row, int64_t n_rows, int64_t stride) {
  std::vector<std::vector<float>> rows(size_t(queries.n_heads));
  for (int64_t head = 0; head < queries.n_heads; ++head)
    rows[size_t(head)] = scoring_rows(config, queries, first_row, n_rows, head, stride);
  return rows;
}

// Max over query heads of the chunk's bisection score.
float chunk_score(const HipConfig& config, const std::vector<std::vector<float>>& rows, const HipKv& kv,
                  int64_t group, int64_t left, int64_t right) {
  float best = kMinusInfinity;
  for (size_t head = 0; head < rows.size(); ++head) {
    const int64_t n_rows = int64_t(rows[head].size()) / kv.head_dim;
    const ChunkScan scan =
        scan_chunk(config.bf16_scoring, rows[head].data(), n_rows, kv, int64_t(head) / group, left, right);
    best = std::max(best, scan.score);
  }
  return best;
}

// Keeps the best keep_tokens / chunk_size of `starts` (chunks clipped to candidates.end).
std::vector<int64_t> prune(const HipConfig& config, const HipStage& stage,
                           const std::vector<std::vector<float>>& rows, const HipKv& kv, int64_t group,
                           const std::vector<int64_t>& starts, const KeyRange& candidates) {
  const auto keep = size_t(stage.keep_tokens / stage.chunk_size);
  if (starts.size() <= keep) return starts;
  std::vector<ScoredChunk> scored;
  scored.reserve(starts.size());
  for (int64_t start : starts) {
    const int64_t end = std::min(start + stage.chunk_size, candidates.end);
    scored.push_back({start, chunk_score(config, rows, kv, group, start, end)});
  }
  std::sort(scored.begin(), scored.end(), ranks_before);
  std::vector<int64_t> kept(keep);
  for (size_t i = 0; i < keep; ++i) kept[i] = scored[i].start;
  return kept;
}

// Ascending starts of the `chunk_size`-token sub-chunks of chunks `starts` of `parent_size` tokens that begin
// before candidates.end.
std::vector<int64_t> split(const std::vector<int64_t>& starts, int64_t parent_size, int64_t chunk_size,
                           const KeyRange& candidates) {
  std::vector<int64_t> children;
  for (int64_t start : starts) {
    const int64_t end = std::min(start + parent_size, candidates.end);
    for (int64_t child = start; child < end; child += chunk_size) children.push_back(child);
  }
  std::sort(children.begin(), children.end());
  return children;
}

}  // namespace

void validate_hip_inputs(const HipQueries& queries, const HipKv& kv) {
  if (queries.data == nullptr) invalid("queries.data", "expected a pointer, got null");
  if (kv.keys == nullptr && kv.key_pages == nullptr) invalid("kv.keys", "expected a pointer, got null");
  if (queries.n_queries < 1) invalid("queries.n_queries", "expected >= 1");
  if (queries.first_position < 0) invalid("queries.first_position", "expected >= 0");
  if (kv.n_kv_heads < 1 || queries.n_heads < 1 || queries.n_heads % kv.n_kv_heads != 0)
    invalid("queries.n_heads", "expected a positive multiple of kv.n_kv_heads " +
                                   std::to_string(kv.n_kv_heads) + ", got " +
                                   std::to_string(queries.n_heads));
  if (queries.head_dim < 1 || queries.head_dim != kv.head_dim)
    invalid("queries.head_dim", "expected kv.head_dim " + std::to_string(kv.head_dim) + ", got " +
                                    std::to_string(queries.head_dim));
  const int64_t last_position = queries.first_position + queries.n_queries - 1;
  if (kv.n_tokens <= last_position)
    invalid("kv.n_tokens", "expected > the last query position " + std::to_string(last_position) + ", got " +
                               std::to_string(kv.n_tokens));
}

KeyRange candidate_range(const HipConfig& config, int64_t last_position) {
  return {config.sink_tokens, last_position - config.window_tokens + 1};
}

std::vector<float> scoring_rows(const HipConfig& config, const HipQueries& queries, int64_t first_row,
                                int64_t n_rows, int64_t head, int64_t stride) {
  const int64_t head_dim = queries.head_dim;
  const int64_t groups = (n_rows + stride - 1) / stride;
  std::vector<float> rows(size_t(groups * head_dim), 0.0f);
  for (int64_t g = 0; g < groups; ++g) {
    float* row = rows.data() + g * head_dim;
    const int64_t count = std::min(stride, n_rows - g * stride);
    for (int64_t i = 0; i < count; ++i) {
      const float* query = queries.row(first_row + g * stride + i, head);
      for (int64_t d = 0; d < head_dim; ++d) row[d] += query[d];
    }
    for (int64_t d = 0; d < head_dim; ++d) {
      row[d] /= float(count);
      if (config.bf16_scoring) row[d] = round_to_bf16(row[d]);
    }
  }
  return rows;
}

float key_score(bool bf16_scoring, const float* rows, int64_t n_rows, const float* key, int64_t head_dim) {
  float best = kMinusInfinity;
  for (int64_t r = 0; r < n_rows; ++r) {
    double sum = 0;
    for (int64_t d = 0; d < head_dim; ++d) sum += double(rows[r * head_dim + d]) * double(key[d]);
    float score = float(sum);
    if (bf16_scoring) score = round_to_bf16(score);
    if (!std::isnan(score)) best = std::max(best, score);
  }
  return best;
}

ChunkScan scan_chunk(bool bf16_scoring, const float* rows, int64_t n_rows, const HipKv& kv, int64_t kv_head,
                     int64_t left, int64_t right) {
  auto score_at = [&](int64_t position) {
    return key_score(bf16_scoring, rows, n_rows, kv.key(position, kv_head), kv.head_dim);
  };
  if (right - left == 1) return {left, score_at(left)};
  float best = kMinusInfinity;
  while (right - left > 1) {
    const int64_t centre = (left + right) / 2;
    const float left_score = score_at((left + centre) / 2);
    const float right_score = score_at((centre + right) / 2);
    if (left_score > right_score) {
      right = centre;
      best = std::max(best, left_score);
    } else {
      left = centre;
      best = std::max(best, right_score);
    }
  }
  return {left, best};
}

std::vector<int64_t> select_key_blocks(const HipConfig& config, const HipQueries& queries, const HipKv& kv,
                                       int64_t query_block) {
  std::vector<std::vector<int64_t>> stage_inputs;
  return select_key_blocks_from(config, queries, kv, query_block, 0, stage_inputs);
}

std::vector<int64_t> select_key_blocks_from(const HipConfig& config, const HipQueries& queries,
                                            const HipKv& kv, int64_t query_block, size_t first_stage,
                                            std::vector<std::vector<int64_t>>& stage_inputs) {
  const int64_t first_row = query_block * config.block_q;
  const int64_t n_rows = std::min(config.block_q, queries.n_queries - first_row);
  const KeyRange candidates = candidate_range(config, queries.first_position + first_row + n_rows - 1);
  const int64_t group = queries.n_heads / kv.n_kv_heads;
  stage_inputs.resize(config.stages.size());
  std::vector<int64_t> starts;
  if (first_stage == 0) {
    for (int64_t start = candidates.begin; start < candidates.end; start += config.stages[0].chunk_size)
      starts.push_back(start);
  } else {
    starts = stage_inputs[first_stage];
  }
  for (size_t i = first_stage; i < config.stages.size(); ++i) {
    const HipStage& stage = config.stages[i];
    if (i > first_stage)
      starts = split(starts, config.stages[i - 1].chunk_size, stage.chunk_size, candidates);
    if (i > 0) stage_inputs[i] = starts;
    if (starts.size() <= size_t(stage.keep_tokens / stage.chunk_size)) continue;
    const auto rows = stage_rows(config, queries, first_row, n_rows, stage.query_stride);
    starts = prune(config, stage, rows, kv, group, starts, candidates);
  }
  std::sort(starts.begin(), starts.end());
  return starts;
}

HipMask estimate_hip_mask(const HipConfig& config, const HipQueries& queries, const HipKv& kv) {
  validate_hip_config(config);
  validate_hip_inputs(queries, kv);
  HipMask mask{config.block_q, config.block_k(), {}};
  const int64_t n_blocks = (queries.n_queries + config.block_q - 1) / config.block_q;
  for (int64_t b = 0; b < n_blocks; ++b) mask.blocks.push_back(select_key_blocks(config, queries, kv, b));
  return mask;
}

}  // namespace hipcode::hip
