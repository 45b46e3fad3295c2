// Sampler: Hugging Face logits processing (repetition penalty, temperature, top-k, top-p, min-p) and a
// seeded draw.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace hipcode {

struct SamplingParams {
  double temperature = 0.0;         // 0 = greedy
  int64_t top_k = 0;                // 0 = disabled
  double top_p = 1.0;               // 1 = disabled
  double min_p = 0.0;               // 0 = disabled
  double repetition_penalty = 1.0;  // 1 = disabled
};

// Throws E_INVALID_ARGUMENT naming the field when a parameter is out of range.
void validate_sampling(const SamplingParams& params);

// Divides positive logits by the penalty and multiplies negative ones, once per distinct token in `history`.
void apply_repetition_penalty(std::vector<float>& logits, const std::vector<int32_t>& history,
                              double penalty);

// Index of the largest logit; ties go to the lowest id.
int32_t argmax(const std::vector<float>& logits);

// Uniform double in [0, 1) from 53 random bits (portable, unlike std::uniform_real_distribution).
double uniform_draw(std::mt19937_64& rng);

// Picks the next token from `logits` [vocab] (modified in place) given the session's token history; `uniform`
// in [0, 1) is the draw (unused when greedy).
int32_t sample_token(std::vector<float>& logits, const std::vector<int32_t>& history,
                     const SamplingParams& params, double uniform);

// Everything a backend needs to pick the next token from logits, and where it puts it.
struct SampleRequest {
  SamplingParams params;
  const std::vector<int32_t>* history = nullptr;  // for the repetition penalty
  double uniform = 0;                             // the draw, in [0, 1)
  int32_t token = -1;                             // the result
};

}  // namespace hipcode
