// HiP config: defaults, validation errors naming the field, per-layer lookup (dense layers, overrides).
#include <string>

#include "core/error.h"
#include "hip/hip-config.h"
#include "tests/check.h"

using namespace hipcode;
using namespace hipcode::hip;

namespace {

// True when validate_hip_config throws INVALID_ARGUMENT whose message contains `field`.
bool rejects(const HipConfig& config, const std::string& field) {
  try {
    validate_hip_config(config);
  } catch (const EngineError& error) {
    return error.code() == ErrorCode::INVALID_ARGUMENT && std::string(error.what()).find(field) == 0;
  }
  return false;
}

bool model_rejects(const HipModelConfig& model, int64_t layers, const std::string& field) {
  try {
    validate_hip_model_config(model, layers);
  } catch (const EngineError& error) {
    return error.code() == ErrorCode::INVALID_ARGUMENT && std::string(error.what()).find(field) == 0;
  }
  return false;
}

}  // namespace

TEST(hip_config_defaults_are_infinite_hip_3k) {
  const HipConfig config;
  validate_hip_config(config);
  CHECK(config.block_q == 64);
  CHECK(config.sink_tokens == 256);
  CHECK(config.window_tokens == 1024);
  CHECK(config.stages.size() == 3);
  CHECK(config.stages[0].chunk_size == 256 && config.stages[0].keep_tokens == 32768);
  CHECK(config.stages[1].chunk_size == 32 && config.stages[1].keep_tokens == 8192);
  CHECK(config.stages[2].chunk_size == 8 && config.stages[2].keep_tokens == 2048);
  CHECK(config.stages[0].query_stride == 4 && config.stages[2].query_stride == 1);
  CHECK(config.block_k() == 8);
  CHECK(config.prefill_chunk_tokens == 32768);
}

// Segments end where a prefill chunk ends (absolute positions) and at the pass's end; their last block is
// dense when they end a chunk, or end a pass that seeds generation; a partial last block always is, but in a
// pass shorter than two blocks, which is sparse throughout.
TEST(hip_prefill_segments_end_at_prefill_chunk_ends) {
  HipConfig config;
  config.prefill_chunk_tokens = 256;
  auto cut = [&](int64_t first_position, int64_t n, bool seeds) {
    std::vector<int64_t> flat;
    for (const HipPrefillSegment& s : config.prefill_segments(first_position, n, seeds)) {
      flat.insert(flat.end(), {s.first_row, s.rows, s.sparse_rows});
    }
    return flat;
  };
  CHECK(cut(0, 256, false) == std::vector<int64_t>({0, 256, 192}));  // ends the chunk [0, 256)
  CHECK(cut(0, 192, false) == std::vector<int64_t>({0, 192, 192}));
  CHECK(cut(0, 192, true) == std::vector<int64_t>({0, 192, 128}));
  CHECK(cut(1000, 300, false) == std::vector<int64_t>({0, 24, 0, 24, 256, 192, 280, 20, 0}));
  CHECK(cut(1024, 640, false) == std::vector<int64_t>({0, 256, 192, 256, 256, 192, 512, 128, 128}));
  CHECK(cut(1024, 640, true) == std::vector<int64_t>({0, 256, 192, 256, 256, 192, 512, 128, 64}));
  CHECK(cut(5, 0, true).empty());
  // Fewer than 2 * block_q rows: one sparse segment, wherever it starts and whatever chunk end it crosses.
  CHECK(cut(1000, 100, true) == std::vector<int64_t>({0, 100, 100}));
  CHECK(cut(250, 127, false) == std::vector<int64_t>({0, 127, 127}));
  CHECK(cut(1024, 128, true) == std::vector<int64_t>({0, 128, 64}));
}

TEST(hip_config_validation_names_the_field) {
  auto with = [](auto edit) {
    HipConfig config;
    edit(config);
    return config;
  };
  CHECK(rejects(with([](HipConfig& c) { c.block_q = 0; }), "HipConfig.block_q"));
  CHECK(rejects(with([](HipConfig& c) { c.sink_tokens = -1; }), "HipConfig.sink_tokens"));
  CHECK(rejects(with([](HipConfig& c) { c.window_tokens = 0; }), "HipConfig.window_tokens"));
  CHECK(rejects(with([](HipConfig& c) { c.stages.clear(); }), "HipConfig.stages"));
  CHECK(rejects(with([](HipConfig& c) { c.prefill_chunk_tokens = 32; }), "HipConfig.prefill_chunk_tokens"));
  CHECK(rejects(with([](HipConfig& c) { c.prefill_chunk_tokens = 1000; }), "HipConfig.prefill_chunk_tokens"));
  CHECK(rejects(with([](HipConfig& c) { c.stages[0].chunk_size = 0; }), "HipConfig.stages[0].chunk_size"));
  CHECK(rejects(with([](HipConfig& c) { c.stages[1].keep_tokens = 16; }), "HipConfig.stages[1].keep_tokens"));
  CHECK(
      rejects(with([](HipConfig& c) { c.stages[1].keep_tokens = 8200; }), "HipConfig.stages[1].keep_tokens"));
  CHECK(rejects(with([](HipConfig& c) { c.stages[2].keep_tokens = 16384; }),
                "HipConfig.stages[2].keep_tokens"));
  CHECK(rejects(with([](HipConfig& c) { c.stages[1].chunk_size = 512; }), "HipConfig.stages[1].chunk_size"));
  CHECK(
      rejects(with([](HipConfig& c) { c.stages[0].query_stride = 0; }), "HipConfig.stages[0].query_stride"));
  CHECK(
      rejects(with([](HipConfig& c) { c.stages[2].query_stride = 3; }), "HipConfig.stages[2].query_stride"));
  // Zero sink, one-token window, a single stage and equal chunk sizes are all fine.
  HipConfig small;
  small.sink_tokens = 0;
  small.window_tokens = 1;
  small.stages = {{16, 64, 1}, {16, 32, 2}};
  validate_hip_config(small);
}

TEST(hip_layer_config_dense_layers_and_overrides) {
  HipModelConfig model;
  model.dense_layers = 2;
  HipConfig wide;
  wide.stages[2].keep_tokens = 4096;
  HipConfig narrow;
  narrow.window_tokens = 512;
  model.overrides = {{2, 5, wide}, {4, 6, narrow}};
  validate_hip_model_config(model, 8);
  CHECK(hip_layer_config(model, 0).dense);
  CHECK(hip_layer_config(model, 1).dense);
  CHECK(!hip_layer_config(model, 2).dense);
  CHECK(hip_layer_config(model, 3).config.stages[2].keep_tokens == 4096);
  CHECK(hip_layer_config(model, 4).config.window_tokens == 512);  // the later override wins
  CHECK(hip_layer_config(model, 4).config.stages[2].keep_tokens == 2048);
  CHECK(hip_layer_config(model, 6).config.window_tokens == 1024);  // base
  CHECK(!hip_layer_config(model, 7).dense);
}

TEST(hip_model_config_validation_names_the_field) {
  HipModelConfig model;
  model.dense_layers = 9;
  CHECK(model_rejects(model, 8, "HipModelConfig.dense_layers"));
  model.dense_layers = 0;
  model.overrides = {{3, 3, HipConfig{}}};
  CHECK(model_rejects(model, 8, "HipModelConfig.overrides[0]"));
  model.overrides = {{0, 9, HipConfig{}}};
  CHECK(model_rejects(model, 8, "HipModelConfig.overrides[0]"));
  HipConfig bad;
  bad.block_q = 0;
  model.overrides = {{0, 8, HipConfig{}}, {1, 2, bad}};
  CHECK(model_rejects(model, 8, "HipModelConfig.overrides[1].config: HipConfig.block_q"));
  model.overrides.clear();
  model.base.window_tokens = 0;
  CHECK(model_rejects(model, 8, "HipConfig.window_tokens"));
}
