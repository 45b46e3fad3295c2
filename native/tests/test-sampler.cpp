// Sampler: greedy, top-k / top-p / min-p edge cases, repetition penalty by hand, determinism and frequencies.
#include "core/error.h"
#include "core/sampler.h"
#include "tests/check.h"

using namespace hipcode;

namespace {

SamplingParams sampling(double temperature) {
  SamplingParams params;
  params.temperature = temperature;
  return params;
}

}  // namespace

TEST(sampler_greedy_takes_lowest_id_on_ties) {
  std::mt19937_64 rng(1);
  std::vector<float> logits = {0.5f, 2.0f, -1.0f, 2.0f};
  CHECK(sample_token(logits, {}, sampling(0), uniform_draw(rng)) == 1);
}

TEST(sampler_top_k_one_and_tiny_top_p_are_argmax) {
  std::mt19937_64 rng(2);
  const std::vector<float> logits = {0.1f, 0.3f, 0.25f, -2.0f, 0.29f};
  for (int draw = 0; draw < 200; ++draw) {
    SamplingParams top_k = sampling(1.5);
    top_k.top_k = 1;
    std::vector<float> a = logits;
    CHECK(sample_token(a, {}, top_k, uniform_draw(rng)) == 1);
    SamplingParams top_p = sampling(1.5);
    top_p.top_p = 1e-6;
    std::vector<float> b = logits;
    CHECK(sample_token(b, {}, top_p, uniform_draw(rng)) == 1);
  }
}

TEST(sampler_repetition_penalty_by_hand) {
  std::vector<float> logits = {2.0f, -1.0f, 0.5f, 3.0f};
  apply_repetition_penalty(logits, {0, 1, 1, 0}, 2.0);
  CHECK(logits[0] == 1.0f);   // positive: divided, once despite repeats
  CHECK(logits[1] == -2.0f);  // negative: multiplied
  CHECK(logits[2] == 0.5f);
  CHECK(logits[3] == 3.0f);
  std::mt19937_64 rng(3);
  std::vector<float> greedy = {3.0f, 2.0f};
  SamplingParams params = sampling(0);
  params.repetition_penalty = 2.0;
  CHECK(sample_token(greedy, {0}, params, uniform_draw(rng)) == 1);  // 3/2 < 2
}

TEST(sampler_min_p_and_top_p_keep_the_expected_sets) {
  std::mt19937_64 rng(4);
  // probs ∝ e^{2}, e^{1}, e^{0}, e^{-3}: 0.6652, 0.2447, 0.0900, 0.0045
  const std::vector<float> logits = {2.0f, 1.0f, 0.0f, -3.0f};
  SamplingParams min_p = sampling(1);
  min_p.min_p = 0.2;  // threshold 0.133: keeps ids 0 and 1
  SamplingParams top_p = sampling(1);
  top_p.top_p = 0.9;  // cumulative from the bottom 0.0045, 0.0945 <= 0.1 removed; 0.339 kept
  std::vector<int> seen_min_p(4, 0), seen_top_p(4, 0);
  for (int draw = 0; draw < 3000; ++draw) {
    std::vector<float> a = logits, b = logits;
    ++seen_min_p[size_t(sample_token(a, {}, min_p, uniform_draw(rng)))];
    ++seen_top_p[size_t(sample_token(b, {}, top_p, uniform_draw(rng)))];
  }
  CHECK(seen_min_p[0] > 0 && seen_min_p[1] > 0 && seen_min_p[2] == 0 && seen_min_p[3] == 0);
  CHECK(seen_top_p[0] > 0 && seen_top_p[1] > 0 && seen_top_p[2] == 0 && seen_top_p[3] == 0);
}

TEST(sampler_is_deterministic_per_seed) {
  const std::vector<float> logits = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f};
  std::mt19937_64 a(42), b(42), c(43);
  std::vector<int32_t> first, second, third;
  for (int draw = 0; draw < 50; ++draw) {
    std::vector<float> x = logits, y = logits, z = logits;
    first.push_back(sample_token(x, {}, sampling(1), uniform_draw(a)));
    second.push_back(sample_token(y, {}, sampling(1), uniform_draw(b)));
    third.push_back(sample_token(z, {}, sampling(1), uniform_draw(c)));
  }
  CHECK(first == second);
  CHECK(first != third);
}

TEST(sampler_frequencies_match_softmax) {
  const std::vector<float> logits = {1.0f, 0.5f, -0.2f, 0.0f, 1.3f};
  const double temperature = 0.7;
  std::vector<double> expected(logits.size());
  double total = 0;
  for (size_t i = 0; i < logits.size(); ++i)
    total += (expected[i] = std::exp(double(logits[i]) / temperature));
  std::mt19937_64 rng(11);
  std::vector<int> counts(logits.size(), 0);
  const int draws = 20000;
  for (int draw = 0; draw < draws; ++draw) {
    std::vector<float> copy = logits;
    ++counts[size_t(sample_token(copy, {}, sampling(temperature), uniform_draw(rng)))];
  }
  for (size_t i = 0; i < logits.size(); ++i)
    CHECK_NEAR(double(counts[i]) / draws, expected[i] / total, 0.012);
}

TEST(sampler_rejects_bad_parameters) {
  SamplingParams params = sampling(-1);
  CHECK_THROWS_CODE(validate_sampling(params), ErrorCode::INVALID_ARGUMENT);
  params = sampling(1);
  params.top_p = 0;
  CHECK_THROWS_CODE(validate_sampling(params), ErrorCode::INVALID_ARGUMENT);
}
