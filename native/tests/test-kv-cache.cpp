// Paged KV cache bookkeeping: page counts, capacity errors, truncation, page reuse, and forks sharing pages.
#include "core/error.h"
#include "core/kv-cache.h"
#include "tests/check.h"

using namespace hipcode;

namespace {

class CountingStore : public KvPageStore {
 public:
  int32_t add_page() override { return pages++; }
  KvStoreMemory memory() const override { return {}; }
  int32_t pages = 0;
};

// A pool of 4-token pages over a store that counts the pages it adds (through *counter).
std::shared_ptr<KvPagePool> counting_pool(CountingStore** counter) {
  auto store = std::make_unique<CountingStore>();
  *counter = store.get();
  KvLayout layout;
  layout.page_tokens = 4;
  return std::make_shared<KvPagePool>(std::move(store), layout);
}

}  // namespace

TEST(kv_cache_pages_follow_length) {
  CountingStore* counter = nullptr;
  const std::shared_ptr<KvPagePool> pool = counting_pool(&counter);
  KvCache cache(pool, 10);
  cache.reserve(5);
  cache.commit(5);
  CHECK(cache.page_table().size() == 2);
  CHECK_THROWS_CODE(cache.reserve(6), ErrorCode::CONTEXT_FULL);
  cache.reserve(5);
  cache.commit(5);
  CHECK(cache.length() == 10 && cache.page_table().size() == 3);
  cache.truncate(4);
  CHECK(cache.length() == 4 && cache.page_table().size() == 1);
  CHECK_THROWS_CODE(cache.truncate(5), ErrorCode::INVALID_ARGUMENT);
  KvCache other(pool, 100);
  other.reserve(8);
  CHECK(counter->pages == 3);  // the two released pages were reused
}

TEST(kv_cache_forks_share_pages_until_the_last_holder_releases_them) {
  CountingStore* counter = nullptr;
  const std::shared_ptr<KvPagePool> pool = counting_pool(&counter);
  auto parent = std::make_unique<KvCache>(pool, 100);
  parent->reserve(10);
  parent->commit(10);
  CHECK_THROWS_CODE(std::make_unique<KvCache>(*parent, 9), ErrorCode::INVALID_ARGUMENT);
  auto fork = std::make_unique<KvCache>(*parent, 20);
  CHECK(fork->length() == 10 && fork->page_table() == parent->page_table() && counter->pages == 3);
  CHECK(parent->shared_tail_page() == 2 && fork->shared_tail_page() == 2);

  fork->replace_page(2, pool->acquire());  // what a session does before writing after position 10
  CHECK(counter->pages == 4 && parent->shared_tail_page() == -1 && fork->shared_tail_page() == -1);
  parent->truncate(6);
  CHECK(parent->shared_tail_page() == 1);
  parent.reset();
  CHECK(fork->shared_tail_page() == -1);
  KvCache other(pool, 100);
  other.reserve(4);
  CHECK(counter->pages == 4);  // the parent's own last page was freed and is reused
  other.reserve(8);
  CHECK(counter->pages == 5);  // the pages the fork holds are not
  fork.reset();
  KvCache last(pool, 100);
  last.reserve(12);
  CHECK(counter->pages == 5);  // the fork's three pages are free again
}

// Pages reserved past a cache's length (a pass that failed before its commit) are neither shared with a fork
// nor kept once released.
TEST(kv_cache_reserved_pages_are_not_shared_and_are_released) {
  CountingStore* counter = nullptr;
  const std::shared_ptr<KvPagePool> pool = counting_pool(&counter);
  KvCache parent(pool, 100);
  parent.reserve(6);
  parent.commit(6);
  parent.reserve(10);  // positions 6..15: two more pages, never committed
  CHECK(parent.page_table().size() == 4);
  KvCache fork(parent, 100);
  CHECK(fork.page_table().size() == 2 && fork.shared_tail_page() == 1);
  parent.release_reserved();
  CHECK(parent.page_table().size() == 2);
  KvCache other(pool, 100);
  other.reserve(8);
  CHECK(counter->pages == 4);  // the two released pages are reused
}
