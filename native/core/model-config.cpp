// Consistency checks of the model geometry and RoPE parameters received from the JS side.
#include "core/model-config.h"

#include <string>
#include <utility>

#include "core/error.h"

namespace hipcode {
namespace {

EngineError invalid(const std::string& message) {
  return EngineError(ErrorCode::INVALID_ARGUMENT, message);
}

}  // namespace

void validate_geometry(const ModelGeometry& g) {
  const std::pair<const char*, int64_t> sizes[] = {
      {"hiddenSize", g.hidden_size},  {"intermediateSize", g.intermediate_size},
      {"numLayers", g.num_layers},    {"numHeads", g.num_heads},
      {"numKvHeads", g.num_kv_heads}, {"headDim", g.head_dim},
      {"vocabSize", g.vocab_size},
  };
  for (const auto& [name, value] : sizes) {
    if (value <= 0)
      throw invalid("spec.geometry." + std::string(name) + ": expected > 0, got " + std::to_string(value));
  }
  if (g.num_heads % g.num_kv_heads != 0) {
    throw invalid("spec.geometry.numHeads: expected a multiple of numKvHeads (" +
                  std::to_string(g.num_kv_heads) + "), got " + std::to_string(g.num_heads));
  }
  if (g.head_dim % 2 != 0)
    throw invalid("spec.geometry.headDim: expected an even number, got " + std::to_string(g.head_dim));
  if (g.vocab_size > INT32_MAX) throw invalid("spec.geometry.vocabSize: expected < 2^31");
  if (g.sliding_window < 0) throw invalid("spec.geometry.slidingWindow: expected >= 0");
  if (!(g.rms_norm_eps > 0)) throw invalid("spec.geometry.rmsNormEps: expected > 0");
  const RopeSpec& rope = g.rope;
  if (!(rope.theta > 1)) throw invalid("spec.geometry.rope.theta: expected > 1");
  const bool scaled = rope.type != RopeType::DEFAULT;
  if (scaled && !(rope.factor > 0)) throw invalid("spec.geometry.rope.factor: expected > 0");
  const bool needs_original =
      rope.type == RopeType::DYNAMIC || rope.type == RopeType::LLAMA3 || rope.type == RopeType::YARN;
  if (needs_original && rope.original_max_position_embeddings <= 0) {
    throw invalid("spec.geometry.rope.originalMaxPositionEmbeddings: expected > 0 for this rope type");
  }
  if (rope.type == RopeType::LLAMA3 && !(rope.high_freq_factor > rope.low_freq_factor)) {
    throw invalid("spec.geometry.rope.highFreqFactor: expected > lowFreqFactor");
  }
  if (rope.type == RopeType::YARN && !(rope.beta_fast > 0 && rope.beta_slow > 0)) {
    throw invalid("spec.geometry.rope.betaFast/betaSlow: expected > 0");
  }
}

}  // namespace hipcode
