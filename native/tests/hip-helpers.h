// Helpers shared by the HiP engine tests (decode and prefill): bf16-exact random data, a one-layer KV cache
// on a backend, activations from host arrays, small HiP configs and a small synthetic model with HiP.
#pragma once

#include <algorithm>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/backend-factory.h"
#include "core/dtype.h"
#include "core/kv-cache.h"
#include "core/model.h"
#include "tests/backend-helpers.h"
#include "tests/check.h"

namespace hipcode::test {

inline std::unique_ptr<Backend> cpu_backend() {
  return create_backend(BackendChoice{"cpu", 0, 2});
}

// Values a bf16 KV cache holds exactly, so the CPU (f32) and CUDA (bf16) backends see the same keys.
inline std::vector<float> normal_bf16(std::mt19937_64& rng, size_t count, float scale) {
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> values(count);
  for (float& value : values) value = bf16_to_f32(f32_to_bf16(normal(rng)));
  return values;
}

// One layer's KV cache on a backend.
struct LayerCache {
  std::shared_ptr<KvPagePool> pool;
  std::unique_ptr<KvCache> cache;
  KvPages pages() const { return {&pool->store(), &pool->layout(), &cache->page_table(), 0}; }
};

inline LayerCache layer_cache(Backend& backend, const AttentionShape& shape, int64_t capacity) {
  KvLayout layout;
  layout.num_layers = 1;
  layout.num_kv_heads = shape.num_kv_heads;
  layout.head_dim = shape.head_dim;
  layout.expected_tokens = capacity;
  auto pool = std::make_shared<KvPagePool>(backend.create_kv_store(layout), layout);
  return {pool, std::make_unique<KvCache>(pool, capacity)};
}

inline std::unique_ptr<Activation> filled(Backend& backend, int64_t rows, int64_t cols, const float* values) {
  auto x = backend.allocate(rows, cols);
  backend.write(*x, values);
  return x;
}

// Appends keys, values [count, kv_heads * head_dim] (rows [first, first + count) of the arrays).
inline void append(Backend& backend, LayerCache& c, const AttentionShape& shape,
                   const std::vector<float>& keys, const std::vector<float>& values, int64_t first,
                   int64_t count) {
  const int64_t width = shape.num_kv_heads * shape.head_dim;
  c.cache->reserve(count);
  backend.write_kv(c.pages(), first, *filled(backend, count, width, keys.data() + first * width),
                   *filled(backend, count, width, values.data() + first * width));
  c.cache->commit(count);
}

inline std::vector<float> read(Backend& backend, const Activation& x) {
  std::vector<float> host(size_t(x.rows() * x.cols()));
  backend.read(x, host.data());
  return host;
}

inline hip::HipConfig small_config(int64_t keep_scale) {
  hip::HipConfig config;
  config.sink_tokens = 16;
  config.window_tokens = 64;
  config.stages = {{64, 64 * keep_scale, 1}, {16, 16 * keep_scale, 1}, {8, 8 * keep_scale, 1}};
  return config;
}

inline void check_error_at_most(const std::string& what, double error, double bound) {
  if (!(error <= bound)) fail(__FILE__, __LINE__, what + ": relative L2 " + std::to_string(error));
}

inline ModelGeometry hip_geometry() {
  return small_decode_geometry(4096);
}

inline std::shared_ptr<Model> hip_model(std::unique_ptr<Backend> backend, AttentionMode mode,
                                        const hip::HipConfig& config) {
  SyntheticWeights weights;
  weights.seed = 9;
  auto model = Model::synthetic(hip_geometry(), weights, std::move(backend));
  AttentionOptions options;
  options.mode = mode;
  options.hip.base = config;
  model->set_attention(options);
  return model;
}

inline std::vector<int32_t> random_tokens(std::mt19937_64& rng, int64_t count) {
  std::uniform_int_distribution<int32_t> token(0, int32_t(hip_geometry().vocab_size - 1));
  std::vector<int32_t> ids(static_cast<size_t>(count));
  for (int32_t& id : ids) id = token(rng);
  return ids;
}

}  // namespace hipcode::test
