// Test helpers shared by the backend tests: the CUDA backend or a printed skip, an environment setting for a
// scope (backends read theirs when made), a small decode geometry, random token ids and the relative L2
// distance.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/backend-factory.h"
#include "core/model-config.h"
#include "cuda/cuda-probe.h"

namespace hipcode::test {

// Sets environment variable `name` to `value` (null: unsets it) until the end of the scope, then restores it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
  ~ScopedEnv() {
    if (old_) {
      setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }

 private:
  std::string name_;
  std::optional<std::string> old_;
};

// The CUDA backend, or null after printing "SKIP test: reason" where no usable GPU is present.
inline std::unique_ptr<Backend> cuda_backend_or_skip(const char* test) {
  const cuda::Probe probe = cuda::probe();
  if (!probe.available) {
    std::printf("  SKIP %s: %s\n", test, probe.reason.c_str());
    return nullptr;
  }
  return create_backend(BackendChoice{"cuda", 0, 0});
}

// 2 layers, 8 q heads over 2 KV heads of 64 dims, hidden 128, vocab 300.
inline ModelGeometry small_decode_geometry(int64_t max_position) {
  ModelGeometry g;
  g.hidden_size = 128;
  g.intermediate_size = 256;
  g.num_layers = 2;
  g.num_heads = 8;
  g.num_kv_heads = 2;
  g.head_dim = 64;
  g.vocab_size = 300;
  g.rms_norm_eps = 1e-6;
  g.max_position_embeddings = max_position;
  g.rope.theta = 10000;
  return g;
}

// `count` ids uniform in [0, vocab), reproducible from `seed`.
inline std::vector<int32_t> random_ids(size_t count, int64_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> token(0, int32_t(vocab - 1));
  std::vector<int32_t> ids(count);
  for (int32_t& id : ids) id = token(rng);
  return ids;
}

// ‖actual − expected‖₂ / ‖expected‖₂
inline double relative_l2(const std::vector<float>& actual, const std::vector<float>& expected) {
  double diff = 0, norm = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    diff += (double(actual[i]) - expected[i]) * (double(actual[i]) - expected[i]);
    norm += double(expected[i]) * expected[i];
  }
  return std::sqrt(diff / std::max(norm, 1e-30));
}

}  // namespace hipcode::test
