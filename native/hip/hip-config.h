// HipConfig: the knobs of HiP (InfiniteHiP) sparse attention for one layer, their validation, and per-layer
// overrides (dense layers, layer ranges with their own config).
#pragma once

#include <cstdint>
#include <vector>

namespace hipcode::hip {

// One pruning stage: the surviving key range is cut into chunks of `chunk_size` tokens, every chunk is
// scored (bisection, see mask-estimation.h) and the best keep_tokens / chunk_size chunks survive.
struct HipStage {
  int64_t chunk_size;
  int64_t keep_tokens;
  // Consecutive query rows averaged into one scoring row (the reference's stage_block_stride_q).
  int64_t query_stride;
};

// Rows [first_row, first_row + rows) of a prefill pass, within one prefill chunk: its first sparse_rows rows
// (whole query blocks counted from first_row) attend sparsely, the rest densely: a partial last block, and
// the last block when the segment ends its prefill chunk or ends a pass whose last position seeds generation.
// A pass of fewer than 2 * block_q rows (a question, a chat turn) is one segment that attends sparsely
// throughout, its blocks counted from its first row and the last one possibly partial: the reference runs
// such short chunks fully sparse, and a dense row would read every key of the context.
struct HipPrefillSegment {
  int64_t first_row;
  int64_t rows;
  int64_t sparse_rows;
};

// The config of one sparse layer. Defaults = InfiniteHiP "3K" preset (sink 256, window 1024, chunks
// 256 / 32 / 8 keeping 32K / 8K / 2K tokens). The attention's key block size is the last stage's
// chunk_size (block_k(), 8 by default), as in the reference, whose final indices are 8-token blocks.
struct HipConfig {
  int64_t block_q = 64;          // queries sharing one mask
  int64_t sink_tokens = 256;     // keys [0, sink_tokens) are always attended
  int64_t window_tokens = 1024;  // a query at t always attends (t - window_tokens, t]
  std::vector<HipStage> stages = {{256, 32768, 4}, {32, 8192, 4}, {8, 2048, 1}};
  // Score like the bf16 reference: scoring rows and scores are rounded to bf16 before any comparison.
  bool bf16_scoring = true;

  // A prefill is cut into chunks of this many positions (absolute: [k * prefill_chunk_tokens, (k + 1) *
  // prefill_chunk_tokens)); the last query block of each attends densely (a multiple of block_q).
  int64_t prefill_chunk_tokens = 32768;

  int64_t block_k() const { return stages.back().chunk_size; }
  // The rows [0, n) of a prefill pass at first_position, cut where a prefill chunk ends (see
  // HipPrefillSegment).
  std::vector<HipPrefillSegment> prefill_segments(int64_t first_position, int64_t n,
                                                  bool seeds_generation) const;
};

// Throws EngineError(INVALID_ARGUMENT) naming the first bad field ("HipConfig.stages[1].chunk_size: ...").
void validate_hip_config(const HipConfig& config);

// Layers [first_layer, end_layer) use `config` instead of the base.
struct HipLayerOverride {
  int64_t first_layer;
  int64_t end_layer;
  HipConfig config;
};

// The HiP configs of a whole model.
struct HipModelConfig {
  HipConfig base;
  int64_t dense_layers = 0;                 // layers [0, dense_layers) run full (dense) attention
  std::vector<HipLayerOverride> overrides;  // later entries win over earlier ones
};

// What one layer runs: dense attention, or HiP with `config`.
struct HipLayerConfig {
  bool dense;
  HipConfig config;
};

// Validates the base, every override (ranges inside [0, num_layers)) and dense_layers in [0, num_layers].
void validate_hip_model_config(const HipModelConfig& model, int64_t num_layers);

// The config of layer `layer` (dense for layer < dense_layers; else the last override covering it; else
// the base).
HipLayerConfig hip_layer_config(const HipModelConfig& model, int64_t layer);

}  // namespace hipcode::hip
