// Session calls: id checks, forward through the model, history bookkeeping and sampling.
#include "core/session.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>

#include "core/error.h"

namespace hipcode {
namespace {

// K/V bytes a snapshot chunk should hold: large sequential writes, bounded host memory.
constexpr int64_t kSnapshotChunkBytes = 32 << 20;

int64_t checked_capacity(const SessionOptions& options) {
  if (options.max_tokens <= 0) {
    throw EngineError(ErrorCode::INVALID_ARGUMENT, "options.maxTokens: expected a positive integer, got " +
                                                       std::to_string(options.max_tokens));
  }
  return options.max_tokens;
}

}  // namespace

Session::Session(std::shared_ptr<Model> model, const SessionOptions& options)
    : model_(std::move(model)), cache_(model_->kv_pool(), checked_capacity(options)), rng_(options.seed) {}

Session::Session(Session& parent, const SessionOptions& options)
    : model_(parent.model_),
      cache_(parent.cache_, checked_capacity(options)),
      history_(parent.history_),
      rng_(options.seed) {}

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

void Session::unshare_tail() {
  const int64_t index = cache_.shared_tail_page();
  if (index < 0) return;
  const int64_t first = index * cache_.pool().layout().page_tokens;
  const int64_t count = length() - first;
  std::vector<uint8_t> host(size_t(count * snapshot_shape().token_bytes()));
  model_->read_kv(cache_, first, count, host.data());
  cache_.replace_page(index, cache_.pool().acquire());
  try {
    model_->write_kv(cache_, first, count, host.data());
  } catch (...) {
    truncate(first);  // the new page's positions were not copied: the session no longer holds them
    throw;
  }
}

std::vector<float> Session::forward(const std::vector<int32_t>& ids, LogitsMode mode) {
  check_ids(ids);
  unshare_tail();
  std::vector<float> logits = model_->forward(cache_, ids, mode);
  history_.insert(history_.end(), ids.begin(), ids.end());
  return logits;
}

int32_t Session::step(const std::vector<int32_t>& ids, const SamplingParams& params) {
  validate_sampling(params);
  check_ids(ids);
  unshare_tail();
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

SnapshotShape Session::snapshot_shape() const {
  const ModelGeometry& g = model_->geometry();
  return SnapshotShape{model_->backend().kv_dtype(), g.num_layers, g.num_kv_heads, g.head_dim};
}

void Session::save_snapshot(const std::string& path, const std::string& fingerprint, int64_t tokens) {
  if (tokens < 0 || tokens > length()) {
    throw EngineError(ErrorCode::INVALID_ARGUMENT,
                      "saveSnapshot(tokens): expected 0 <= tokens <= " + std::to_string(length()) + ", got " +
                          std::to_string(tokens));
  }
  SnapshotHeader header;
  header.fingerprint = fingerprint;
  header.shape = snapshot_shape();
  const int64_t page_tokens = cache_.pool().layout().page_tokens;
  const int64_t pages =
      std::max<int64_t>(1, kSnapshotChunkBytes / (header.shape.token_bytes() * page_tokens));
  header.chunk_tokens = pages * page_tokens;
  header.ids.assign(history_.begin(), history_.begin() + tokens);
  snapshot_tokens_ = 0;
  snapshot_save(
      path, header,
      [&](int64_t first, int64_t count, void* host) {
        model_->read_kv(cache_, first, count, host);
        snapshot_tokens_ = first + count;
      },
      [&] { return bool(cancelled_); }, staging_buffers());
}

HostBufferMaker Session::staging_buffers() const {
  return [model = model_](size_t bytes) { return model->backend().host_buffer(bytes); };
}

const std::vector<int32_t>& Session::load_snapshot(const std::string& path, const std::string& fingerprint,
                                                   int64_t max_tokens) {
  // A prefix load may come from a file that holds more than the session's capacity.
  const int64_t most = max_tokens < 0 ? capacity() : std::numeric_limits<int64_t>::max();
  SnapshotReader reader(
      path, SnapshotExpectation{fingerprint, snapshot_shape(), most, model_->geometry().vocab_size});
  if (cancelled_) throw EngineError(ErrorCode::CANCELLED, "snapshot " + path + ": cancelled");
  const std::vector<int32_t>& saved = reader.header().ids;
  const auto held = int64_t(saved.size());
  const int64_t tokens = max_tokens < 0 ? held : std::min(max_tokens, held);
  if (tokens > capacity()) {
    throw EngineError(ErrorCode::SNAPSHOT, "snapshot " + path + ": loading " + std::to_string(tokens) +
                                               " tokens exceeds the session's capacity of " +
                                               std::to_string(capacity()));
  }
  truncate(0);
  snapshot_tokens_ = 0;
  try {
    cache_.reserve(tokens);
    reader.read_kv(
        [&](int64_t first, int64_t count, const void* host) {
          model_->write_kv(cache_, first, count, host);
          snapshot_tokens_ = first + count;
        },
        [&] { return bool(cancelled_); }, tokens, staging_buffers());
  } catch (...) {
    truncate(0);
    throw;
  }
  cache_.commit(tokens);
  history_.assign(saved.begin(), saved.begin() + tokens);
  return history_;
}

}  // namespace hipcode
