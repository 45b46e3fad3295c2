// HiP's stage-0 probe cache: after two fills (the second only adding the chunks the first lacked) every row
// holds the key the bisection's first steps probe at that slot (positions enumerated here breadth-first from
// the halving rule, not by the kernels' path bits), and a one-stage mask estimated through the cache equals
// the CPU reference's; at 1, 4 and all 8 steps of a 256-key chunk. With all 8 cached, the full chunks' keys
// are then zeroed in the pages and the mask must not change: stage 0 reads them from the cache (the last
// chunk, clipped by the candidates' end, from the pages). (With fewer steps cached a later step may probe a
// key an earlier one did, from the pages, so zeroing them tells nothing.)
#include <cstring>

#include "hip/mask-estimation.h"
#include "kernels/hip-mask.cuh"
#include "test-harness.cuh"
#include "test-hip-probe-cache.h"

namespace {

using namespace hipcode::cuda;

constexpr int kHeads = 28, kKvHeads = 4, kHeadDim = 128, kPageSize = 64, kKeys = 40000 + 77;
constexpr int kChunk = 256;

// The probe keys of a chunk starting at `start`, slot by slot: step 1's interval is the chunk; each step's
// intervals in order, each giving its left and right probe and its two halves to the next step.
std::vector<int> probe_keys(int start, int levels) {
  std::vector<int> keys;
  std::vector<std::pair<int, int>> intervals = {{start, start + kChunk}};
  for (int level = 1; level <= levels; ++level) {
    std::vector<std::pair<int, int>> halves;
    for (const auto& [lo, hi] : intervals) {
      const int centre = (lo + hi) / 2;
      keys.push_back(hi - lo > 1 ? (lo + centre) / 2 : -1);
      keys.push_back(hi - lo > 1 ? (centre + hi) / 2 : -1);
      halves.push_back({lo, centre});
      halves.push_back({centre, hi});
    }
    intervals = halves;
  }
  return keys;
}

void test_levels(int levels) {
  const std::string name = "hip probe cache levels=" + std::to_string(levels);
  run_test(name, [&] {
    hh::HipConfig config;  // sink 256, window 1024
    config.stages = {{kChunk, 8192, 1}};
    const HipMaskConfig mc = to_mask_config(config);
    HostCache hc(kKvHeads, kHeadDim, kPageSize, kKeys);
    std::vector<float> qv;
    auto q = rand_bf16(size_t(kHeads) * kHeadDim, -1, 1, &qv);
    fill_eighths(hc.k, hc.kf, 3);
    fill_eighths(q, qv, 3);
    const int t = kKeys - 1;
    const std::vector<float> keys = hip_contiguous(hc, hc.kf, kKeys);
    const hh::HipQueries queries{qv.data(), 1, kHeads, kHeadDim, t};
    const hh::HipKv kv{keys.data(), nullptr, kKeys, kKvHeads, kHeadDim};
    const std::vector<int64_t> want = hh::select_key_blocks(config, queries, kv, 0);

    DevCache dc(hc);
    const int slots = hip_probe_cache_slots(levels), chunks = hip_probe_cache_full_chunks(mc, t);
    const size_t row = size_t(kKvHeads) * kHeadDim;
    Dev<bf16> rows(size_t(chunks) * slots * row);
    HipProbeCache probe{rows.p, levels, chunks, 0};
    hip_probe_cache_fill(dc.kv, mc, t - 3000, probe, 0);
    const int first_fill = probe.chunks;
    hip_probe_cache_fill(dc.kv, mc, t, probe, 0);
    CK(cudaDeviceSynchronize());

    const std::vector<bf16> cached = rows.download();
    size_t wrong = 0, held = 0;
    std::vector<int> probed;  // keys the cache holds
    for (int j = 0; j < chunks; ++j) {
      const std::vector<int> slot_keys = probe_keys(mc.sink_tokens + j * kChunk, levels);
      for (int slot = 0; slot < slots; ++slot) {
        if (slot_keys[slot] < 0) continue;
        ++held;
        probed.push_back(slot_keys[slot]);
        wrong += std::memcmp(cached.data() + (size_t(j) * slots + slot) * row,
                             hc.k.data() + hc.offset(slot_keys[slot], 0), row * sizeof(bf16)) != 0;
      }
    }
    record(name + ": rows", wrong == 0 && first_fill > 0 && first_fill < chunks,
           std::to_string(held) + " rows of " + std::to_string(chunks) + " chunks (first fill " +
               std::to_string(first_fill) + "), " + std::to_string(wrong) + " wrong");

    Dev<bf16> d_q(q);
    Dev<int32_t> blocks(mc.max_blocks()), count(1), lists(hip_mask_stage_lists_ints(mc));
    Dev<uint8_t> ws(hip_mask_decode_workspace_bytes(mc, t));
    auto estimate = [&]() {
      CK(cudaMemset(count.p, 0xff, sizeof(int32_t)));
      hip_mask_decode_staged(d_q.p, dc.kv, kHeads, t, mc, 0, lists.p, blocks.p, count.p, ws.p, ws.n, 0,
                             &probe);
      const int n = count.download()[0];
      const std::vector<int32_t> got = blocks.download();
      return std::vector<int64_t>(got.begin(), got.begin() + std::max(0, std::min(n, mc.max_blocks())));
    };
    const std::vector<int64_t> through_cache = estimate();
    record(name + ": mask", through_cache == want,
           std::to_string(through_cache.size()) + " blocks, " +
               (through_cache == want ? "identical" : "DIFFERENT") + " to the CPU's");
    if (levels < 8) return;
    std::vector<bf16> zeroed = hc.k;
    for (int key : probed) std::memset(&zeroed[hc.offset(key, 0)], 0, row * sizeof(bf16));
    dc.k.upload(zeroed);
    const std::vector<int64_t> zeroed_pages = estimate();
    record(name + ": mask with the cached keys zeroed in the pages", zeroed_pages == want,
           zeroed_pages == want ? "identical to the CPU's" : "DIFFERENT");
  });
}

// A cache too small for the position's full chunks, and a stage-0 chunk that does not halve exactly, are
// refused with what to change.
void test_refusals() {
  HostCache hc(kKvHeads, kHeadDim, kPageSize, 4000);
  DevCache dc(hc);
  hh::HipConfig config;
  config.stages = {{kChunk, 8192, 1}};
  const HipMaskConfig mc = to_mask_config(config);
  const int chunks = hip_probe_cache_full_chunks(mc, 3999);
  Dev<bf16> rows(size_t(chunks) * hip_probe_cache_slots(2) * kKvHeads * kHeadDim);
  HipProbeCache small{rows.p, 2, chunks - 1, 0};
  expect_error(
      "hip probe cache: too small a capacity is refused",
      [&] { hip_probe_cache_fill(dc.kv, mc, 3999, small, 0); },
      "the cache holds " + std::to_string(chunks - 1) + " chunks, the position needs " +
          std::to_string(chunks));
  config.stages = {{200, 8000, 1}};
  HipProbeCache fits{rows.p, 2, chunks, 0};
  expect_error(
      "hip probe cache: a chunk_size not a power of two is refused",
      [&] { hip_probe_cache_fill(dc.kv, to_mask_config(config), 3999, fits, 0); },
      "must be a power of two, got 200");
}

}  // namespace

void test_hip_probe_cache() {
  test_levels(1);
  test_levels(4);
  test_levels(8);
  test_refusals();
}
