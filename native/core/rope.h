// RoPE frequencies with Hugging Face transformers semantics (modeling_rope_utils) for default, linear,
// dynamic NTK, llama3 and yarn, computed per forward call.
#pragma once

#include <cstdint>
#include <vector>

#include "core/model-config.h"

namespace hipcode {

struct RopeFrequencies {
  std::vector<float> inv_freq;    // [head_dim / 2]
  float attention_factor = 1.0f;  // multiplies cos and sin (yarn)
};

// Frequencies for a forward call whose largest position is `seq_len - 1`. Dynamic NTK rescales the base
// when seq_len exceeds rope.original_max_position_embeddings; every other type ignores seq_len.
RopeFrequencies rope_frequencies(const RopeSpec& rope, int64_t head_dim, int64_t seq_len);

// Fills cos and sin for `count` positions starting at `first_position`, HF layout (frequency i and i + half
// share an angle): cos_sin is [count, head_dim], the first half of each row holds cos, the second half sin,
// both already multiplied by the attention factor.
void rope_cos_sin(const RopeFrequencies& freqs, int64_t first_position, int64_t count, float* cos_sin);

}  // namespace hipcode
