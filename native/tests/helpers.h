// Test helpers: independent (ldexp-based) decoders of bf16/f16 and random tensors in any storage dtype.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "core/dtype.h"

namespace hipcode::test {

// IEEE half decoded by the textbook formula.
inline double reference_f16(uint16_t half) {
  const int sign = half >> 15;
  const int exponent = (half >> 10) & 0x1f;
  const int mantissa = half & 0x3ff;
  double magnitude;
  if (exponent == 0)
    magnitude = std::ldexp(double(mantissa), -24);
  else if (exponent == 31)
    magnitude = mantissa ? NAN : INFINITY;
  else
    magnitude = std::ldexp(double(1024 + mantissa), exponent - 25);
  return sign ? -magnitude : magnitude;
}

inline double reference_bf16(uint16_t bits) {
  const int sign = bits >> 15;
  const int exponent = (bits >> 7) & 0xff;
  const int mantissa = bits & 0x7f;
  double magnitude;
  if (exponent == 0)
    magnitude = std::ldexp(double(mantissa), -133);
  else if (exponent == 255)
    magnitude = mantissa ? NAN : INFINITY;
  else
    magnitude = std::ldexp(double(128 + mantissa), exponent - 134);
  return sign ? -magnitude : magnitude;
}

// Random values stored as `dtype` (about [-scale, scale] for bf16/f32, [-2, 2] for f16); `values` holds what
// the bytes decode to.
struct RandomTensor {
  std::vector<uint8_t> bytes;
  std::vector<double> values;
};

inline RandomTensor random_tensor(std::mt19937_64& rng, size_t count, DType dtype, double scale) {
  std::uniform_real_distribution<float> uniform(-float(scale), float(scale));
  RandomTensor tensor;
  tensor.bytes.resize(count * dtype_size(dtype));
  tensor.values.resize(count);
  for (size_t i = 0; i < count; ++i) {
    const float value = uniform(rng);
    if (dtype == DType::F32) {
      std::memcpy(&tensor.bytes[i * 4], &value, 4);
      tensor.values[i] = value;
      continue;
    }
    // bf16: the f32 truncated; f16: random sign and mantissa with an exponent giving |x| in [2^-7, 2).
    uint16_t bits;
    if (dtype == DType::BF16) {
      bits = uint16_t(f32_to_bits(value) >> 16);
      tensor.values[i] = reference_bf16(bits);
    } else {
      const auto random = uint32_t(rng());
      bits = uint16_t((random & 0x8000u) | ((8u + (random >> 16) % 8u) << 10) | (random & 0x3ffu));
      tensor.values[i] = reference_f16(bits);
    }
    std::memcpy(&tensor.bytes[i * 2], &bits, 2);
  }
  return tensor;
}

inline std::vector<float> random_floats(std::mt19937_64& rng, size_t count, float scale) {
  std::uniform_real_distribution<float> uniform(-scale, scale);
  std::vector<float> values(count);
  for (float& value : values) value = uniform(rng);
  return values;
}

}  // namespace hipcode::test
