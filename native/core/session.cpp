// Session calls: id checks, forward through the model, history bookkeeping and sampling.
#include "core/session.h"

#include <string>

#include "core/error.h"

namespace hipcode {

Session::Session(std::shared_ptr<Model> model, const SessionOptions& options)
    : model_(std::move(model)), cache_(model_->kv_pool(), options.max_tokens), rng_(options.seed) {
  if (options.max_tokens <= 0) {
    throw EngineError(ErrorCode::INVALID_ARGUMENT, "options.maxTokens: expected a positive integer, got " +
                                                       std::to_string(options.max_tokens));
  }
}

void Session::check_ids(const std::vector<int32_t>& ids) const {
  if (ids.empty()) throw EngineError(ErrorCode::INVALID_ARGUMENT, "ids: expected at least one token id");
  const int64_t vocab = model_->geometry().vocab_size;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab) {
      throw EngineError(ErrorCode::INVALID_ARGUMENT,
                        "ids[" + std::to_string(i) + "]: expected a token id in [0, " +
                            std::to_string(vocab) + "), got " + std::to_string(ids[i]));
    }
  }
}

std::vector<float> Session::forward(const std::vector<int32_t>& ids, LogitsMode mode) {
  check_ids(ids);
  std::vector<float> logits = model_->forward(cache_, ids, mode);
  history_.insert(history_.end(), ids.begin(), ids.end());
  return logits;
}

int32_t Session::step(const std::vector<int32_t>& ids, const SamplingParams& params) {
  validate_sampling(params);
  check_ids(ids);
  // The repetition penalty sees the new ids too.
  const size_t before = history_.size();
  history_.insert(history_.end(), ids.begin(), ids.end());
  SampleRequest request;
  request.params = params;
  request.history = &history_;
  request.uniform = params.temperature > 0 ? uniform_draw(rng_) : 0.0;
  try {
    return model_->step(cache_, ids, request);
  } catch (...) {
    history_.resize(before);
    throw;
  }
}

void Session::truncate(int64_t new_length) {
  cache_.truncate(new_length);
  history_.resize(size_t(new_length));
}

}  // namespace hipcode
