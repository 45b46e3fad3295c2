// Logits processors in Hugging Face order and semantics, then a draw from the remaining distribution.
#include "core/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "core/error.h"

namespace hipcode {
namespace {

constexpr float kRemoved = -std::numeric_limits<float>::infinity();

EngineError invalid(const std::string& message) {
  return EngineError(ErrorCode::INVALID_ARGUMENT, message);
}

// softmax of logits, in double; removed tokens (-inf) get 0.
std::vector<double> softmax(const std::vector<float>& logits) {
  const float max_logit = *std::max_element(logits.begin(), logits.end());
  std::vector<double> probs(logits.size());
  double total = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    probs[i] = logits[i] == kRemoved ? 0.0 : std::exp(double(logits[i]) - double(max_logit));
    total += probs[i];
  }
  for (double& p : probs) p /= total;
  return probs;
}

// HF TopKLogitsWarper: removes logits below the k-th largest (ties with it survive).
void apply_top_k(std::vector<float>& logits, int64_t top_k) {
  if (top_k <= 0 || size_t(top_k) >= logits.size()) return;
  std::vector<float> sorted = logits;
  std::nth_element(sorted.begin(), sorted.begin() + (top_k - 1), sorted.end(), std::greater<float>());
  const float threshold = sorted[size_t(top_k - 1)];
  for (float& logit : logits) {
    if (logit < threshold) logit = kRemoved;
  }
}

// Token ids ordered by ascending logit (ties by descending id, so the lowest id ranks highest).
std::vector<int32_t> ascending_order(const std::vector<float>& logits) {
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](int32_t a, int32_t b) { return logits[a] != logits[b] ? logits[a] < logits[b] : a > b; });
  return order;
}

// HF TopPLogitsWarper: from the least likely token up, removes tokens while their cumulative probability
// stays <= 1 - top_p; the most likely token always survives.
void apply_top_p(std::vector<float>& logits, double top_p) {
  if (top_p >= 1.0) return;
  const std::vector<double> probs = softmax(logits);
  const std::vector<int32_t> order = ascending_order(logits);
  double cumulative = 0;
  for (size_t rank = 0; rank + 1 < order.size(); ++rank) {
    cumulative += probs[order[rank]];
    if (cumulative > 1.0 - top_p) break;
    logits[order[rank]] = kRemoved;
  }
}

// HF MinPLogitsWarper: removes tokens whose probability is below min_p times the largest probability.
void apply_min_p(std::vector<float>& logits, double min_p) {
  if (min_p <= 0.0) return;
  const std::vector<double> probs = softmax(logits);
  const double threshold = min_p * *std::max_element(probs.begin(), probs.end());
  const int32_t best = argmax(logits);
  for (size_t i = 0; i < logits.size(); ++i) {
    if (probs[i] < threshold && int32_t(i) != best) logits[i] = kRemoved;
  }
}

int32_t draw(const std::vector<float>& logits, double target) {
  const std::vector<double> probs = softmax(logits);
  double cumulative = 0;
  int32_t last_allowed = 0;
  for (size_t i = 0; i < probs.size(); ++i) {
    if (probs[i] == 0.0) continue;
    cumulative += probs[i];
    last_allowed = int32_t(i);
    if (target < cumulative) return int32_t(i);
  }
  return last_allowed;  // rounding left the cumulative sum just below target
}

}  // namespace

void validate_sampling(const SamplingParams& params) {
  if (!(params.temperature >= 0) || !std::isfinite(params.temperature)) {
    throw invalid("sampling.temperature: expected a finite number >= 0, got " +
                  std::to_string(params.temperature));
  }
  if (params.top_k < 0)
    throw invalid("sampling.topK: expected an integer >= 0, got " + std::to_string(params.top_k));
  if (!(params.top_p > 0 && params.top_p <= 1)) {
    throw invalid("sampling.topP: expected 0 < topP <= 1, got " + std::to_string(params.top_p));
  }
  if (!(params.min_p >= 0 && params.min_p <= 1)) {
    throw invalid("sampling.minP: expected 0 <= minP <= 1, got " + std::to_string(params.min_p));
  }
  if (!(params.repetition_penalty > 0) || !std::isfinite(params.repetition_penalty)) {
    throw invalid("sampling.repetitionPenalty: expected a finite number > 0, got " +
                  std::to_string(params.repetition_penalty));
  }
}

void apply_repetition_penalty(std::vector<float>& logits, const std::vector<int32_t>& history,
                              double penalty) {
  if (penalty == 1.0) return;
  std::vector<bool> seen(logits.size(), false);
  for (int32_t token : history) {
    if (token < 0 || size_t(token) >= logits.size() || seen[token]) continue;
    seen[token] = true;
    const double logit = logits[token];
    logits[token] = float(logit < 0 ? logit * penalty : logit / penalty);
  }
}

int32_t argmax(const std::vector<float>& logits) {
  return int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

double uniform_draw(std::mt19937_64& rng) {
  return double(rng() >> 11) * 0x1.0p-53;
}

int32_t sample_token(std::vector<float>& logits, const std::vector<int32_t>& history,
                     const SamplingParams& params, double uniform) {
  apply_repetition_penalty(logits, history, params.repetition_penalty);
  if (params.temperature == 0.0) return argmax(logits);
  for (float& logit : logits) logit = float(double(logit) / params.temperature);
  apply_top_k(logits, params.top_k);
  apply_top_p(logits, params.top_p);
  apply_min_p(logits, params.min_p);
  return draw(logits, uniform);
}

}  // namespace hipcode
