// Model geometry, RoPE parameters and weight locations, mirroring ModelGeometry / RopeSpec / TensorRef in
// extension/engine/native.ts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace hipcode {

enum class RopeType { DEFAULT, LINEAR, DYNAMIC, LLAMA3, YARN };

// Hugging Face modeling_rope_utils semantics; fields a type does not use are ignored.
struct RopeSpec {
  RopeType type = RopeType::DEFAULT;
  double theta = 10000.0;
  double factor = 1.0;
  int64_t original_max_position_embeddings = 0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  double attention_factor = 1.0;
  bool truncate = true;
};

struct ModelGeometry {
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t vocab_size = 0;
  double rms_norm_eps = 1e-6;
  int64_t sliding_window = 0;  // 0 = none
  int64_t max_position_embeddings = 0;
  RopeSpec rope;
};

// A byte range of a safetensors file. `name` is the argument path used in error messages.
struct TensorRef {
  std::string name;
  std::string file;
  uint64_t offset = 0;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
};

struct LinearRef {
  TensorRef weight;
  std::optional<TensorRef> bias;
};

struct LayerWeightRefs {
  TensorRef attn_norm;
  LinearRef q, k, v, o;
  std::optional<TensorRef> q_norm, k_norm;
  TensorRef mlp_norm;
  LinearRef gate, up, down;
};

struct ModelWeightRefs {
  TensorRef embed;
  std::vector<LayerWeightRefs> layers;
  TensorRef final_norm;
  TensorRef lm_head;
};

// Checks the geometry is self-consistent (positive sizes, heads divisible); throws E_INVALID_ARGUMENT.
void validate_geometry(const ModelGeometry& geometry);

}  // namespace hipcode
