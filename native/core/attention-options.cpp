// Attention mode parsing, validation and the per-step choice between dense and HiP decode.
#include "core/attention-options.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "core/error.h"

namespace hipcode {

void validate_attention_options(const AttentionOptions& options, int64_t num_layers) {
  const auto& intervals = options.refresh_intervals;
  if (intervals.empty()) {
    throw EngineError(ErrorCode::INVALID_ARGUMENT,
                      "attention.refreshIntervals: expected at least one interval, got none");
  }
  for (size_t i = 0; i < intervals.size(); ++i) {
    if (intervals[i] < 1) {
      throw EngineError(ErrorCode::INVALID_ARGUMENT, "attention.refreshIntervals[" + std::to_string(i) +
                                                         "]: expected an integer >= 1, got " +
                                                         std::to_string(intervals[i]));
    }
  }
  if (options.auto_threshold_tokens < 0) {
    throw EngineError(ErrorCode::INVALID_ARGUMENT,
                      "attention.thresholdTokens: expected an integer >= 0, got " +
                          std::to_string(options.auto_threshold_tokens));
  }
  hip::validate_hip_model_config(options.hip, num_layers);
}

bool parse_attention_mode(const char* text, AttentionMode* mode) {
  if (std::strcmp(text, "dense") == 0)
    *mode = AttentionMode::DENSE;
  else if (std::strcmp(text, "hip") == 0)
    *mode = AttentionMode::HIP;
  else if (std::strcmp(text, "auto") == 0)
    *mode = AttentionMode::AUTO;
  else
    return false;
  return true;
}

bool uses_hip(const AttentionOptions& options, const hip::HipLayerConfig& layer, int64_t sliding_window,
              int64_t last_position) {
  if (options.mode == AttentionMode::DENSE || layer.dense || sliding_window > 0) return false;
  const int64_t keys = last_position + 1;
  if (keys <= layer.config.sink_tokens + layer.config.window_tokens) return false;
  return options.mode == AttentionMode::HIP || keys > options.auto_threshold_tokens;
}

int64_t refresh_stage(const std::vector<int64_t>& intervals, int64_t age, size_t n_stages) {
  if (age < 0 || age >= intervals[0]) return 0;
  for (size_t i = 0; i < std::min(intervals.size(), n_stages); ++i) {
    if (age % intervals[i] == 0) return int64_t(i);
  }
  return -1;
}

}  // namespace hipcode
