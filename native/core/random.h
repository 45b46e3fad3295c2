// Counter-based random numbers: the value at an index depends only on (seed, index), so every backend makes
// the same synthetic weights, in any order and in parallel. constexpr so CUDA kernels can call it too.
#pragma once

#include <cstdint>

namespace hipcode {

constexpr uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Uniform in [-1, 1): the top 24 bits of the hash of (seed, index).
constexpr float uniform_at(uint64_t seed, uint64_t index) {
  const auto bits = uint32_t(splitmix64(seed ^ splitmix64(index)) >> 40);
  return float(bits) * (2.0f / 16777216.0f) - 1.0f;
}

}  // namespace hipcode
