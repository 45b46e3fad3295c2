// plan_kv_tiers on hand-computed cases: Qwen2.5-7B pages (28 layers, 4 KV heads of 128 in bf16: 64 KiB per
// layer's keys, 3.5 MiB a page) with 2 MiB granules, and the budgets' edge cases.
#include <cstdint>

#include "core/kv-tiers.h"
#include "tests/check.h"

using namespace hipcode;

namespace {

constexpr int64_t kKiB = 1024;
constexpr int64_t kMiB = 1024 * kKiB;
constexpr int64_t kGiB = 1024 * kMiB;

// 1M tokens of 64-token pages under a GPU budget and a host budget.
KvTierRequest qwen_request(uint64_t gpu_budget, int64_t host_budget) {
  KvTierRequest request;
  request.wanted_pages = 15625;
  request.plane_bytes = 64 * kKiB;
  request.copy_plane_bytes = 64 * kKiB;
  request.page_bytes = 2 * 28 * 64 * kKiB;
  request.gpu_budget_bytes = gpu_budget;
  request.host_budget_bytes = host_budget;
  request.granule = [](bool) { return size_t(2 * kMiB); };
  return request;
}

}  // namespace

TEST(kv_tier_plan_keeps_a_cache_that_fits_in_gpu_memory) {
  KvTierRequest request = qwen_request(uint64_t(64 * kGiB), 48 * kGiB);
  request.granule = [](bool) -> size_t { throw 1; };  // never asked: no host tier is considered
  const KvTiers tiers = plan_kv_tiers(request);
  CHECK(tiers.gpu_pages == 15625 && tiers.host_pages == 0);
}

TEST(kv_tier_plan_puts_the_rest_in_host_memory_in_whole_granules) {
  // 16 GiB / 3.5 MiB = 4681 pages, down to a multiple of 32 (2 MiB / 64 KiB): 4672. The other 10953 pages
  // round up to 10976, within the host budget's 14043 (14016 in whole granules).
  const KvTiers tiers = plan_kv_tiers(qwen_request(uint64_t(16 * kGiB), 48 * kGiB));
  CHECK(tiers.gpu_pages == 4672);
  CHECK(tiers.host_pages == 10976);
}

TEST(kv_tier_plan_caps_the_host_tier_at_its_budget) {
  // 8 GiB of host memory: 2340 pages, 2336 in whole granules.
  const KvTiers tiers = plan_kv_tiers(qwen_request(uint64_t(16 * kGiB), 8 * kGiB));
  CHECK(tiers.gpu_pages == 4672 && tiers.host_pages == 2336);
}

TEST(kv_tier_plan_without_a_host_tier_keeps_the_gpu_budget) {
  const KvTiers none = plan_kv_tiers(qwen_request(uint64_t(16 * kGiB), 0));
  CHECK(none.gpu_pages == 4681 && none.host_pages == 0);
  // 100 MiB is 28 pages: less than one granule's 32, so no host tier either.
  const KvTiers too_small = plan_kv_tiers(qwen_request(uint64_t(16 * kGiB), 100 * kMiB));
  CHECK(too_small.gpu_pages == 4681 && too_small.host_pages == 0);
}

TEST(kv_tier_plan_with_an_automatic_gpu_budget_keeps_two_layer_copies_and_the_reserve_free) {
  KvTierRequest request = qwen_request(uint64_t(40 * kGiB), 64 * kGiB);
  request.gpu_budget_automatic = true;
  request.tier_reserve_bytes = uint64_t(5 * kGiB);
  // Kept free: 4 * 15625 * 64 KiB (3906.25 MiB) + 5 GiB = 9026.25 MiB of the 40960: 9123 pages of 3.5 MiB,
  // 9120 in whole granules (32 pages); the other 6505 pages round up to 6528.
  const KvTiers tiers = plan_kv_tiers(request);
  CHECK(tiers.gpu_pages == 9120);
  CHECK(tiers.host_pages == 6528);
}

// 40 GiB free (11702 pages alone) but 1 GiB of host memory: the tiers would hold 9120 + 288 pages, fewer than
// the GPU budget alone, so there is no host tier.
TEST(kv_tier_plan_skips_a_tier_that_would_hold_fewer_pages) {
  KvTierRequest request = qwen_request(uint64_t(40 * kGiB), kGiB);
  request.gpu_budget_automatic = true;
  request.tier_reserve_bytes = uint64_t(5 * kGiB);
  const KvTiers tiers = plan_kv_tiers(request);
  CHECK(tiers.gpu_pages == 11702 && tiers.host_pages == 0);
}

// A 2 MiB GPU granule and a 4 MiB host granule: both tiers step by 4 MiB of 64 KiB planes, 64 pages.
TEST(kv_tier_plan_steps_by_both_granules) {
  KvTierRequest request = qwen_request(uint64_t(16 * kGiB), 48 * kGiB);
  request.granule = [](bool host) { return size_t((host ? 4 : 2) * kMiB); };
  CHECK(tier_granule(request) == size_t(4 * kMiB));
  const KvTiers tiers = plan_kv_tiers(request);
  CHECK(tiers.gpu_pages == 4672 && tiers.host_pages == 11008);  // 4681 down to 73 * 64; 10953 up to 172 * 64
}

TEST(kv_tier_plan_small_pages_need_more_of_them_per_granule) {
  // 2 layers, 2 KV heads of 64: 16 KiB planes, 128 pages per 2 MiB granule; 256 pages wanted, a GPU budget of
  // 160 pages (64 KiB each) keeps 128 in GPU memory and 128 in host memory.
  KvTierRequest request;
  request.wanted_pages = 256;
  request.plane_bytes = 16 * kKiB;
  request.copy_plane_bytes = 16 * kKiB;
  request.page_bytes = 4 * 16 * kKiB;
  request.gpu_budget_bytes = uint64_t(160 * 4 * 16 * kKiB);
  request.host_budget_bytes = kGiB;
  request.granule = [](bool) { return size_t(2 * kMiB); };
  const KvTiers split = plan_kv_tiers(request);
  CHECK(split.gpu_pages == 128 && split.host_pages == 128);
  request.gpu_budget_bytes = uint64_t(4 * 16 * kKiB);  // one page: none in GPU memory, all 256 in host memory
  const KvTiers in_host = plan_kv_tiers(request);
  CHECK(in_host.gpu_pages == 0 && in_host.host_pages == 256);
}

// The GPU tier's room holds keys first: 16 GiB (4672 pages of keys and values) holds the keys of 9344 pages
// and no values; 9120 pages of room hold the keys of all 15648 pages and the values of the first 2592;
// without a host tier, keys and values of every page.
TEST(kv_tier_plan_gpu_room_holds_keys_first) {
  const KvTiers half = plan_kv_tiers(qwen_request(uint64_t(16 * kGiB), 48 * kGiB));
  CHECK(half.gpu_key_pages() == 9344 && half.gpu_value_pages() == 0);
  KvTierRequest request = qwen_request(uint64_t(40 * kGiB), 64 * kGiB);
  request.gpu_budget_automatic = true;
  request.tier_reserve_bytes = uint64_t(5 * kGiB);
  const KvTiers all_keys = plan_kv_tiers(request);
  CHECK(all_keys.gpu_key_pages() == 15648 && all_keys.gpu_value_pages() == 2592);
  const KvTiers none = plan_kv_tiers(qwen_request(uint64_t(16 * kGiB), 0));
  CHECK(none.gpu_key_pages() == 4681 && none.gpu_value_pages() == 4681);
}

// fp8 rows (528-byte rows: 33 KiB planes) read by prefills as bf16 copies (64 KiB planes): an automatic
// budget keeps the copies free with no host tier too. 20 GiB less 4 * 15625 * 64 KiB (3906.25 MiB) is
// 16573.75 MiB: 9183 pages of 2 * 28 * 33 KiB (the 15625 wanted do not fit); 11348 without keeping the copies
// free.
TEST(kv_tier_plan_keeps_bf16_copies_of_fp8_rows_free) {
  KvTierRequest request = qwen_request(uint64_t(20 * kGiB), 0);
  request.plane_bytes = 33 * kKiB;
  request.page_bytes = 2 * 28 * 33 * kKiB;
  request.gpu_budget_automatic = true;
  request.copies_without_tier = true;
  const KvTiers tiers = plan_kv_tiers(request);
  CHECK(tiers.gpu_pages == 9183 && tiers.host_pages == 0);
  request.copies_without_tier = false;  // bf16 rows: no copies without a host tier
  CHECK(plan_kv_tiers(request).gpu_pages == 11348);
}
