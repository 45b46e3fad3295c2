// Validation of HiP configs, the cut of a prefill into segments, and the per-layer config lookup.
#include "hip/hip-config.h"

#include <algorithm>
#include <string>

#include "core/error.h"

namespace hipcode::hip {
namespace {

[[noreturn]] void invalid(const std::string& field, const std::string& why) {
  throw EngineError(ErrorCode::INVALID_ARGUMENT, field + ": " + why);
}

void require_at_least(const std::string& field, int64_t value, int64_t minimum) {
  if (value < minimum)
    invalid(field, "expected >= " + std::to_string(minimum) + ", got " + std::to_string(value));
}

void validate_stage(const HipConfig& config, size_t index) {
  const HipStage& stage = config.stages[index];
  const std::string name = "HipConfig.stages[" + std::to_string(index) + "]";
  require_at_least(name + ".chunk_size", stage.chunk_size, 1);
  require_at_least(name + ".keep_tokens", stage.keep_tokens, stage.chunk_size);
  if (stage.keep_tokens % stage.chunk_size != 0)
    invalid(name + ".keep_tokens", "expected a multiple of chunk_size " + std::to_string(stage.chunk_size) +
                                       ", got " + std::to_string(stage.keep_tokens));
  require_at_least(name + ".query_stride", stage.query_stride, 1);
  if (config.block_q % stage.query_stride != 0)
    invalid(name + ".query_stride", "expected a divisor of block_q " + std::to_string(config.block_q) +
                                        ", got " + std::to_string(stage.query_stride));
  if (index == 0) return;
  const HipStage& previous = config.stages[index - 1];
  if (previous.chunk_size % stage.chunk_size != 0)
    invalid(name + ".chunk_size", "expected a divisor of the previous stage's chunk_size " +
                                      std::to_string(previous.chunk_size) + ", got " +
                                      std::to_string(stage.chunk_size));
  if (stage.keep_tokens > previous.keep_tokens)
    invalid(name + ".keep_tokens", "expected <= the previous stage's keep_tokens " +
                                       std::to_string(previous.keep_tokens) + ", got " +
                                       std::to_string(stage.keep_tokens));
}

}  // namespace

std::vector<HipPrefillSegment> HipConfig::prefill_segments(int64_t first_position, int64_t n,
                                                           bool seeds_generation) const {
  std::vector<HipPrefillSegment> segments;
  if (n > 0 && n < 2 * block_q) return {{0, n, n}};
  for (int64_t row = 0; row < n;) {
    const int64_t position = first_position + row;
    if (position % block_q != 0) {  // the rest of a query block an earlier pass began: dense
      const int64_t end_row = std::min(n, (position / block_q + 1) * block_q - first_position);
      segments.push_back({row, end_row - row, 0});
      row = end_row;
      continue;
    }
    const int64_t chunk_end = (position / prefill_chunk_tokens + 1) * prefill_chunk_tokens;
    const int64_t end_row = std::min(n, chunk_end - first_position);
    const bool dense_tail = first_position + end_row == chunk_end || (end_row == n && seeds_generation);
    const int64_t rows = end_row - row;
    segments.push_back({row, rows, (dense_tail ? rows - 1 : rows) / block_q * block_q});
    row = end_row;
  }
  return segments;
}

void validate_hip_config(const HipConfig& config) {
  require_at_least("HipConfig.block_q", config.block_q, 1);
  require_at_least("HipConfig.prefill_chunk_tokens", config.prefill_chunk_tokens, config.block_q);
  if (config.prefill_chunk_tokens % config.block_q != 0) {
    invalid("HipConfig.prefill_chunk_tokens", "expected a multiple of block_q (" +
                                                  std::to_string(config.block_q) + "), got " +
                                                  std::to_string(config.prefill_chunk_tokens));
  }
  require_at_least("HipConfig.sink_tokens", config.sink_tokens, 0);
  require_at_least("HipConfig.window_tokens", config.window_tokens, 1);
  if (config.stages.empty()) invalid("HipConfig.stages", "expected at least one stage");
  for (size_t i = 0; i < config.stages.size(); ++i) validate_stage(config, i);
}

void validate_hip_model_config(const HipModelConfig& model, int64_t num_layers) {
  validate_hip_config(model.base);
  if (model.dense_layers < 0 || model.dense_layers > num_layers)
    invalid("HipModelConfig.dense_layers",
            "expected in [0, " + std::to_string(num_layers) + "], got " + std::to_string(model.dense_layers));
  for (size_t i = 0; i < model.overrides.size(); ++i) {
    const HipLayerOverride& entry = model.overrides[i];
    const std::string name = "HipModelConfig.overrides[" + std::to_string(i) + "]";
    if (entry.first_layer < 0 || entry.first_layer >= entry.end_layer || entry.end_layer > num_layers)
      invalid(name, "expected 0 <= first_layer < end_layer <= " + std::to_string(num_layers) + ", got [" +
                        std::to_string(entry.first_layer) + ", " + std::to_string(entry.end_layer) + ")");
    try {
      validate_hip_config(entry.config);
    } catch (const EngineError& error) {
      invalid(name + ".config", error.what());
    }
  }
}

HipLayerConfig hip_layer_config(const HipModelConfig& model, int64_t layer) {
  if (layer < model.dense_layers) return {true, model.base};
  for (auto it = model.overrides.rbegin(); it != model.overrides.rend(); ++it) {
    if (layer >= it->first_layer && layer < it->end_layer) return {false, it->config};
  }
  return {false, model.base};
}

}  // namespace hipcode::hip
