// Paged KV cache: a pool of fixed-size, reference-counted pages whose storage the backend owns, and a
// per-session page table; a fork shares its parent's pages until one of them writes into a shared page.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "core/hip-mask-state.h"

namespace hipcode {

// Every page holds K and V of `page_tokens` consecutive positions for all layers and KV heads.
struct KvLayout {
  int64_t num_layers = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t page_tokens = 64;
  // Tokens the pool should be able to hold at once (a backend that reserves its pages up front sizes them by
  // this and its memory budget; one that allocates on demand ignores it).
  int64_t expected_tokens = 0;
};

// Bytes a KV page store holds in each memory tier.
struct KvStoreMemory {
  uint64_t gpu_bytes = 0;
  uint64_t host_bytes = 0;  // pinned host memory behind a GPU cache, or the pages of a host cache
};

// Backend-owned memory for KV pages, addressed by page id.
class KvPageStore {
 public:
  virtual ~KvPageStore() = default;
  // Allocates one more page and returns its id; throws E_OUT_OF_MEMORY.
  virtual int32_t add_page() = 0;
  virtual KvStoreMemory memory() const = 0;
};

// Hands out pages of one store, reusing released ones, and counts the caches holding each page. Thread-safe:
// all sessions of a model share it.
class KvPagePool {
 public:
  KvPagePool(std::unique_ptr<KvPageStore> store, const KvLayout& layout);

  // A page held once.
  int32_t acquire();
  // One more holder of `page`.
  void retain(int32_t page);
  // One holder less; the page is free once none is left.
  void release(int32_t page);
  // Whether more than one cache holds `page`.
  bool shared(int32_t page);
  const KvLayout& layout() const { return layout_; }
  KvPageStore& store() { return *store_; }

 private:
  std::mutex mutex_;
  std::unique_ptr<KvPageStore> store_;
  KvLayout layout_;
  std::vector<int32_t> free_pages_;
  std::vector<int32_t> holders_;  // [pages added] caches holding each page
};

// One session's KV cache: the pages holding positions [0, length) and the capacity in tokens.
class KvCache {
 public:
  KvCache(std::shared_ptr<KvPagePool> pool, int64_t capacity);
  // A fork of `parent`: holds the same positions on the same pages (retained, not copied; pages the parent
  // reserved past its length are not shared) with its own capacity and no HiP masks. E_INVALID_ARGUMENT when
  // the parent holds more than `capacity` tokens.
  KvCache(KvCache& parent, int64_t capacity);
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;
  ~KvCache();

  int64_t length() const { return length_; }
  int64_t capacity() const { return capacity_; }
  const std::vector<int32_t>& page_table() const { return page_table_; }
  KvPagePool& pool() { return *pool_; }

  // Ensures pages exist for `count` tokens past length(); throws E_CONTEXT_FULL past the capacity (and, when
  // the pool runs out, E_OUT_OF_MEMORY with nothing reserved).
  void reserve(int64_t count);
  // Releases the pages reserved past length() (after a forward pass that failed before its commit).
  void release_reserved();
  // The index in page_table() of the partly filled last page when another cache holds it too (the next write
  // would change that cache's keys: copy the page first, see replace_page), else -1.
  int64_t shared_tail_page();
  // Puts `page` (acquired, holding a copy of the old page's positions) at `index`, releasing the old one.
  void replace_page(int64_t index, int32_t page);
  // Marks `count` more tokens as written (after reserve and the forward pass).
  void commit(int64_t count);
  // Drops every position >= new_length and releases the pages no longer needed (and the HiP masks, which
  // may have selected dropped keys).
  void truncate(int64_t new_length);
  // The HiP decode masks of this cache's keys, per layer.
  HipMaskStates& hip_masks() { return hip_masks_; }

 private:
  void release_pages_beyond(int64_t tokens);

  std::shared_ptr<KvPagePool> pool_;
  int64_t capacity_;
  std::atomic<int64_t> length_{0};
  std::vector<int32_t> page_table_;  // [ceil(tokens / page_tokens)] page ids
  HipMaskStates hip_masks_;          // [layers] or empty
};

}  // namespace hipcode
