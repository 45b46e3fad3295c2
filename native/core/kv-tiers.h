// How a KV cache reserved up front splits its pages between GPU memory and a pinned host tier behind it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>

namespace hipcode {

// Pages held at once and where. The GPU tier has room for gpu_pages pages (keys and values) and holds keys
// first: the keys of ids below gpu_key_pages() and the values of ids below gpu_value_pages() (HiP's mask
// estimation reads keys all over the context, its attention only the values of the keys it picked, through a
// GPU copy); the rest lies in pinned host memory. Without a host tier both are gpu_pages.
struct KvTiers {
  int64_t gpu_pages = 0;
  int64_t host_pages = 0;
  int64_t pages() const { return gpu_pages + host_pages; }
  int64_t gpu_key_pages() const { return std::min(pages(), 2 * gpu_pages); }
  int64_t gpu_value_pages() const { return 2 * gpu_pages - gpu_key_pages(); }
};

struct KvTierRequest {
  int64_t wanted_pages = 0;  // what the expected contexts need
  int64_t page_bytes = 0;    // one page: keys and values of every layer
  int64_t plane_bytes = 0;   // one page of one layer's keys (or values): each tier holds whole runs of these
  // The same as a prefill's layer copies hold it (they may keep another form, e.g. bf16 copies of fp8 rows).
  int64_t copy_plane_bytes = 0;
  uint64_t gpu_budget_bytes = 0;
  // The GPU budget is what memory is free: with a host tier (or with copies_without_tier), copies of two
  // layers' keys and values (every wanted page: the layer a prefill chunk reads and the next one, copied
  // meanwhile) are then kept free, and with a host tier also `tier_reserve_bytes` for the longer prefill
  // chunks.
  bool gpu_budget_automatic = false;
  bool copies_without_tier = false;  // prefills copy layers with no host tier too (fp8 rows read as bf16)
  uint64_t tier_reserve_bytes = 0;
  int64_t host_budget_bytes = 0;  // 0 (or less) = no host tier
  // The mapping granularity of each tier; asked only when a host tier is considered.
  std::function<size_t(bool host)> granule;
};

// The size every piece of a tiered cache is a multiple of: both tiers' granules (pieces of either tier follow
// each other in one range, each starting on a multiple of its granule).
size_t tier_granule(const KvTierRequest& request);

// All wanted pages in GPU memory when the budget holds them; else GPU pages up to the budget and the rest in
// host memory up to its budget, each layer's keys (or values) of either tier a whole number of tier granules:
// the GPU tier rounded down, the host tier up within its budget. The GPU budget alone when the host budget is
// 0 or the tiers would hold no more pages than it.
KvTiers plan_kv_tiers(const KvTierRequest& request);

}  // namespace hipcode
