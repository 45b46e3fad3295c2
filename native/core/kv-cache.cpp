// Page bookkeeping of the paged KV cache: acquiring, releasing and truncating pages.
#include "core/kv-cache.h"

#include <string>

#include "core/error.h"

namespace hipcode {

KvPagePool::KvPagePool(std::unique_ptr<KvPageStore> store, const KvLayout& layout)
    : store_(std::move(store)), layout_(layout) {}

int32_t KvPagePool::acquire() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (free_pages_.empty()) return store_->add_page();
  const int32_t page = free_pages_.back();
  free_pages_.pop_back();
  return page;
}

void KvPagePool::release(int32_t page) {
  std::lock_guard<std::mutex> lock(mutex_);
  free_pages_.push_back(page);
}

KvCache::KvCache(std::shared_ptr<KvPagePool> pool, int64_t capacity)
    : pool_(std::move(pool)), capacity_(capacity) {}

KvCache::~KvCache() {
  release_pages_beyond(0);
}

void KvCache::reserve(int64_t count) {
  const int64_t needed = length_ + count;
  if (needed > capacity_) {
    throw EngineError(ErrorCode::CONTEXT_FULL, "the session holds " + std::to_string(int64_t(length_)) +
                                                   " tokens; " + std::to_string(count) +
                                                   " more would exceed its capacity of " +
                                                   std::to_string(capacity_) + " tokens (maxTokens)");
  }
  const int64_t page_tokens = pool_->layout().page_tokens;
  const auto pages_needed = size_t((needed + page_tokens - 1) / page_tokens);
  while (page_table_.size() < pages_needed) page_table_.push_back(pool_->acquire());
}

void KvCache::commit(int64_t count) {
  length_ += count;
}

void KvCache::truncate(int64_t new_length) {
  if (new_length < 0 || new_length > length_) {
    throw EngineError(ErrorCode::INVALID_ARGUMENT,
                      "truncate(length): expected 0 <= length <= " + std::to_string(int64_t(length_)) +
                          ", got " + std::to_string(new_length));
  }
  length_ = new_length;
  release_pages_beyond(new_length);
  hip_masks_.clear();
}

void KvCache::release_pages_beyond(int64_t tokens) {
  const int64_t page_tokens = pool_->layout().page_tokens;
  const auto pages_kept = size_t((tokens + page_tokens - 1) / page_tokens);
  while (page_table_.size() > pages_kept) {
    pool_->release(page_table_.back());
    page_table_.pop_back();
  }
}

}  // namespace hipcode
