// Tests and benchmark of the prefill HiP mask estimation (hip_mask_prefill) against the CPU reference
// hip::estimate_hip_mask: exact inputs (small multiples of 1/8, so every f32 sum is exact) must give
// identical masks, ordinary random bf16 inputs report how many blocks agree.
#include <thread>

#include "hip/mask-estimation.h"
#include "kernels/hip-mask-prefill.cuh"
#include "kernels/random.cuh"
#include "test-harness.cuh"
#include "test-hip-mask-prefill.h"

namespace {

// One prefill chunk: n_q queries at positions pos0 + i, keys [0, pos0 + n_q) in a permuted paged cache.
struct PrefillCase {
  std::string label;
  hh::HipConfig config;
  int n_heads, n_kv, head_dim, page_size;
  int n_q, pos0;
  HipInputs inputs;
};

std::string case_name(const PrefillCase& c) {
  return "hip_mask_prefill " + c.label + " n_q=" + std::to_string(c.n_q) + " pos0=" + std::to_string(c.pos0) +
         " heads=" + std::to_string(c.n_heads) + "/" + std::to_string(c.n_kv) +
         " d=" + std::to_string(c.head_dim) + " page=" + std::to_string(c.page_size) +
         (c.inputs == HipInputs::Random ? " random" : " eighths") +
         (c.inputs == HipInputs::EighthsPlanted ? "+planted" : "");
}

// hip::estimate_hip_mask, its query blocks spread over the host's cores.
std::vector<std::vector<int64_t>> cpu_mask(const hh::HipConfig& config, const hh::HipQueries& queries,
                                           const hh::HipKv& kv) {
  hh::validate_hip_config(config);
  hh::validate_hip_inputs(queries, kv);
  const int64_t n_blocks = (queries.n_queries + config.block_q - 1) / config.block_q;
  std::vector<std::vector<int64_t>> blocks((size_t)n_blocks);
  const int n_threads = (int)std::max(1u, std::min(std::thread::hardware_concurrency(), 32u));
  std::vector<std::thread> workers;
  for (int w = 0; w < n_threads; ++w) {
    workers.emplace_back([&, w] {
      for (int64_t b = w; b < n_blocks; b += n_threads)
        blocks[(size_t)b] = hh::select_key_blocks(config, queries, kv, b);
    });
  }
  for (auto& worker : workers) worker.join();
  return blocks;
}

// Strong keys (+-3/8 along the sign of query row `row`'s first head of each group) at the last 3 candidates
// of the last query block and at a few random candidates; the same key at two places plants exact chunk ties.
void plant_keys(const PrefillCase& c, HostCache& hc, const std::vector<float>& qv) {
  const int group = c.n_heads / c.n_kv;
  const int64_t last = c.pos0 + c.n_q - 1;
  const int64_t cand_end = last - c.config.window_tokens + 1;
  if (cand_end <= c.config.sink_tokens) return;
  std::vector<int> spots;
  for (int i = 1; i <= 3; ++i) spots.push_back((int)cand_end - i);
  std::uniform_int_distribution<int> dp((int)c.config.sink_tokens, (int)cand_end - 1);
  for (int i = 0; i < 6; ++i) spots.push_back(dp(g_rng));
  std::uniform_int_distribution<int> dr(0, c.n_q - 1);
  const int row = dr(g_rng);
  for (int p : spots) {
    for (int h = 0; h < c.n_kv; ++h) {
      const float* qh = &qv[((size_t)row * c.n_heads + h * group) * c.head_dim];
      for (int d = 0; d < c.head_dim; ++d) {
        const size_t o = hc.offset(p, h) + d;
        hc.k[o] = tobf(qh[d] >= 0 ? 0.375f : -0.375f);
        hc.kf[o] = bf(hc.k[o]);
      }
    }
  }
}

void check_prefill_mask(const PrefillCase& c) {
  const std::string name = case_name(c);
  run_test(name, [&] {
    const int n_keys = c.pos0 + c.n_q;
    HostCache hc(c.n_kv, c.head_dim, c.page_size, n_keys);
    std::vector<float> qv;
    auto q = rand_bf16((size_t)c.n_q * c.n_heads * c.head_dim, -1, 1, &qv);
    if (c.inputs != HipInputs::Random) {
      fill_eighths(hc.k, hc.kf, 3);
      fill_eighths(q, qv, 3);
    }
    if (c.inputs == HipInputs::EighthsPlanted) plant_keys(c, hc, qv);
    DevCache dc(hc);
    const std::vector<float> keys = hip_contiguous(hc, hc.kf, n_keys);
    const hh::HipQueries queries{qv.data(), c.n_q, c.n_heads, c.head_dim, c.pos0};
    const hh::HipKv kv{keys.data(), nullptr, n_keys, c.n_kv, c.head_dim};
    const auto want = cpu_mask(c.config, queries, kv);

    const HipMaskConfig mc = to_mask_config(c.config);
    const int nqb = (int)want.size();
    Dev<bf16> d_q(q);
    Dev<int32_t> d_blocks((size_t)nqb * mc.max_blocks()), d_counts(nqb);
    Dev<uint8_t> ws(hip_mask_prefill_workspace_bytes(mc, c.n_q, c.n_heads, c.pos0 + c.n_q - 1));
    CK(cudaMemset(d_counts.p, 0xff, nqb * sizeof(int32_t)));
    hip_mask_prefill(d_q.p, dc.kv, c.n_q, c.n_heads, c.pos0, mc, d_blocks.p, d_counts.p, ws.p, ws.n, 0);
    const auto counts = d_counts.download();
    const auto blocks = d_blocks.download();

    int identical = 0, first_bad = -1;
    size_t got_total = 0, want_total = 0, shared = 0;
    double jaccard_sum = 0;
    for (int b = 0; b < nqb; ++b) {
      const int count = counts[b];
      if (count < 0 || count > mc.max_blocks()) {
        record(name, false, "query block " + std::to_string(b) + ": bad count " + std::to_string(count));
        return;
      }
      const std::vector<int64_t> got(blocks.begin() + (size_t)b * mc.max_blocks(),
                                     blocks.begin() + (size_t)b * mc.max_blocks() + count);
      if (got == want[b]) {
        ++identical;
      } else if (first_bad < 0) {
        first_bad = b;
      }
      std::vector<int64_t> inter;
      std::set_intersection(got.begin(), got.end(), want[b].begin(), want[b].end(),
                            std::back_inserter(inter));
      shared += inter.size();
      got_total += got.size();
      want_total += want[b].size();
      jaccard_sum += jaccard(got, want[b]);
    }
    const double jac = jaccard_sum / nqb;
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "%d/%d query blocks identical, blocks %zu (want %zu), %.4f of them shared, jaccard=%.4f",
                  identical, nqb, got_total, want_total, want_total ? (double)shared / want_total : 1.0, jac);
    std::string detail = buf;
    if (first_bad >= 0) detail += ", first different query block " + std::to_string(first_bad);
    const bool ok = c.inputs == HipInputs::Random ? jac >= 0.95 : identical == nqb;
    record(name, ok, detail);
  });
}

// Bad configs and arguments are rejected with the field's name.
void check_prefill_rejects() {
  run_test("hip_mask_prefill rejects bad configs", [&] {
    auto throws_with = [](const std::function<void()>& fn, const std::string& needle) {
      return error_of(fn).find(needle) != std::string::npos;
    };
    HipMaskConfig f32 = HipMaskConfig{};
    f32.bf16_scoring = false;
    HipMaskConfig stride = HipMaskConfig{};
    stride.stages[1].query_stride = 3;
    HipMaskConfig wide = HipMaskConfig{};
    wide.block_q = 128;
    wide.stages[2].query_stride = 1;
    const bool ok =
        throws_with([&] { hip_mask_prefill_workspace_bytes(f32, 64, 28, 5000); }, "bf16_scoring") &&
        throws_with([&] { hip_mask_prefill_workspace_bytes(stride, 64, 28, 5000); },
                    "stages[1].query_stride") &&
        throws_with([&] { hip_mask_prefill_workspace_bytes(wide, 64, 28, 5000); }, "block_q / stages[2]") &&
        throws_with([&] { hip_mask_prefill_workspace_bytes(HipMaskConfig{}, 0, 28, 5000); }, "n_q");
    record("hip_mask_prefill rejects bad configs", ok, ok ? "" : "a bad config was accepted");
  });
}

}  // namespace

void test_hip_mask_prefill() {
  const hh::HipConfig small = hip_small_config();  // sink 64, window 256, 64:2048 /4, 16:512 /4, 4:128 /1
  const hh::HipConfig dflt;                        // sink 256, window 1024, 256:32K /4, 32:8K /4, 8:2K /1
  using In = HipInputs;
  // Exact inputs: identical masks. n_q not a multiple of 64; pos0 0 (the first blocks have no candidates, the
  // next ones keep everything) and > 0; pages of 64 and 16 (permuted in every HostCache).
  check_prefill_mask({"small", small, 28, 4, 128, 64, 1000, 0, In::Eighths});
  check_prefill_mask({"small", small, 28, 4, 128, 16, 300, 9000 + 37, In::EighthsPlanted});
  check_prefill_mask({"small", small, 28, 4, 128, 64, 777, 20000 - 5, In::Eighths});
  check_prefill_mask({"default", dflt, 28, 4, 128, 64, 200, 65536 - 11, In::Eighths});
  check_prefill_mask({"default", dflt, 28, 4, 128, 64, 130, 40000 + 3, In::EighthsPlanted});
  check_prefill_mask({"small", small, 28, 4, 128, 64, 1, 5000, In::Eighths});  // one query
  check_prefill_mask({"small", small, 28, 4, 128, 64, 63, 0, In::Eighths});    // no candidates at all
  // GQA group 1, d 64; group 16 (two CTAs of heads per kv head).
  check_prefill_mask({"small", small, 8, 8, 64, 32, 500, 6000 + 1, In::EighthsPlanted});
  check_prefill_mask({"small", small, 32, 2, 64, 16, 260, 9000 + 1, In::EighthsPlanted});
  {
    hh::HipConfig c = small;
    c.stages = {{64, 1024, 2}, {8, 256, 1}};  // 2 stages, strides 2 / 1 (32 / 64 scoring rows)
    check_prefill_mask({"2-stage", c, 28, 4, 128, 64, 333, 7000 + 3, In::EighthsPlanted});
    c = small;
    c.sink_tokens = 0;
    c.block_q = 48;
    c.prefill_chunk_tokens = 48 * 512;
    c.stages = {{64, 1024, 3}, {16, 256, 2}, {1, 64, 1}};  // strides 3 / 2 / 1, one-key chunks at the end
    check_prefill_mask({"sink0 bq48 strides3/2/1", c, 28, 4, 128, 64, 250, 5000 + 7, In::Eighths});
    check_prefill_mask({"sink0 bq48 strides3/2/1", c, 28, 4, 128, 64, 250, 5000 + 7, In::EighthsPlanted});
    c = small;
    c.stages = {{64, 1 << 20, 4}, {16, 1 << 20, 4}, {4, 1 << 20, 1}};  // every stage keeps everything
    check_prefill_mask({"keep-all", c, 28, 4, 128, 64, 100, 3000, In::Eighths});
    c = small;
    c.block_q = 32;
    c.stages = {{32, 512, 1}};  // one stage, stride 1 (32 rows)
    check_prefill_mask({"1-stage bq32", c, 8, 2, 128, 16, 200, 4000 + 9, In::Eighths});
  }
  // Ordinary random bf16: f32 tensor-core sums vs the f64 reference; report the agreement.
  check_prefill_mask({"small", small, 28, 4, 128, 64, 1000, 20000, In::Random});
  check_prefill_mask({"default", dflt, 28, 4, 128, 64, 256, 65536 - 11, In::Random});
  check_prefill_mask({"default", dflt, 28, 4, 128, 64, 1024, 131072 - 1024, In::Random});
  check_prefill_mask({"small", small, 8, 8, 64, 32, 300, 8000, In::Random});
  check_prefill_rejects();
}

namespace {

// Median ms of every stage and of the whole call over `runs` timed calls (after 2 warm-ups).
std::vector<double> time_stages(const std::function<void(const cudaEvent_t*)>& call, int n_stages, int runs) {
  std::vector<cudaEvent_t> events((size_t)n_stages + 1);
  for (auto& e : events) CK(cudaEventCreate(&e));
  for (int i = 0; i < 2; ++i) call(events.data() + 1);
  CK(cudaDeviceSynchronize());
  std::vector<std::vector<float>> ms((size_t)n_stages + 1, std::vector<float>(runs));
  for (int r = 0; r < runs; ++r) {
    CK(cudaEventRecord(events[0]));
    call(events.data() + 1);
    CK(cudaEventSynchronize(events[n_stages]));
    for (int s = 0; s < n_stages; ++s) CK(cudaEventElapsedTime(&ms[s][r], events[s], events[s + 1]));
    CK(cudaEventElapsedTime(&ms[n_stages][r], events[0], events[n_stages]));
  }
  for (auto& e : events) cudaEventDestroy(e);
  std::vector<double> medians;
  for (auto& m : ms) {
    std::sort(m.begin(), m.end());
    medians.push_back(m[runs / 2]);
  }
  return medians;
}

// What the scoring kernel of one stage does if every query block scores all its chunks (a bound: a block
// whose chunks fit in keep scores none): per chunk and q head it loads the 2 probes of each of its
// ceil(log2(chunk)) steps (a one-key chunk: its key twice) and multiplies them with the padded scoring rows.
struct StageWork {
  double flop;
  double key_bytes;
};

StageWork stage_work(const HipMaskConfig& mc, int stage, int n_q, int pos0, int n_heads, int head_dim) {
  const HipMaskStage& s = mc.stages[stage];
  const int rows = (mc.block_q / s.query_stride + 15) / 16 * 16;
  const double keys = std::max(2.0, 2.0 * std::ceil(std::log2((double)s.chunk_size)));
  double chunks = 0;
  for (int first = 0; first < n_q; first += mc.block_q) {
    const int64_t last = (int64_t)pos0 + std::min(n_q, first + mc.block_q) - 1;
    const int64_t range = std::max<int64_t>(0, last - mc.window_tokens + 1 - mc.sink_tokens);
    int64_t n = (range + mc.stages[0].chunk_size - 1) / mc.stages[0].chunk_size;
    for (int i = 1; i <= stage; ++i) {
      const HipMaskStage& p = mc.stages[i - 1];
      const int64_t split =
          std::min<int64_t>(n, p.keep_tokens / p.chunk_size) * (p.chunk_size / mc.stages[i].chunk_size);
      n = std::min<int64_t>(split, (range + mc.stages[i].chunk_size - 1) / mc.stages[i].chunk_size);
    }
    if (n > s.keep_tokens / s.chunk_size) chunks += (double)n;
  }
  const double loads = chunks * n_heads * keys;
  return {loads * rows * head_dim * 2.0, loads * head_dim * 2.0};
}

}  // namespace

void bench_hip_mask_prefill() {
  const int NH = 28, NKV = 4, D = 128, page = 64;
  const HipMaskConfig mc;
  std::printf(
      "-- HiP prefill mask (heads %d/%d, d=%d, page %d, default config: block_q %d, sink %d, window %d, "
      "256:32K/4, 32:8K/4, 8:2K/1)\n",
      NH, NKV, D, page, mc.block_q, mc.sink_tokens, mc.window_tokens);
  for (int n_keys : {131072, 1048576}) {
    const int pages = n_keys / page + 1;
    Dev<bf16> kp((size_t)pages * page * NKV * D);
    random_uniform(kp.p, (int64_t)kp.n, 7, 2.f, -1.f, 0);
    std::vector<int32_t> table(pages);
    std::iota(table.begin(), table.end(), 0);
    std::shuffle(table.begin(), table.end(), g_rng);
    Dev<int32_t> d_table(table);
    const PagedKv kv{kp.p, kp.p, d_table.p, pages, page, pages, NKV, D};
    for (int n_q : {4096, 32768}) {
      const int pos0 = n_keys - n_q, nqb = (n_q + mc.block_q - 1) / mc.block_q;
      Dev<bf16> q((size_t)n_q * NH * D);
      random_uniform(q.p, (int64_t)q.n, 11, 2.f, -1.f, 0);
      Dev<int32_t> blocks((size_t)nqb * mc.max_blocks()), counts(nqb);
      Dev<uint8_t> ws(hip_mask_prefill_workspace_bytes(mc, n_q, NH, n_keys - 1));
      const std::vector<double> ms = time_stages(
          [&](const cudaEvent_t* done) {
            hip_mask_prefill_timed(q.p, kv, n_q, NH, pos0, mc, blocks.p, counts.p, ws.p, ws.n, 0, done);
          },
          mc.n_stages, 7);
      const auto got = counts.download();
      const double mean_blocks = std::accumulate(got.begin(), got.end(), 0.0) / nqb;
      std::printf("hip_mask_prefill keys=%-8d n_q=%-6d total %8.2f ms (%.1f blocks/qblock) |", n_keys, n_q,
                  ms[mc.n_stages], mean_blocks);
      for (int s = 0; s < mc.n_stages; ++s) {
        const StageWork w = stage_work(mc, s, n_q, pos0, NH, D);
        std::printf(" stage %d %7.2f ms (%.2f TFLOP %5.1f TFLOP/s, %5.1f GB of keys %5.1f TB/s)", s, ms[s],
                    w.flop * 1e-12, w.flop * 1e-9 / ms[s], w.key_bytes * 1e-9, w.key_bytes * 1e-9 / ms[s]);
      }
      std::printf("\n");
    }
    Dev<bf16> q1((size_t)NH * D);
    random_uniform(q1.p, (int64_t)q1.n, 13, 2.f, -1.f, 0);
    Dev<int32_t> blocks(mc.max_blocks()), count(1);
    Dev<uint8_t> ws(hip_mask_decode_workspace_bytes(mc, n_keys - 1));
    const double us =
        time_us([&] { hip_mask_decode(q1.p, kv, NH, n_keys - 1, mc, blocks.p, count.p, ws.p, ws.n, 0); }, 9);
    std::printf("hip_mask_decode  keys=%-8d one query  %8.3f ms\n", n_keys, us * 1e-3);
  }
}
