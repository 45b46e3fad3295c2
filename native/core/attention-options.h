// Which attention a model's forward passes run: dense, HiP sparse, or HiP above a context length (auto),
// with the HiP configs and the decode mask refresh intervals.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "hip/hip-config.h"

namespace hipcode {

enum class AttentionMode { DENSE, HIP, AUTO };

// Keys held above which `auto` switches decode steps to HiP. Measured on an H100 (Qwen2.5-7B geometry,
// bench/README.md): dense decode costs 6.72 ms at 8K keys and 9.44 ms at 128K (≈ 0.023 ms more per 1K keys),
// HiP ≈ 8.1 ms averaged over its refresh schedule at 128K and 260K alike; the two cross near 64K keys.
constexpr int64_t kHipAutoThresholdTokens = 65536;

struct AttentionOptions {
  AttentionMode mode = AttentionMode::DENSE;
  // auto: HiP once a decode step attends more keys than this.
  int64_t auto_threshold_tokens = kHipAutoThresholdTokens;
  // The reference's per-stage mask refresh: entry i = decode steps between re-runs of a layer's mask
  // estimation from stage i on (stage 0 = from scratch); later stages re-run from the inputs the earlier ones
  // left. Default (16, 8, 4), the InfiniteHiP paper's. Steps between re-runs reuse the mask; the window
  // widens by the steps since the last estimation from scratch, so keys that left it stay attended.
  std::vector<int64_t> refresh_intervals = {16, 8, 4};
  hip::HipModelConfig hip;
};

// Throws E_INVALID_ARGUMENT naming the bad field (attention.refreshIntervals, attention.hip...).
void validate_attention_options(const AttentionOptions& options, int64_t num_layers);

// Parses "dense", "hip" or "auto"; false for anything else.
bool parse_attention_mode(const char* text, AttentionMode* mode);

// Whether a forward pass (a decode step or a prefill chunk) whose last query is at `last_position` runs HiP
// in a layer with `layer` config: never in dense mode, in dense layers or in models with a sliding window,
// nor while the sink and the window hold every key (HiP would attend exactly what dense does); otherwise
// always in hip mode, and in auto mode once the keys (last_position + 1) exceed auto_threshold_tokens.
bool uses_hip(const AttentionOptions& options, const hip::HipLayerConfig& layer, int64_t sliding_window,
              int64_t last_position);

// The stage a layer's mask estimation (n_stages stages) re-runs from at a step `age` steps after its last
// estimation from scratch (age < 0: never estimated): 0 when never estimated or age >= intervals[0], else the
// first i < n_stages with age % intervals[i] == 0; -1 (reuse the mask) when none. Intervals past the last
// stage are ignored.
int64_t refresh_stage(const std::vector<int64_t>& intervals, int64_t age, size_t n_stages);

}  // namespace hipcode
