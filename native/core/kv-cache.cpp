// Page bookkeeping of the paged KV cache: acquiring, sharing, releasing and truncating pages.
#include "core/kv-cache.h"

#include <algorithm>
#include <string>

#include "core/error.h"

namespace hipcode {

KvPagePool::KvPagePool(std::unique_ptr<KvPageStore> store, const KvLayout& layout)
    : store_(std::move(store)), layout_(layout) {}

int32_t KvPagePool::acquire() {
  std::lock_guard<std::mutex> lock(mutex_);
  int32_t page;
  if (free_pages_.empty()) {
    page = store_->add_page();
    holders_.resize(std::max(holders_.size(), size_t(page) + 1), 0);
  } else {
    page = free_pages_.back();
    free_pages_.pop_back();
  }
  holders_[size_t(page)] = 1;
  return page;
}

void KvPagePool::retain(int32_t page) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++holders_[size_t(page)];
}

void KvPagePool::release(int32_t page) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (--holders_[size_t(page)] == 0) free_pages_.push_back(page);
}

bool KvPagePool::shared(int32_t page) {
  std::lock_guard<std::mutex> lock(mutex_);
  return holders_[size_t(page)] > 1;
}

KvCache::KvCache(std::shared_ptr<KvPagePool> pool, int64_t capacity)
    : pool_(std::move(pool)), capacity_(capacity) {}

KvCache::KvCache(KvCache& parent, int64_t capacity)
    : pool_(parent.pool_), capacity_(capacity), length_(parent.length()) {
  const int64_t page_tokens = pool_->layout().page_tokens;
  const auto held_pages = size_t((length_ + page_tokens - 1) / page_tokens);
  page_table_.assign(parent.page_table_.begin(), parent.page_table_.begin() + long(held_pages));
  if (length_ > capacity_) {
    throw EngineError(ErrorCode::INVALID_ARGUMENT, "fork: the session holds " +
                                                       std::to_string(parent.length()) +
                                                       " tokens, more than the fork's capacity of " +
                                                       std::to_string(capacity) + " tokens (maxTokens)");
  }
  for (int32_t page : page_table_) pool_->retain(page);
}

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
  try {
    while (page_table_.size() < pages_needed) page_table_.push_back(pool_->acquire());
  } catch (...) {
    release_reserved();
    throw;
  }
}

void KvCache::release_reserved() {
  release_pages_beyond(length_);
}

int64_t KvCache::shared_tail_page() {
  const int64_t page_tokens = pool_->layout().page_tokens;
  if (length_ % page_tokens == 0) return -1;
  const int64_t index = length_ / page_tokens;
  return pool_->shared(page_table_[size_t(index)]) ? index : -1;
}

void KvCache::replace_page(int64_t index, int32_t page) {
  pool_->release(page_table_[size_t(index)]);
  page_table_[size_t(index)] = page;
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
