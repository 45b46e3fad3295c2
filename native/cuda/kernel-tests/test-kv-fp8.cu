// KV caches of fp8 rows (PagedKv.k_fp8): kv_write encodes each head's row exactly as the CPU backend's
// encode_kv_row does (bytes equal, scales included, padding zero), kv_fp8_to_bf16_rows decodes them exactly
// as decode_kv_row does, and every kernel that reads fp8 rows (decode attention, its generic fallback, the
// HiP mask, the HiP hot-copy gather and probe cache, HiP decode) gives bit for bit what it gives reading a
// bf16 cache of the decoded rows. Prefill reads fp8 rows through the generic kernel (close to the fast path
// on the decoded rows); the kernels that read bf16 only refuse an fp8 cache.
#include <cstring>
#include <numeric>

#include "core/dtype.h"
#include "kernels/attention-decode.cuh"
#include "kernels/attention-prefill.cuh"
#include "kernels/hip-decode.cuh"
#include "kernels/hip-mask-prefill.cuh"
#include "kernels/hip-mask.cuh"
#include "kernels/hip-prefill.cuh"
#include "kernels/kv-write.cuh"
#include "kernels/random.cuh"
#include "test-harness.cuh"
#include "test-kv-fp8.h"
#include "tiered-region.h"

namespace {

using namespace hipcode::cuda;
using hipcode::decode_kv_row;
using hipcode::DType;
using hipcode::encode_kv_row;
using hipcode::kv_row_bytes;

constexpr int kPageSize = 64;

// An fp8 copy of a bf16 cache (same page table), written by kv_write from the bf16 rows of keys [0, n_keys).
struct Fp8Cache {
  Dev<uint8_t> k, v;
  PagedKv kv;
  Fp8Cache(const HostCache& hc, const DevCache& dc, int n_keys)
      : k(size_t(hc.num_pages) * hc.page_size * kv_fp8_row_bytes(hc.n_kv, hc.head_dim)),
        v(size_t(hc.num_pages) * hc.page_size * kv_fp8_row_bytes(hc.n_kv, hc.head_dim)),
        kv(dc.kv) {
    CK(cudaMemset(k.p, 0, k.n));
    CK(cudaMemset(v.p, 0, v.n));
    kv.k_pages = kv.v_pages = nullptr;
    kv.k_fp8 = k.p;
    kv.v_fp8 = v.p;
    kv.fp8_row_bytes = kv_fp8_row_bytes(hc.n_kv, hc.head_dim);
    const size_t row = size_t(hc.n_kv) * hc.head_dim;
    std::vector<bf16> keys(size_t(n_keys) * row), values(keys.size());
    std::vector<int32_t> positions(static_cast<size_t>(n_keys));
    for (int p = 0; p < n_keys; ++p) {
      positions[size_t(p)] = p;
      std::memcpy(&keys[p * row], &hc.k[hc.offset(p, 0)], row * sizeof(bf16));
      std::memcpy(&values[p * row], &hc.v[hc.offset(p, 0)], row * sizeof(bf16));
    }
    Dev<bf16> d_keys(keys), d_values(values);
    Dev<int32_t> d_positions(positions);
    kv_write(kv, d_keys.p, d_values.p, d_positions.p, n_keys, 0);
    CK(cudaDeviceSynchronize());
  }
  // Byte offset of key p's row.
  size_t row_offset(const HostCache& hc, int p) const {
    return (size_t(hc.page_table[p / hc.page_size]) * hc.page_size + p % hc.page_size) * kv.fp8_row_bytes;
  }
};

// A bf16 cache holding the decoded fp8 rows, by kv_fp8_to_bf16_rows over every physical row.
struct DecodedCache {
  Dev<bf16> k, v;
  PagedKv kv;
  DecodedCache(const HostCache& hc, const Fp8Cache& fp8)
      : k(size_t(hc.num_pages) * hc.page_size * hc.n_kv * hc.head_dim), v(k.n), kv(fp8.kv) {
    const int64_t rows = int64_t(hc.num_pages) * hc.page_size;
    kv_fp8_to_bf16_rows(fp8.k.p, 0, rows, hc.n_kv, hc.head_dim, k.p, 0);
    kv_fp8_to_bf16_rows(fp8.v.p, 0, rows, hc.n_kv, hc.head_dim, v.p, 0);
    CK(cudaDeviceSynchronize());
    kv.k_pages = k.p;
    kv.v_pages = v.p;
    kv.k_fp8 = kv.v_fp8 = nullptr;
    kv.fp8_row_bytes = 0;
  }
};

// kv_write's rows against encode_kv_row and kv_fp8_to_bf16_rows against decode_kv_row, for every written key.
void test_rows(int n_kv, int head_dim, int n_keys) {
  const std::string name = "kv fp8 rows kv_heads=" + std::to_string(n_kv) + " d=" + std::to_string(head_dim);
  run_test(name, [&] {
    HostCache hc(n_kv, head_dim, kPageSize, n_keys);
    // A few rows of extreme magnitudes: tiny (the scale floor), large, and zeros.
    for (int d = 0; d < head_dim; ++d) {
      hc.k[hc.offset(1, 0) + d] = tobf(1e-30f * float(d + 1));
      hc.v[hc.offset(2, 0) + d] = tobf(3000.f * float(d % 7) - 9000.f);
      hc.k[hc.offset(3, n_kv - 1) + d] = tobf(0.f);
    }
    DevCache dc(hc);
    Fp8Cache fp8(hc, dc, n_keys);
    DecodedCache decoded(hc, fp8);
    const std::vector<uint8_t> k8 = fp8.k.download(), v8 = fp8.v.download();
    const std::vector<bf16> kd = decoded.k.download(), vd = decoded.v.download();
    const size_t row_bytes = size_t(fp8.kv.fp8_row_bytes),
                 head_bytes = kv_row_bytes(DType::FP8_E4M3, head_dim);
    size_t wrong_bytes = 0, wrong_values = 0, bad_padding = 0;
    std::vector<float> x(static_cast<size_t>(head_dim)), back(x.size());
    std::vector<uint8_t> want(head_bytes);
    for (int p = 0; p < n_keys; ++p) {
      for (int values = 0; values < 2; ++values) {
        const std::vector<bf16>& src = values ? hc.v : hc.k;
        const uint8_t* row = (values ? v8 : k8).data() + fp8.row_offset(hc, p);
        for (int h = 0; h < n_kv; ++h) {
          for (int d = 0; d < head_dim; ++d) x[size_t(d)] = bf(src[hc.offset(p, h) + size_t(d)]);
          encode_kv_row(x.data(), head_dim, DType::FP8_E4M3, want.data());
          wrong_bytes += std::memcmp(row + size_t(h) * head_dim, want.data(), size_t(head_dim)) != 0;
          wrong_bytes += std::memcmp(row + size_t(n_kv) * head_dim + 4 * h, want.data() + head_dim, 4) != 0;
          decode_kv_row(want.data(), head_dim, DType::FP8_E4M3, back.data());
          const bf16* got = (values ? vd : kd).data() + hc.offset(p, h);
          for (int d = 0; d < head_dim; ++d) wrong_values += bf(got[d]) != back[size_t(d)];
        }
        for (size_t i = size_t(n_kv) * (head_dim + 4); i < row_bytes; ++i) bad_padding += row[i] != 0;
      }
    }
    record(name, wrong_bytes == 0 && wrong_values == 0 && bad_padding == 0,
           std::to_string(n_keys) + " keys: " + std::to_string(wrong_bytes) + " rows unlike encode_kv_row, " +
               std::to_string(wrong_values) + " values unlike decode_kv_row, " + std::to_string(bad_padding) +
               " padding bytes set");
  });
}

// kv_fp8_rows_between_forms: the pages' rows into the host form (each head's values, then its scale: the
// layout encode_kv_row writes, checked against the pages' bytes rearranged here) and back, bit for bit.
void test_forms(int n_kv, int head_dim) {
  const std::string name =
      "kv fp8 host form kv_heads=" + std::to_string(n_kv) + " d=" + std::to_string(head_dim);
  run_test(name, [&] {
    constexpr int kKeys = 200;
    HostCache hc(n_kv, head_dim, kPageSize, kKeys);
    DevCache dc(hc);
    Fp8Cache fp8(hc, dc, kKeys);
    const int64_t rows = int64_t(hc.num_pages) * hc.page_size;
    const size_t row_bytes = size_t(fp8.kv.fp8_row_bytes), host_row = size_t(n_kv) * (head_dim + 4);
    Dev<uint8_t> host_form(size_t(rows) * host_row), back(fp8.k.n);
    CK(cudaMemset(back.p, 0xff, back.n));
    kv_fp8_rows_between_forms(fp8.k.p, host_form.p, rows, n_kv, head_dim, false, 0);
    kv_fp8_rows_between_forms(host_form.p, back.p, rows, n_kv, head_dim, true, 0);
    const std::vector<uint8_t> pages = fp8.k.download(), got = host_form.download(), round = back.download();
    size_t wrong = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const uint8_t* row = pages.data() + size_t(r) * row_bytes;
      for (int h = 0; h < n_kv; ++h) {
        const uint8_t* out = got.data() + size_t(r) * host_row + size_t(h) * (head_dim + 4);
        wrong += std::memcmp(out, row + size_t(h) * head_dim, size_t(head_dim)) != 0;
        wrong += std::memcmp(out + head_dim, row + size_t(n_kv) * head_dim + 4 * h, 4) != 0;
      }
    }
    const bool same = round == pages;
    record(name, wrong == 0 && same,
           std::to_string(wrong) + " heads misplaced in the host form; back in the pages' form " +
               (same ? "bit-identical (padding zeroed)" : "DIFFERENT"));
  });
}

void record_identical(const std::string& name, const std::vector<bf16>& a, const std::vector<bf16>& b) {
  const bool same = a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(bf16)) == 0;
  record(name, same, same ? "bit-identical" : "DIFFERENT");
}

// Dense decode (split kernel at d 64 / 128, generic at d 40) on fp8 rows against the decoded bf16 rows.
void test_decode(int heads, int n_kv, int head_dim, int n_keys) {
  const std::string name = "kv fp8 decode heads=" + std::to_string(heads) + "/" + std::to_string(n_kv) +
                           " d=" + std::to_string(head_dim) + " keys=" + std::to_string(n_keys);
  run_test(name, [&] {
    HostCache hc(n_kv, head_dim, kPageSize, n_keys);
    DevCache dc(hc);
    Fp8Cache fp8(hc, dc, n_keys);
    DecodedCache decoded(hc, fp8);
    Dev<bf16> q(rand_bf16(size_t(heads) * head_dim, -1, 1));
    const float scale = 1.f / std::sqrt(float(head_dim));
    auto run = [&](const PagedKv& kv) {
      const int splits = attention_decode_splits(heads, n_kv, n_keys);
      Dev<float> ws(attention_decode_workspace_bytes(heads, head_dim, splits) / sizeof(float) + 1);
      Dev<bf16> out(size_t(heads) * head_dim);
      attention_decode(q.p, kv, out.p, heads, n_keys, nullptr, 0, scale, splits, ws.p, ws.n * sizeof(float),
                       0);
      return out.download();
    };
    record_identical(name, run(fp8.kv), run(decoded.kv));
  });
}

// Prefill on fp8 rows (the generic kernel) against the fast path on the decoded rows.
void test_prefill() {
  const std::string name = "kv fp8 prefill heads=28/4 d=128 cached=300 queries=90";
  run_test(name, [&] {
    constexpr int kHeads = 28, kKv = 4, kD = 128, kCached = 300, kQueries = 90;
    HostCache hc(kKv, kD, kPageSize, kCached + kQueries);
    DevCache dc(hc);
    Fp8Cache fp8(hc, dc, kCached + kQueries);
    DecodedCache decoded(hc, fp8);
    Dev<bf16> q(rand_bf16(size_t(kQueries) * kHeads * kD, -1, 1));
    auto run = [&](const PagedKv& kv) {
      const size_t bytes = attention_prefill_workspace_bytes(kQueries, kHeads, kKv, kD, kCached, 0);
      Dev<uint8_t> ws(bytes);
      Dev<bf16> out(size_t(kQueries) * kHeads * kD);
      attention_prefill(q.p, kv, out.p, kQueries, kHeads, kCached, 0, 0.0883883f, 0, ws.p, bytes);
      return to_float(out.download());
    };
    const std::vector<float> want = run(decoded.kv);
    compare(name, run(fp8.kv), std::vector<double>(want.begin(), want.end()), kAttnAtol, kAttnRtol, kAttnL2);
  });
}

// The HiP decode path on fp8 rows against the decoded rows: mask (stage 0 from scratch, through a probe
// cache too), hot-copy gather and decode through the copy and from the pages.
void test_hip() {
  const std::string name = "kv fp8 hip";
  run_test(name, [&] {
    constexpr int kHeads = 28, kKv = 4, kD = 128, kKeys = 12000 + 37;
    HostCache hc(kKv, kD, kPageSize, kKeys);
    DevCache dc(hc);
    Fp8Cache fp8(hc, dc, kKeys);
    DecodedCache decoded(hc, fp8);
    const HipMaskConfig mc = to_mask_config(hip_small_config());
    const int t = kKeys - 1;
    Dev<bf16> q(rand_bf16(size_t(kHeads) * kD, -1, 1));
    const int levels = 4, chunks = hip_probe_cache_full_chunks(mc, t);
    const size_t row = size_t(kKv) * kD;
    struct Result {
      std::vector<bf16> probes, hot_k, hot_v, out_hot, out_pages;
      std::vector<int32_t> blocks;
    };
    auto run = [&](const PagedKv& kv) {
      Result r;
      Dev<bf16> probe_rows(size_t(chunks) * hip_probe_cache_slots(levels) * row);
      HipProbeCache probe{probe_rows.p, levels, chunks, 0};
      hip_probe_cache_fill(kv, mc, t, probe, 0);
      Dev<int32_t> blocks(mc.max_blocks()), count(1), lists(hip_mask_stage_lists_ints(mc));
      Dev<uint8_t> ws(hip_mask_decode_workspace_bytes(mc, t));
      hip_mask_decode_staged(q.p, kv, kHeads, t, mc, 0, lists.p, blocks.p, count.p, ws.p, ws.n, 0, &probe);
      const int capacity =
          hip_hot_kv_capacity(mc.sink_tokens, mc.window_tokens, mc.max_blocks(), mc.block_k());
      Dev<bf16> hot_k(size_t(capacity) * row), hot_v(size_t(capacity) * row);
      Dev<int32_t> hot_blocks(mc.max_blocks() + 1);
      HipHotKv hot{hot_k.p, hot_v.p, hot_blocks.p, capacity};
      hip_hot_kv_gather(kv, t, mc.sink_tokens, mc.window_tokens, blocks.p, count.p, mc.max_blocks(),
                        mc.block_k(), HipHotKv{}, hot, 0);
      const int splits = hip_decode_splits(
          kHeads, kKv,
          hip_decode_max_attended(t, mc.sink_tokens, mc.window_tokens, mc.max_blocks(), mc.block_k()));
      Dev<float> dws(hip_decode_workspace_bytes(kHeads, kD, splits) / sizeof(float) + 1);
      Dev<bf16> out(size_t(kHeads) * kD);
      const HipHotKv* const throughs[] = {&hot, nullptr};
      for (const HipHotKv* through : throughs) {
        hip_decode(q.p, kv, out.p, kHeads, t, mc.sink_tokens, mc.window_tokens, blocks.p, count.p,
                   mc.max_blocks(), mc.block_k(), 0.0883883f, splits, dws.p, dws.n * sizeof(float), 0,
                   through);
        (through ? r.out_hot : r.out_pages) = out.download();
      }
      r.probes = probe_rows.download();
      r.hot_k = hot_k.download();
      r.hot_v = hot_v.download();
      const int n = count.download()[0];
      const std::vector<int32_t> all = blocks.download();
      r.blocks.assign(all.begin(), all.begin() + std::max(0, std::min(n, mc.max_blocks())));
      return r;
    };
    const Result a = run(fp8.kv), b = run(decoded.kv);
    record(
        name + ": mask", a.blocks == b.blocks && !a.blocks.empty(),
        std::to_string(a.blocks.size()) + " blocks, " + (a.blocks == b.blocks ? "identical" : "DIFFERENT"));
    record_identical(name + ": probe cache rows", a.probes, b.probes);
    record_identical(name + ": hot copy keys", a.hot_k, b.hot_k);
    record_identical(name + ": hot copy values", a.hot_v, b.hot_v);
    record_identical(name + ": decode through the hot copy", a.out_hot, b.out_hot);
    record_identical(name + ": decode from the pages", a.out_pages, b.out_pages);
  });
}

// The kernels that read bf16 pages only refuse fp8 rows, naming the copy to give them.
void test_refusals() {
  HostCache hc(4, 128, kPageSize, 600);
  DevCache dc(hc);
  Fp8Cache fp8(hc, dc, 600);
  const HipMaskConfig mc = to_mask_config(hip_small_config());
  Dev<bf16> q(rand_bf16(size_t(64) * 28 * 128, -1, 1)), out(q.n);
  Dev<int32_t> blocks(1024), counts(16);
  Dev<uint8_t> ws(hip_mask_prefill_workspace_bytes(mc, 64, 28, 599));
  expect_error(
      "kv fp8: hip_mask_prefill refuses fp8 rows",
      [&] { hip_mask_prefill(q.p, fp8.kv, 64, 28, 536, mc, blocks.p, counts.p, ws.p, ws.n, 0); },
      "give it a bf16 copy of an fp8 cache");
  expect_error(
      "kv fp8: hip_prefill_attention refuses fp8 rows",
      [&] {
        hip_prefill_attention(q.p, fp8.kv, out.p, 64, 28, 536, mc.sink_tokens, mc.window_tokens, blocks.p,
                              counts.p, mc.max_blocks(), mc.block_q, mc.block_k(), 0.088f, 0);
      },
      "give it a bf16 copy of an fp8 cache");
  PagedKv odd = fp8.kv;
  odd.fp8_row_bytes += 16;
  expect_error(
      "kv fp8: a row size unlike kv_fp8_row_bytes is refused",
      [&] { kv_write(odd, q.p, q.p, counts.p, 1, 0); }, "fp8_row_bytes = kv_fp8_row_bytes()");
}

// Keys [0, kBenchKeys) of one layer in host memory (a tiered region's host piece), bf16 or fp8 rows: a
// stage-0 mask estimation through a 4-step probe cache (as the engine's decode runs one at 1M keys) and a
// hot-copy gather, timed. What an fp8 row costs or saves when read over the bus.
void bench_tiered(bool fp8) {
  constexpr int kHeads = 28, kKv = 4, kD = 128, kKeys = 1 << 20;
  constexpr int kPages = kKeys / kPageSize + 1;
  const size_t row_bytes = fp8 ? size_t(kv_fp8_row_bytes(kKv, kD)) : size_t(kKv) * kD * sizeof(bf16);
  const size_t granule = std::lcm(TieredRegion::granularity(0, false), TieredRegion::granularity(0, true));
  const size_t plane = (size_t(kPages) * kPageSize * row_bytes + granule - 1) / granule * granule;
  TieredRegion region(0, {{2 * plane, true}}, "the bench's sizes");
  std::vector<int32_t> table(kPages);
  std::iota(table.begin(), table.end(), 0);
  Dev<int32_t> d_table(table);
  PagedKv kv{};
  kv.page_table = d_table.p;
  kv.num_pages = kv.max_pages_per_seq = kPages;
  kv.page_size = kPageSize;
  kv.n_kv_heads = kKv;
  kv.head_dim = kD;
  if (fp8) {
    kv.k_fp8 = reinterpret_cast<uint8_t*>(region.data());
    kv.v_fp8 = kv.k_fp8 + plane;
    kv.fp8_row_bytes = int(row_bytes);
  } else {
    kv.k_pages = reinterpret_cast<bf16*>(region.data());
    kv.v_pages = reinterpret_cast<bf16*>(region.data() + plane);
  }
  {
    constexpr int kBatch = 1 << 16;
    Dev<bf16> keys(size_t(kBatch) * kKv * kD), values(keys.n);
    Dev<int32_t> positions(static_cast<size_t>(kBatch));
    std::vector<int32_t> at(static_cast<size_t>(kBatch));
    for (int first = 0; first < kKeys; first += kBatch) {
      random_uniform(keys.p, int64_t(keys.n), uint64_t(first) + 1, 1.f, 0.f, 0);
      random_uniform(values.p, int64_t(values.n), uint64_t(first) + 2, 1.f, 0.f, 0);
      std::iota(at.begin(), at.end(), first);
      positions.upload(at);
      kv_write(kv, keys.p, values.p, positions.p, kBatch, 0);
    }
    CK(cudaDeviceSynchronize());
  }
  const HipMaskConfig mc = to_mask_config(hh::HipConfig{});
  const int t = kKeys - 1, levels = 4, chunks = hip_probe_cache_full_chunks(mc, t);
  Dev<bf16> q(rand_bf16(size_t(kHeads) * kD, -1, 1));
  Dev<bf16> probe_rows(size_t(chunks) * hip_probe_cache_slots(levels) * kKv * kD);
  HipProbeCache probe{probe_rows.p, levels, chunks, 0};
  hip_probe_cache_fill(kv, mc, t, probe, 0);
  Dev<int32_t> blocks(mc.max_blocks()), count(1), lists(hip_mask_stage_lists_ints(mc));
  Dev<uint8_t> ws(hip_mask_decode_workspace_bytes(mc, t));
  const double mask_us = time_us(
      [&] {
        hip_mask_decode_staged(q.p, kv, kHeads, t, mc, 0, lists.p, blocks.p, count.p, ws.p, ws.n, 0, &probe);
      },
      5);
  const double refresh_us = time_us(
      [&] {
        hip_mask_decode_staged(q.p, kv, kHeads, t, mc, 1, lists.p, blocks.p, count.p, ws.p, ws.n, 0, &probe);
      },
      5);
  const int capacity = hip_hot_kv_capacity(mc.sink_tokens, mc.window_tokens, mc.max_blocks(), mc.block_k());
  Dev<bf16> hot_k(size_t(capacity) * kKv * kD), hot_v(hot_k.n);
  Dev<int32_t> hot_blocks(mc.max_blocks() + 1);
  HipHotKv hot{hot_k.p, hot_v.p, hot_blocks.p, capacity};
  const double gather_us = time_us(
      [&] {
        hip_hot_kv_gather(kv, t, mc.sink_tokens, mc.window_tokens, blocks.p, count.p, mc.max_blocks(),
                          mc.block_k(), HipHotKv{}, hot, 0);
      },
      5);
  std::printf(
      "kv %s rows in host memory, 1M keys, one layer: stage-0 mask %8.1f us, stages 1-3 %8.1f us, hot gather "
      "%8.1f us\n",
      fp8 ? "fp8 " : "bf16", mask_us, refresh_us, gather_us);
}
}  // namespace

void test_kv_fp8() {
  test_rows(4, 128, 300);
  test_rows(3, 40, 130);  // rows padded to 16 bytes
  test_forms(4, 128);
  test_forms(3, 40);
  test_decode(28, 4, 128, 3000);
  test_decode(8, 2, 64, 777);
  test_decode(6, 2, 40, 200);  // generic kernel
  test_prefill();
  test_hip();
  test_refusals();
}

void bench_kv_fp8_tiers() {
  bench_tiered(false);
  bench_tiered(true);
}
