// plan_kv_tiers: the page counts of a tiered KV cache from its budgets and mapping granules.
#include "core/kv-tiers.h"

#include <algorithm>
#include <numeric>

namespace hipcode {
namespace {

// Pages of `plane_bytes` whose total is a whole number of `granule`s.
int64_t pages_per_granule(int64_t plane_bytes, size_t granule) {
  return int64_t(granule) / std::gcd(int64_t(granule), plane_bytes);
}

// GPU memory two layers' copies of every wanted page take (keys and values).
uint64_t layer_copies_bytes(const KvTierRequest& request) {
  return 4 * uint64_t(request.wanted_pages) * uint64_t(request.copy_plane_bytes);
}

// Pages of the GPU budget less what an automatic one keeps free (`keep_free`).
int64_t gpu_budget_pages(const KvTierRequest& request, uint64_t keep_free) {
  const uint64_t budget = request.gpu_budget_bytes;
  if (!request.gpu_budget_automatic) return int64_t(budget / uint64_t(request.page_bytes));
  return budget > keep_free ? int64_t((budget - keep_free) / uint64_t(request.page_bytes)) : 0;
}

int64_t gpu_budget_alone(const KvTierRequest& request) {
  return gpu_budget_pages(request, request.copies_without_tier ? layer_copies_bytes(request) : 0);
}

int64_t gpu_budget_beside_tier(const KvTierRequest& request) {
  return gpu_budget_pages(request, layer_copies_bytes(request) + request.tier_reserve_bytes);
}

}  // namespace

size_t tier_granule(const KvTierRequest& request) {
  return std::lcm(request.granule(false), request.granule(true));
}

KvTiers plan_kv_tiers(const KvTierRequest& request) {
  const int64_t gpu_budget = gpu_budget_alone(request);
  if (request.wanted_pages <= gpu_budget) return {request.wanted_pages, 0};
  const int64_t host_budget = std::max<int64_t>(request.host_budget_bytes, 0) / request.page_bytes;
  if (host_budget == 0) return {gpu_budget, 0};
  const int64_t step = pages_per_granule(request.plane_bytes, tier_granule(request));
  const int64_t gpu_pages = gpu_budget_beside_tier(request) / step * step;
  const int64_t host_wanted = (request.wanted_pages - gpu_pages + step - 1) / step * step;
  const KvTiers tiers{gpu_pages, std::min(host_wanted, host_budget / step * step)};
  // A tier too small to add pages to what the GPU budget holds alone is not worth its copies.
  if (tiers.host_pages == 0 || tiers.pages() <= gpu_budget) return {gpu_budget, 0};
  return tiers;
}

}  // namespace hipcode
