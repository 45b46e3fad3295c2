// RoPE: inverse frequencies of every HF rope type recomputed independently, and the rotation applied by the
// CPU backend against a direct double-precision formula.
#include "core/rope.h"
#include "cpu/cpu-backend.h"
#include "tests/check.h"
#include "tests/helpers.h"

using namespace hipcode;
using namespace hipcode::test;

namespace {

constexpr double kTwoPi = 6.283185307179586;

double base_freq(double theta, int64_t dim, int64_t i) {
  return std::pow(theta, -2.0 * double(i) / double(dim));
}

void check_freqs(const RopeFrequencies& actual, const std::vector<double>& expected) {
  CHECK(actual.inv_freq.size() == expected.size());
  for (size_t i = 0; i < expected.size() && i < actual.inv_freq.size(); ++i) {
    CHECK_NEAR(actual.inv_freq[i] / expected[i], 1.0, 1e-6);
  }
}

RopeSpec spec(RopeType type) {
  RopeSpec rope;
  rope.type = type;
  rope.theta = 10000;
  rope.factor = 4;
  rope.original_max_position_embeddings = 2048;
  return rope;
}

}  // namespace

TEST(rope_default_and_linear_frequencies) {
  std::vector<double> expected;
  for (int64_t i = 0; i < 32; ++i) expected.push_back(base_freq(10000, 64, i));
  check_freqs(rope_frequencies(spec(RopeType::DEFAULT), 64, 10), expected);
  for (double& f : expected) f /= 4;
  check_freqs(rope_frequencies(spec(RopeType::LINEAR), 64, 10), expected);
}

TEST(rope_dynamic_ntk_frequencies) {
  std::vector<double> original, scaled;
  const double grown_base = 10000 * std::pow(4.0 * 3000 / 2048 - 3.0, 64.0 / 62.0);
  for (int64_t i = 0; i < 32; ++i) {
    original.push_back(base_freq(10000, 64, i));
    scaled.push_back(base_freq(grown_base, 64, i));
  }
  check_freqs(rope_frequencies(spec(RopeType::DYNAMIC), 64, 2048), original);  // at the limit: unchanged
  check_freqs(rope_frequencies(spec(RopeType::DYNAMIC), 64, 3000), scaled);
}

TEST(rope_llama3_frequencies) {
  RopeSpec rope = spec(RopeType::LLAMA3);
  rope.theta = 500000;
  rope.factor = 8;
  rope.low_freq_factor = 1;
  rope.high_freq_factor = 4;
  rope.original_max_position_embeddings = 8192;
  std::vector<double> expected;
  int regimes[3] = {0, 0, 0};
  for (int64_t i = 0; i < 64; ++i) {
    const double freq = base_freq(500000, 128, i);
    const double wavelength = kTwoPi / freq;
    if (wavelength < 8192.0 / 4) {
      expected.push_back(freq);
      ++regimes[0];
    } else if (wavelength > 8192.0 / 1) {
      expected.push_back(freq / 8);
      ++regimes[1];
    } else {
      const double smooth = (8192.0 / wavelength - 1) / (4 - 1);
      expected.push_back((1 - smooth) * freq / 8 + smooth * freq);
      ++regimes[2];
    }
  }
  CHECK(regimes[0] > 0 && regimes[1] > 0 && regimes[2] > 0);
  check_freqs(rope_frequencies(rope, 128, 100), expected);
}

TEST(rope_yarn_frequencies_and_attention_factor) {
  for (bool truncate : {true, false}) {
    RopeSpec rope = spec(RopeType::YARN);
    rope.beta_fast = 32;
    rope.beta_slow = 1;
    rope.attention_factor = 1.1386;
    rope.truncate = truncate;
    const double dim = 64;
    double low = dim * std::log(2048 / (32 * kTwoPi)) / (2 * std::log(10000.0));
    double high = dim * std::log(2048 / (1 * kTwoPi)) / (2 * std::log(10000.0));
    if (truncate) {
      low = std::floor(low);
      high = std::ceil(high);
    }
    std::vector<double> expected;
    for (int64_t i = 0; i < 32; ++i) {
      const double ramp = std::min(1.0, std::max(0.0, (double(i) - low) / (high - low)));
      const double extrapolated = base_freq(10000, 64, i);
      expected.push_back(extrapolated / 4 * ramp + extrapolated * (1 - ramp));
    }
    const RopeFrequencies freqs = rope_frequencies(rope, 64, 10);
    check_freqs(freqs, expected);
    std::vector<float> cos_sin(64);
    rope_cos_sin(freqs, 0, 1, cos_sin.data());
    CHECK_NEAR(cos_sin[0], 1.1386, 1e-6);  // cos(0) * attention factor
    CHECK_NEAR(cos_sin[32], 0.0, 1e-9);    // sin(0)
  }
}

TEST(rope_rotation_matches_direct_formula) {
  const int64_t head_dim = 16, heads = 3, count = 5, first_position = 97;
  std::unique_ptr<Backend> backend = cpu::create_cpu_backend(2);
  std::mt19937_64 rng(5);
  const std::vector<float> input = random_floats(rng, size_t(count * heads * head_dim), 1.0f);
  auto x = backend->allocate(count, heads * head_dim);
  backend->write(*x, input.data());
  auto k = backend->allocate(count, head_dim);
  backend->write(*k, input.data());
  const RopeSpec rope = spec(RopeType::DEFAULT);
  backend->rope(*x, *k, head_dim, rope_frequencies(rope, head_dim, first_position + count), first_position);
  std::vector<float> output(input.size());
  backend->read(*x, output.data());
  const int64_t half = head_dim / 2;
  for (int64_t t = 0; t < count; ++t) {
    for (int64_t h = 0; h < heads; ++h) {
      const float* in = &input[size_t((t * heads + h) * head_dim)];
      const float* out = &output[size_t((t * heads + h) * head_dim)];
      for (int64_t i = 0; i < half; ++i) {
        const double angle = double(first_position + t) * base_freq(10000, head_dim, i);
        CHECK_NEAR(out[i], in[i] * std::cos(angle) - in[i + half] * std::sin(angle), 2e-5);
        CHECK_NEAR(out[i + half], in[i + half] * std::cos(angle) + in[i] * std::sin(angle), 2e-5);
      }
    }
  }
  // k has one head; its row t was filled from input[t * head_dim, (t + 1) * head_dim).
  std::vector<float> k_output(size_t(count * head_dim));
  backend->read(*k, k_output.data());
  for (int64_t t = 0; t < count; ++t) {
    const float* in = &input[size_t(t * head_dim)];
    const float* out = &k_output[size_t(t * head_dim)];
    for (int64_t i = 0; i < half; ++i) {
      const double angle = double(first_position + t) * base_freq(10000, head_dim, i);
      CHECK_NEAR(out[i], in[i] * std::cos(angle) - in[i + half] * std::sin(angle), 2e-5);
    }
  }
}
