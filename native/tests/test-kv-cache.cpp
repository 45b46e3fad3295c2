// Paged KV cache bookkeeping: page counts, capacity errors, truncation and page reuse.
#include "core/error.h"
#include "core/kv-cache.h"
#include "tests/check.h"

using namespace hipcode;

namespace {

class CountingStore : public KvPageStore {
 public:
  int32_t add_page() override { return pages++; }
  int32_t pages = 0;
};

}  // namespace

TEST(kv_cache_pages_follow_length) {
  auto store = std::make_unique<CountingStore>();
  CountingStore* counter = store.get();
  KvLayout layout;
  layout.page_tokens = 4;
  auto pool = std::make_shared<KvPagePool>(std::move(store), layout);
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
