// Tests of hip_prefill_attention (kernels/hip-prefill.cuh) against the CPU reference
// hip::block_sparse_attention on random bf16 inputs, with random valid masks, masks of hip::estimate_hip_mask
// and empty masks, at awkward sizes; both kernels (sm90 wgmma where available, mma.sync always). The bench
// times it at 4K / 32K queries against 128K / 1M keys next to the dense attention_prefill.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "hip/block-sparse-attention.h"
#include "hip/hip-config.h"
#include "hip/mask-estimation.h"
#include "kernels/attention-prefill.cuh"
#include "kernels/hip-prefill.cuh"
#include "test-harness.cuh"
#include "test-hip-prefill.h"

using namespace hipcode::cuda;
namespace hh = hipcode::hip;

namespace {

// hip_prefill_attention's relative L2 error bound against the f32 reference (bf16 P and output).
constexpr double kHipPrefillL2 = 5e-3;

enum class MaskKind { Random, Estimated, Empty };

const char* mask_name(MaskKind kind) {
  return kind == MaskKind::Random ? "random" : kind == MaskKind::Estimated ? "estimated" : "empty";
}

// Config with block_q, sink, window and a single stage of block_k-key chunks (enough for random masks).
hh::HipConfig plain_config(int block_q, int block_k, int sink, int window) {
  hh::HipConfig c;
  c.block_q = block_q;
  c.prefill_chunk_tokens =
      int64_t(block_q) * 512;  // the chunking is the engine's; the kernel sees one segment
  c.sink_tokens = sink;
  c.window_tokens = window;
  c.stages = {{block_k, (int64_t)block_k * 64, 1}};
  return c;
}

// Scaled-down estimation config: sink 64, window 256, stages {64 -> 2048}, {16 -> 512}, {4 -> 128}.
hh::HipConfig small_config() {
  hh::HipConfig c;
  c.sink_tokens = 64;
  c.window_tokens = 256;
  c.stages = {{64, 2048, 4}, {16, 512, 4}, {4, 128, 1}};
  return c;
}

// Random ascending disjoint block starts anywhere in [0, last position + block_k) (so blocks straddle the
// sink end and window begins, lie in the window or past the query), about half of the possible ones.
std::vector<int64_t> random_blocks(const hh::HipConfig& config, int64_t last_position) {
  const int64_t bk = config.block_k();
  std::uniform_int_distribution<int64_t> gap(0, 2 * bk);
  std::vector<int64_t> starts;
  for (int64_t s = gap(g_rng); s < last_position + bk; s += bk + gap(g_rng)) {
    if (g_rng() % 2) starts.push_back(s);
  }
  return starts;
}

hh::HipMask make_mask(MaskKind kind, const hh::HipConfig& config, const hh::HipQueries& queries,
                      const hh::HipKv& kv) {
  if (kind == MaskKind::Estimated) return hh::estimate_hip_mask(config, queries, kv);
  hh::HipMask mask{config.block_q, config.block_k(), {}};
  const int64_t n_blocks = (queries.n_queries + config.block_q - 1) / config.block_q;
  for (int64_t b = 0; b < n_blocks; ++b) {
    const int64_t last = queries.first_position + std::min(queries.n_queries, (b + 1) * config.block_q) - 1;
    mask.blocks.push_back(kind == MaskKind::Random ? random_blocks(config, last) : std::vector<int64_t>{});
  }
  return mask;
}

// The device mask: [n_qblocks, max_blocks] starts (slots past a count hold garbage the kernel must not read)
// and counts, a full list's count overstated and an empty list's negative (both clamped by the kernel).
struct DeviceMask {
  int max_blocks;
  std::vector<int32_t> blocks, counts;
};

DeviceMask device_mask(const hh::HipMask& mask, int spare_blocks) {
  size_t longest = 0;
  for (const auto& list : mask.blocks) longest = std::max(longest, list.size());
  DeviceMask d{(int)longest + spare_blocks, {}, {}};
  d.blocks.assign(mask.blocks.size() * (size_t)d.max_blocks, (1 << 29) + 5);
  for (size_t b = 0; b < mask.blocks.size(); ++b) {
    const auto& list = mask.blocks[b];
    std::copy(list.begin(), list.end(), d.blocks.begin() + (int64_t)b * d.max_blocks);
    int count = (int)list.size();
    if (count == d.max_blocks) count += 7;
    if (count == 0) count = -3;
    d.counts.push_back(count);
  }
  return d;
}

void test_case(const std::string& label, const hh::HipConfig& config, int n_q, int pos0, int n_heads,
               int n_kv, int head_dim, int page_size, MaskKind kind, int spare_blocks) {
  const std::string name =
      "hip_prefill " + label + " n_q=" + std::to_string(n_q) + " pos0=" + std::to_string(pos0) +
      " heads=" + std::to_string(n_heads) + "/" + std::to_string(n_kv) + " d=" + std::to_string(head_dim) +
      " page=" + std::to_string(page_size) + " bq=" + std::to_string(config.block_q) +
      " bk=" + std::to_string(config.block_k()) + " sink=" + std::to_string(config.sink_tokens) +
      " win=" + std::to_string(config.window_tokens) + " " + mask_name(kind) +
      " spare=" + std::to_string(spare_blocks);
  run_test(name, [&] {
    const int n_keys = pos0 + n_q;
    HostCache hc(n_kv, head_dim, page_size, n_keys);
    DevCache dc(hc);
    std::vector<float> qv;
    auto q = rand_bf16((size_t)n_q * n_heads * head_dim, -1, 1, &qv);
    const std::vector<float> keys = hip_contiguous(hc, hc.kf, n_keys),
                             values = hip_contiguous(hc, hc.vf, n_keys);
    const hh::HipQueries queries{qv.data(), n_q, n_heads, head_dim, pos0};
    const hh::HipKv kv{keys.data(), values.data(), n_keys, n_kv, head_dim};
    const hh::HipMask mask = make_mask(kind, config, queries, kv);
    std::vector<float> ref((size_t)n_q * n_heads * head_dim);
    hh::block_sparse_attention(config, mask, queries, kv, ref.data());
    const DeviceMask dm = device_mask(mask, spare_blocks);
    Dev<int32_t> d_blocks(dm.blocks), d_counts(dm.counts);
    const bool no_mask = dm.max_blocks == 0;  // null pointers are allowed then
    Dev<bf16> d_q(q), d_out(ref.size());
    size_t selected = 0;
    for (const auto& list : mask.blocks) selected += list.size();
    char info[64];
    std::snprintf(info, sizeof info, " (%zu blocks)", selected);
    for (bool sm90 : {true, false}) {
      hip_prefill_attention_set_sm90(sm90);
      if (sm90 && (head_dim != 128 || !hip_prefill_attention_uses_sm90())) continue;
      CK(cudaMemset(d_out.p, 0xff, d_out.n * sizeof(bf16)));  // NaNs: every output must be written
      try {
        hip_prefill_attention(d_q.p, dc.kv, d_out.p, n_q, n_heads, pos0, (int)config.sink_tokens,
                              (int)config.window_tokens, no_mask ? nullptr : d_blocks.p,
                              no_mask ? nullptr : d_counts.p, dm.max_blocks, (int)config.block_q,
                              (int)config.block_k(), 1.f / std::sqrt((float)head_dim), 0);
        CK(cudaDeviceSynchronize());
      } catch (...) {
        hip_prefill_attention_set_sm90(true);
        throw;
      }
      compare(name + (sm90 ? " sm90" : " mma.sync") + info, to_float(d_out.download()),
              std::vector<double>(ref.begin(), ref.end()), kAttnAtol, kAttnRtol, kHipPrefillL2);
    }
    hip_prefill_attention_set_sm90(true);
  });
}

// The window covers every key: HiP prefill is dense causal attention; compared with attention_prefill.
void test_dense_equivalence(int n_q, int pos0, int n_heads, int n_kv) {
  const std::string name = "hip_prefill window>=keys == attention_prefill n_q=" + std::to_string(n_q) +
                           " pos0=" + std::to_string(pos0) + " heads=" + std::to_string(n_heads) + "/" +
                           std::to_string(n_kv);
  run_test(name, [&] {
    const int head_dim = 128;
    HostCache hc(n_kv, head_dim, 64, pos0 + n_q);
    DevCache dc(hc);
    auto q = rand_bf16((size_t)n_q * n_heads * head_dim, -1, 1);
    Dev<bf16> d_q(q), d_hip(q.size()), d_dense(q.size());
    const float scale = 1.f / std::sqrt((float)head_dim);
    hip_prefill_attention(d_q.p, dc.kv, d_hip.p, n_q, n_heads, pos0, 64, 1 << 20, nullptr, nullptr, 0, 64, 8,
                          scale, 0);
    attention_prefill(d_q.p, dc.kv, d_dense.p, n_q, n_heads, pos0, 0, scale, 0);
    const auto dense = to_float(d_dense.download());
    compare(name, to_float(d_hip.download()), std::vector<double>(dense.begin(), dense.end()), kAttnAtol,
            kAttnRtol, kHipPrefillL2);
  });
}

// Argument checks name the argument.
void test_errors() {
  run_test("hip_prefill argument checks", [&] {
    HostCache hc(2, 128, 64, 100);
    DevCache dc(hc);
    Dev<bf16> d_q((size_t)10 * 4 * 128), d_out((size_t)10 * 4 * 128);
    Dev<int32_t> d_blocks(4), d_counts(1);
    auto message = [&](int block_q, int block_k, int window) {
      return error_of([&] {
        hip_prefill_attention(d_q.p, dc.kv, d_out.p, 10, 4, 0, 4, window, d_blocks.p, d_counts.p, 4, block_q,
                              block_k, 0.1f, 0);
      });
    };
    const std::string bq = message(0, 8, 16), bk = message(64, 0, 16), win = message(64, 8, 0);
    record("hip_prefill rejects block_q 0", bq.find("block_q must be >= 1") != std::string::npos, bq);
    record("hip_prefill rejects block_k 0", bk.find("block_k must be >= 1") != std::string::npos, bk);
    record("hip_prefill rejects window 0", win.find("window_tokens must be >= 1") != std::string::npos, win);
  });
}

}  // namespace

void test_hip_prefill() {
  const hh::HipConfig small = small_config();
  // Estimated masks (the first query blocks have no candidates), partial last query block, pos0 0 and > 0.
  test_case("small", small, 300, 5000, 28, 4, 128, 64, MaskKind::Estimated, 0);
  test_case("small", small, 200, 0, 28, 4, 128, 64, MaskKind::Estimated, 3);
  test_case("small", small, 1000, 2000, 14, 2, 128, 16, MaskKind::Estimated, 0);
  // Random masks: blocks straddling the sink end and the rows' window begins, inside the window, past
  // the query; permuted 16 / 64-key pages; GQA groups 7, 1 and 20.
  test_case("small", small, 300, 5000, 28, 4, 128, 16, MaskKind::Random, 0);
  test_case("small", small, 130, 700, 8, 8, 128, 64, MaskKind::Random, 5);
  test_case("small", small, 70, 1000, 40, 2, 128, 64, MaskKind::Random, 0);
  test_case("small", small, 150, 3000, 16, 2, 64, 32, MaskKind::Random, 2);  // head_dim 64
  test_case("small", small, 1, 5000, 28, 4, 128, 64, MaskKind::Random, 0);
  test_case("small", small, 1, 0, 28, 4, 128, 64, MaskKind::Random, 0);
  {
    hh::HipConfig c = small;
    c.sink_tokens = 0;
    test_case("sink0", c, 150, 3000, 28, 4, 128, 16, MaskKind::Random, 0);
    test_case("sink0", c, 150, 3000, 28, 4, 128, 64, MaskKind::Estimated, 0);
  }
  // Window 1 (each query sees itself, its sink and blocks), windows shorter than a query block (rows of one
  // block have different window begins across selected blocks), block_k 1, odd block_q.
  test_case("win1", plain_config(64, 8, 64, 1), 100, 2000, 28, 4, 128, 64, MaskKind::Random, 0);
  test_case("win<bq", plain_config(48, 8, 32, 100), 250, 1500, 28, 4, 128, 64, MaskKind::Random, 1);
  test_case("bk1", plain_config(16, 1, 20, 50), 90, 600, 28, 4, 128, 16, MaskKind::Random, 0);
  test_case("bq100", plain_config(100, 16, 48, 300), 333, 2500, 28, 4, 128, 64, MaskKind::Random, 0);
  test_case("bq100", plain_config(100, 16, 48, 300), 333, 2500, 16, 4, 64, 64, MaskKind::Random, 0);
  // Empty masks, with null pointers (max_blocks 0) and with spare capacity.
  test_case("small", small, 100, 3000, 28, 4, 128, 64, MaskKind::Empty, 0);
  test_case("small", small, 100, 3000, 28, 4, 128, 64, MaskKind::Empty, 4);
  // Default config (sink 256, window 1024, 256/32K, 32/8K, 8/2K) with its estimated mask.
  test_case("default", hh::HipConfig{}, 100, 6000, 28, 4, 128, 64, MaskKind::Estimated, 0);
  test_dense_equivalence(200, 300, 28, 4);
  test_dense_equivalence(77, 0, 8, 8);
  test_errors();
}

namespace {

// 256 distinct random key blocks of 8 on the 8-grid per query block, among its candidates [sink, w(last)).
std::vector<int32_t> bench_blocks(int n_qblocks, int block_q, int pos0, int sink, int window, int per_block) {
  std::vector<int32_t> blocks((size_t)n_qblocks * per_block);
  std::vector<int32_t> grid;
  for (int b = 0; b < n_qblocks; ++b) {
    const int last = pos0 + (b + 1) * block_q - 1;
    grid.clear();
    for (int s = sink; s + 8 <= last - window + 1; s += 8) grid.push_back(s);
    std::shuffle(grid.begin(), grid.end(), g_rng);
    std::sort(grid.begin(), grid.begin() + per_block);
    std::copy(grid.begin(), grid.begin() + per_block, blocks.begin() + (size_t)b * per_block);
  }
  return blocks;
}

// Exact attended (query, key) pairs of all queries (one head).
double attended_pairs(const std::vector<int32_t>& blocks, int n_q, int block_q, int pos0, int sink,
                      int window, int per_block) {
  double pairs = 0;
  for (int i = 0; i < n_q; ++i) {
    const int t = pos0 + i, w = std::max(0, t - window + 1);
    pairs += std::min(sink, w) + (t + 1 - w);
    const int32_t* row = &blocks[(size_t)(i / block_q) * per_block];
    for (int k = 0; k < per_block; ++k)
      pairs += std::max(0, std::min(row[k] + 8, w) - std::max(row[k], sink));
  }
  return pairs;
}

// The dense last query block of a prefill chunk (64 queries after n_keys - 64 keys): whole key ranges per
// CTA against split-K.
void bench_dense_tail(const PagedKv& kv, int n_heads, int n_keys, float scale) {
  const int n_q = 64, pos0 = n_keys - n_q, D = kv.head_dim;
  Dev<bf16> q((size_t)n_q * n_heads * D), out((size_t)n_q * n_heads * D);
  fill_random_device(q);
  const size_t bytes = attention_prefill_workspace_bytes(n_q, n_heads, kv.n_kv_heads, D, pos0, 0);
  Dev<float> workspace(std::max<size_t>(bytes, 16) / sizeof(float));
  const double flops = 4.0 * n_q * (double)n_keys * D * n_heads;
  for (bool split : {false, true}) {
    const double us = time_us(
        [&] {
          attention_prefill(q.p, kv, out.p, n_q, n_heads, pos0, 0, scale, 0, split ? workspace.p : nullptr,
                            split ? bytes : 0);
        },
        15);
    std::printf("dense tail (64 queries) keys=%-8d %-9s %9.3f ms %6.1f TFLOP/s\n", n_keys,
                split ? "split-K" : "whole", us * 1e-3, flops / us * 1e-6);
  }
}

}  // namespace

void bench_hip_prefill() {
  const int NH = 28, NKV = 4, D = 128, page = 64, sink = 256, window = 1024, block_q = 64, per_block = 256;
  const float scale = 1.f / std::sqrt((float)D);
  std::printf(
      "-- HiP prefill attention (heads %d/%d, d=%d, page 64 permuted, sink %d, window %d, %d random blocks "
      "of 8 "
      "per 64-query block; floor = attended-pair FLOP at 300 TFLOP/s)\n",
      NH, NKV, D, sink, window, per_block);
  for (int n_keys : {131072, 1048576}) {
    const int pages = n_keys / page + 1;
    Dev<bf16> kp((size_t)pages * page * NKV * D), vp((size_t)pages * page * NKV * D);
    fill_random_device(kp);
    fill_random_device(vp);
    std::vector<int32_t> table(pages);
    std::iota(table.begin(), table.end(), 0);
    std::shuffle(table.begin(), table.end(), g_rng);
    Dev<int32_t> d_table(table);
    const PagedKv kv{kp.p, vp.p, d_table.p, pages, page, pages, NKV, D};
    for (int n_q : {4096, 32768}) {
      const int pos0 = n_keys - n_q, n_qblocks = n_q / block_q;
      Dev<bf16> q((size_t)n_q * NH * D), out((size_t)n_q * NH * D);
      fill_random_device(q);
      const auto blocks = bench_blocks(n_qblocks, block_q, pos0, sink, window, per_block);
      Dev<int32_t> d_blocks(blocks), d_counts(std::vector<int32_t>(n_qblocks, per_block));
      const double flops = 4.0 * attended_pairs(blocks, n_q, block_q, pos0, sink, window, per_block) * D * NH;
      for (bool sm90 : {true, false}) {
        hip_prefill_attention_set_sm90(sm90);
        if (sm90 && !hip_prefill_attention_uses_sm90()) {
          std::printf("SKIP hip_prefill sm90 bench: needs compute capability 9.0 and sm_90a code\n");
          continue;
        }
        const double us = time_us(
            [&] {
              hip_prefill_attention(q.p, kv, out.p, n_q, NH, pos0, sink, window, d_blocks.p, d_counts.p,
                                    per_block, block_q, 8, scale, 0);
            },
            n_q > 4096 ? 7 : 15);
        std::printf(
            "hip_prefill %-8s n_q=%-6d keys=%-8d %9.2f ms %6.1f TFLOP/s (%.0f attended keys/query, floor "
            "%.2f ms)\n",
            sm90 ? "sm90" : "mma.sync", n_q, n_keys, us * 1e-3, flops / us * 1e-6,
            flops / (4.0 * D * NH * n_q), flops / 300e12 * 1e3);
      }
      hip_prefill_attention_set_sm90(true);
      double causal = 0;  // exact causal pairs of the dense prefill
      for (int t = 0; t < n_q; ++t) causal += pos0 + t + 1;
      const double dense_flops = 4.0 * causal * D * NH;
      const double us_dense = time_us([&] { attention_prefill(q.p, kv, out.p, n_q, NH, pos0, 0, scale, 0); },
                                      dense_flops > 1e14 ? 3 : 7);
      std::printf("dense attention_prefill n_q=%-6d keys=%-8d %9.2f ms %6.1f TFLOP/s (causal pairs)\n", n_q,
                  n_keys, us_dense * 1e-3, dense_flops / us_dense * 1e-6);
    }
    bench_dense_tail(kv, NH, n_keys, scale);
  }
}
