// RoPE inverse frequencies per Hugging Face rope type, and the cos/sin table of a forward call.
#include "core/rope.h"

#include <algorithm>
#include <cmath>

namespace hipcode {
namespace {

constexpr double kPi = 3.14159265358979323846;

std::vector<double> default_inv_freq(double base, int64_t dim) {
  std::vector<double> inv_freq(dim / 2);
  for (int64_t i = 0; i < dim / 2; ++i) inv_freq[i] = 1.0 / std::pow(base, double(2 * i) / double(dim));
  return inv_freq;
}

std::vector<double> dynamic_inv_freq(const RopeSpec& rope, int64_t dim, int64_t seq_len) {
  const auto original = double(rope.original_max_position_embeddings);
  if (double(seq_len) <= original) return default_inv_freq(rope.theta, dim);
  const double growth = rope.factor * double(seq_len) / original - (rope.factor - 1.0);
  const double base = rope.theta * std::pow(growth, double(dim) / double(dim - 2));
  return default_inv_freq(base, dim);
}

std::vector<double> llama3_inv_freq(const RopeSpec& rope, int64_t dim) {
  std::vector<double> inv_freq = default_inv_freq(rope.theta, dim);
  const auto old_context = double(rope.original_max_position_embeddings);
  const double low_freq_wavelen = old_context / rope.low_freq_factor;
  const double high_freq_wavelen = old_context / rope.high_freq_factor;
  for (double& freq : inv_freq) {
    const double wavelen = 2.0 * kPi / freq;
    if (wavelen < high_freq_wavelen) continue;
    if (wavelen > low_freq_wavelen) {
      freq /= rope.factor;
      continue;
    }
    const double smooth =
        (old_context / wavelen - rope.low_freq_factor) / (rope.high_freq_factor - rope.low_freq_factor);
    freq = (1.0 - smooth) * freq / rope.factor + smooth * freq;
  }
  return inv_freq;
}

double yarn_correction_dim(double rotations, int64_t dim, double base, double max_positions) {
  return double(dim) * std::log(max_positions / (rotations * 2.0 * kPi)) / (2.0 * std::log(base));
}

std::vector<double> yarn_inv_freq(const RopeSpec& rope, int64_t dim) {
  const auto original = double(rope.original_max_position_embeddings);
  double low = yarn_correction_dim(rope.beta_fast, dim, rope.theta, original);
  double high = yarn_correction_dim(rope.beta_slow, dim, rope.theta, original);
  if (rope.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, double(dim - 1));
  if (low == high) high += 0.001;  // avoids a division by zero in the ramp

  const std::vector<double> extrapolation = default_inv_freq(rope.theta, dim);
  std::vector<double> inv_freq(dim / 2);
  for (int64_t i = 0; i < dim / 2; ++i) {
    const double ramp = std::clamp((double(i) - low) / (high - low), 0.0, 1.0);
    const double extrapolation_weight = 1.0 - ramp;
    const double interpolation = extrapolation[i] / rope.factor;
    inv_freq[i] = interpolation * (1.0 - extrapolation_weight) + extrapolation[i] * extrapolation_weight;
  }
  return inv_freq;
}

std::vector<double> inv_freq_for(const RopeSpec& rope, int64_t dim, int64_t seq_len) {
  switch (rope.type) {
    case RopeType::DEFAULT:
      return default_inv_freq(rope.theta, dim);
    case RopeType::LINEAR: {
      std::vector<double> inv_freq = default_inv_freq(rope.theta, dim);
      for (double& freq : inv_freq) freq /= rope.factor;
      return inv_freq;
    }
    case RopeType::DYNAMIC:
      return dynamic_inv_freq(rope, dim, seq_len);
    case RopeType::LLAMA3:
      return llama3_inv_freq(rope, dim);
    case RopeType::YARN:
      return yarn_inv_freq(rope, dim);
  }
  return default_inv_freq(rope.theta, dim);
}

}  // namespace

RopeFrequencies rope_frequencies(const RopeSpec& rope, int64_t head_dim, int64_t seq_len) {
  const std::vector<double> inv_freq = inv_freq_for(rope, head_dim, seq_len);
  RopeFrequencies freqs;
  freqs.inv_freq.assign(inv_freq.begin(), inv_freq.end());
  freqs.attention_factor = rope.type == RopeType::YARN ? float(rope.attention_factor) : 1.0f;
  return freqs;
}

void rope_cos_sin(const RopeFrequencies& freqs, int64_t first_position, int64_t count, float* cos_sin) {
  const auto half = int64_t(freqs.inv_freq.size());
  for (int64_t row = 0; row < count; ++row) {
    float* cos_row = cos_sin + row * 2 * half;  // [half] cos, then [half] sin
    const auto position = float(first_position + row);
    for (int64_t i = 0; i < half; ++i) {
      const float angle = position * freqs.inv_freq[i];  // f32 product, as HF computes it
      cos_row[i] = float(std::cos(double(angle))) * freqs.attention_factor;
      cos_row[half + i] = float(std::sin(double(angle))) * freqs.attention_factor;
    }
  }
}

}  // namespace hipcode
