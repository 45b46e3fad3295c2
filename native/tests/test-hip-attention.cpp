// HiP block-sparse attention: equals a naive double softmax over the same key set (awkward sizes, GQA,
// partial query blocks, blocks overlapping sink / window / future), mask validation, and end-to-end
// fidelity against full dense attention on random-walk keys with planted needles.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <vector>

#include "core/error.h"
#include "core/thread-pool.h"
#include "hip/block-sparse-attention.h"
#include "hip/mask-estimation.h"
#include "tests/check.h"
#include "tests/helpers.h"

using namespace hipcode;
using namespace hipcode::hip;
using namespace hipcode::test;

namespace {

// attended(key, position): whether the query at `position` reads `key`.
using KeyFilter = std::function<bool(int64_t, int64_t)>;

// Naive double-precision attention restricted to keys <= the query's position that `attended` accepts:
// out [n_queries, n_heads, head_dim].
std::vector<double> dense_attention_restricted(const HipQueries& q, const HipKv& kv,
                                               const KeyFilter& attended) {
  const int64_t group = q.n_heads / kv.n_kv_heads;
  const double scale = 1.0 / std::sqrt(double(q.head_dim));
  std::vector<double> out(size_t(q.n_queries * q.n_heads * q.head_dim), 0.0);
  std::vector<double> scores;
  for (int64_t r = 0; r < q.n_queries; ++r) {
    const int64_t position = q.first_position + r;
    for (int64_t h = 0; h < q.n_heads; ++h) {
      const float* query = q.row(r, h);
      scores.assign(size_t(position + 1), -INFINITY);
      double max_score = -INFINITY;
      for (int64_t k = 0; k <= position; ++k) {
        if (!attended(k, position)) continue;
        double score = 0;
        for (int64_t d = 0; d < q.head_dim; ++d) score += double(query[d]) * kv.key(k, h / group)[d];
        scores[size_t(k)] = score * scale;
        max_score = std::max(max_score, scores[size_t(k)]);
      }
      double total = 0;
      double* row_out = &out[size_t((r * q.n_heads + h) * q.head_dim)];
      for (int64_t k = 0; k <= position; ++k) {
        if (scores[size_t(k)] == -INFINITY) continue;
        const double weight = std::exp(scores[size_t(k)] - max_score);
        total += weight;
        for (int64_t d = 0; d < q.head_dim; ++d) row_out[d] += weight * kv.value(k, h / group)[d];
      }
      for (int64_t d = 0; d < q.head_dim; ++d) row_out[d] /= total;
    }
  }
  return out;
}

// The HiP key set, written independently of attended_ranges: sink, window, or a selected block.
KeyFilter hip_filter(const HipConfig& config, const HipMask& mask, int64_t first_position) {
  return [&config, &mask, first_position](int64_t key, int64_t position) {
    if (key < config.sink_tokens || key > position - config.window_tokens) return true;
    const auto& blocks = mask.blocks[size_t((position - first_position) / config.block_q)];
    for (int64_t start : blocks) {
      if (key >= start && key < start + config.block_k()) return true;
    }
    return false;
  };
}

double max_abs_difference(const std::vector<float>& a, const std::vector<double>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(double(a[i]) - b[i]));
  return worst;
}

struct BsaCase {
  int64_t heads, kv_heads, head_dim, n_tokens, n_queries;
};

HipConfig bsa_config() {
  HipConfig config;
  config.block_q = 16;
  config.sink_tokens = 5;
  config.window_tokens = 19;
  config.stages = {{12, 48, 4}, {3, 18, 1}};
  return config;
}

// BSA with the estimated mask and with `extra` hand-made masks against the naive restricted softmax.
void check_bsa(const BsaCase& c, const HipConfig& config, const std::vector<HipMask>& extra) {
  std::mt19937_64 rng(uint64_t(c.n_tokens * 131 + c.heads));
  const std::vector<float> keys = random_floats(rng, size_t(c.n_tokens * c.kv_heads * c.head_dim), 1.5f);
  const std::vector<float> values = random_floats(rng, size_t(c.n_tokens * c.kv_heads * c.head_dim), 1.0f);
  const std::vector<float> queries = random_floats(rng, size_t(c.n_queries * c.heads * c.head_dim), 1.5f);
  const HipQueries q{queries.data(), c.n_queries, c.heads, c.head_dim, c.n_tokens - c.n_queries};
  const HipKv kv{keys.data(), values.data(), c.n_tokens, c.kv_heads, c.head_dim};
  std::vector<HipMask> masks = extra;
  masks.push_back(estimate_hip_mask(config, q, kv));
  for (const HipMask& mask : masks) {
    std::vector<float> out(size_t(c.n_queries * c.heads * c.head_dim));
    block_sparse_attention(config, mask, q, kv, out.data());
    const std::vector<double> expected =
        dense_attention_restricted(q, kv, hip_filter(config, mask, q.first_position));
    CHECK_NEAR(max_abs_difference(out, expected), 0.0, 1e-5);
  }
}

}  // namespace

TEST(hip_bsa_equals_restricted_softmax_gqa_awkward_sizes) {
  // 203 keys, 37 queries (3 query blocks, the last partial), GQA 4:1, head_dim 12.
  const HipConfig config = bsa_config();
  HipMask handmade{16, 3, {{0, 3, 8, 60, 120, 175}, {5, 50, 170, 183, 186, 200}, {2, 5, 197}}};
  check_bsa({8, 2, 12, 203, 37}, config, {handmade});
  // Decode: one query, MHA, head_dim 7.
  check_bsa({3, 3, 7, 150, 1}, config, {HipMask{16, 3, {{5, 11, 131, 140, 149}}}});
}

TEST(hip_bsa_is_dense_attention_when_everything_is_covered) {
  // Window longer than the context: every query attends all its past, whatever the mask.
  HipConfig config = bsa_config();
  config.window_tokens = 4096;
  check_bsa({4, 1, 16, 70, 20}, config, {HipMask{16, 3, {{8, 20}, {}}}});
}

TEST(hip_bsa_rejects_bad_masks) {
  const HipConfig config = bsa_config();
  std::vector<float> keys(40 * 8, 0.5f);
  std::vector<float> queries(20 * 8, 0.5f);
  std::vector<float> out(20 * 8);
  const HipQueries q{queries.data(), 20, 2, 4, 20};
  const HipKv kv{keys.data(), keys.data(), 40, 2, 4};
  block_sparse_attention(config, HipMask{16, 3, {{5}, {}}}, q, kv, out.data());
  const HipMask bad_masks[] = {
      {16, 3, {{5}}},         // one list for two query blocks
      {16, 3, {{5, 7}, {}}},  // overlapping blocks
      {16, 3, {{8, 5}, {}}},  // descending
      {16, 3, {{-3}, {}}},    // negative
      {8, 3, {{5}, {}, {}}},  // block_q
      {16, 4, {{5}, {}}},     // block_k
  };
  for (const HipMask& mask : bad_masks)
    CHECK_THROWS_CODE(block_sparse_attention(config, mask, q, kv, out.data()), ErrorCode::INVALID_ARGUMENT);
  const HipKv no_values{keys.data(), nullptr, 40, 2, 4};
  CHECK_THROWS_CODE(block_sparse_attention(config, HipMask{16, 3, {{5}, {}}}, q, no_values, out.data()),
                    ErrorCode::INVALID_ARGUMENT);
}

namespace {

// Fidelity inputs: keys [n_tokens, kv_heads, head_dim] are per-head random walks (neighbours correlated, as
// attention locality assumes) with planted needles: a triangular bump of half-width kNeedleHalfWidth along a
// random unit direction u, peak a * sqrt(d) * u. Every 4-row group of a query block is aligned (+ sqrt(d) *
// u) with one of its block's needles in the heads of that needle's KV group, so its peak logit is a * sqrt(d)
// = 12 against a background of about N(0, 1); the other heads see noise queries only.
constexpr int64_t kNeedleHalfWidth = 32;
constexpr int64_t kNeedlesPerBlock = 4;

struct Needle {
  int64_t centre;
  int64_t kv_head;
  int64_t query_block;
};

struct Haystack {
  int64_t heads = 4, kv_heads = 2, head_dim = 64, n_tokens, n_queries;
  std::vector<float> keys, values, queries;
  std::vector<Needle> needles;
  std::vector<char> aligned;  // [n_queries * heads]: the row of that head is aligned with a needle

  HipQueries q() const { return {queries.data(), n_queries, heads, head_dim, n_tokens - n_queries}; }
  HipKv kv() const { return {keys.data(), values.data(), n_tokens, kv_heads, head_dim}; }
};

std::vector<float> unit_vector(std::mt19937_64& rng, int64_t size) {
  std::normal_distribution<float> normal;
  std::vector<float> u(static_cast<size_t>(size));
  double norm = 0;
  for (float& x : u) {
    x = normal(rng);
    norm += double(x) * x;
  }
  for (float& x : u) x = float(x / std::sqrt(norm));
  return u;
}

// Needle centres for every query block: random, at least 4 half-widths apart, inside block 0's candidates.
std::vector<int64_t> needle_centres(std::mt19937_64& rng, int64_t count, int64_t begin, int64_t end) {
  std::uniform_int_distribution<int64_t> depth(begin + kNeedleHalfWidth, end - kNeedleHalfWidth - 1);
  std::vector<int64_t> centres;
  while (int64_t(centres.size()) < count) {
    const int64_t c = depth(rng);
    bool clear = true;
    for (int64_t other : centres) clear = clear && std::abs(c - other) >= 4 * kNeedleHalfWidth;
    if (clear) centres.push_back(c);
  }
  return centres;
}

Haystack make_haystack(const HipConfig& config, int64_t n_tokens, int64_t n_queries, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal;
  Haystack h;
  h.n_tokens = n_tokens;
  h.n_queries = n_queries;
  const int64_t d = h.head_dim;
  const float rho = 0.95f;
  h.keys.resize(size_t(n_tokens * h.kv_heads * d));
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t i = 0; i < h.kv_heads * d; ++i) {
      const float previous = t > 0 ? h.keys[size_t((t - 1) * h.kv_heads * d + i)] : normal(rng);
      h.keys[size_t(t * h.kv_heads * d + i)] = rho * previous + std::sqrt(1 - rho * rho) * normal(rng);
    }
  }
  h.values.resize(h.keys.size());
  for (float& v : h.values) v = normal(rng);
  h.queries.resize(size_t(n_queries * h.heads * d));
  for (float& x : h.queries) x = 0.3f * normal(rng);
  h.aligned.assign(size_t(n_queries * h.heads), 0);

  const int64_t n_blocks = (n_queries + config.block_q - 1) / config.block_q;
  const KeyRange candidates =
      candidate_range(config, n_tokens - n_queries + std::min(config.block_q, n_queries) - 1);
  const std::vector<int64_t> centres =
      needle_centres(rng, n_blocks * kNeedlesPerBlock, candidates.begin, candidates.end);
  const float sqrt_d = std::sqrt(float(d));
  const int64_t group = h.heads / h.kv_heads;
  for (size_t n = 0; n < centres.size(); ++n) {
    const Needle needle{centres[n], int64_t(n) % h.kv_heads, int64_t(n) / kNeedlesPerBlock};
    h.needles.push_back(needle);
    const std::vector<float> u = unit_vector(rng, d);
    for (int64_t i = -kNeedleHalfWidth + 1; i < kNeedleHalfWidth; ++i) {
      const float weight = 1.5f * sqrt_d * (1.0f - float(std::abs(i)) / float(kNeedleHalfWidth));
      float* key = &h.keys[size_t(((needle.centre + i) * h.kv_heads + needle.kv_head) * d)];
      for (int64_t j = 0; j < d; ++j) key[j] += weight * u[size_t(j)];
    }
    // Row groups g of the block with g % kNeedlesPerBlock == n % kNeedlesPerBlock.
    for (int64_t row = needle.query_block * config.block_q;
         row < std::min(n_queries, (needle.query_block + 1) * config.block_q); ++row) {
      if ((row % config.block_q / 4) % kNeedlesPerBlock != int64_t(n) % kNeedlesPerBlock) continue;
      for (int64_t head = needle.kv_head * group; head < (needle.kv_head + 1) * group; ++head) {
        float* query = &h.queries[size_t((row * h.heads + head) * d)];
        for (int64_t j = 0; j < d; ++j) query[j] += sqrt_d * u[size_t(j)];
        h.aligned[size_t(row * h.heads + head)] = 1;
      }
    }
  }
  return h;
}

// Sums over (query, head) rows of one kind (aligned or not).
struct FidelityTotals {
  double error_sq = 0, dense_sq = 0, mass_outside = 0, recall = 0;
  int64_t rows = 0;

  void add(const FidelityTotals& other) {
    error_sq += other.error_sq;
    dense_sq += other.dense_sq;
    mass_outside += other.mass_outside;
    recall += other.recall;
    rows += other.rows;
  }
  double error() const { return std::sqrt(error_sq / dense_sq); }
  double mean_mass_outside() const { return mass_outside / double(rows); }
  double mean_recall() const { return recall / double(rows); }
};

// One fidelity run: needles selected, and per kind of row (0 noise only, 1 aligned with a needle) the output
// error, dense softmax mass outside the HiP key set and top-k recall against full dense attention.
struct FidelityReport {
  int64_t found = 0, needles = 0;
  FidelityTotals totals[2];
  double worst_error_over_bound = 0;  // max over rows of ||bsa - dense|| / (2 * mass outside * max ||v||)
  double mask_ms = 0, bsa_ms = 0;
};

double elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since).count();
}

// in_set[k] for k <= position: whether the query at `position` reads key k.
std::vector<char> attended_keys(const HipConfig& config, const std::vector<int64_t>& blocks,
                                int64_t position) {
  std::vector<char> in_set(static_cast<size_t>(position + 1), 0);
  for (const KeyRange& range : attended_ranges(config, blocks, position))
    std::fill(in_set.begin() + range.begin, in_set.begin() + range.end, 1);
  return in_set;
}

// Dense attention of one (query row, head) against the HiP output `bsa` [head_dim]: its contribution to the
// totals of its kind, and its error relative to the bound BSA must meet (BSA is dense attention renormalised
// over the HiP set: ||bsa - dense|| <= 2 * mass outside * max ||v||).
double add_dense_row(const Haystack& h, const float* query, int64_t kv_head, const std::vector<char>& in_set,
                     const float* bsa, int64_t top_k, double max_value_norm, FidelityTotals& sums) {
  const HipKv kv = h.kv();
  const auto n_keys = int64_t(in_set.size());
  std::vector<double> scores(static_cast<size_t>(n_keys)), dense(static_cast<size_t>(h.head_dim), 0.0);
  double max_score = -INFINITY;
  for (int64_t k = 0; k < n_keys; ++k) {
    double s = 0;
    const float* key = kv.key(k, kv_head);
    for (int64_t j = 0; j < h.head_dim; ++j) s += double(query[j]) * key[j];
    max_score = std::max(max_score, scores[size_t(k)] = s / std::sqrt(double(h.head_dim)));
  }
  double total = 0, outside = 0;
  for (int64_t k = 0; k < n_keys; ++k) {
    const double w = std::exp(scores[size_t(k)] - max_score);
    total += w;
    if (!in_set[size_t(k)]) outside += w;
    const float* value = kv.value(k, kv_head);
    for (int64_t j = 0; j < h.head_dim; ++j) dense[size_t(j)] += w * value[j];
  }
  std::vector<double> ranked = scores;
  const int64_t k_top = std::min(top_k, n_keys);
  std::nth_element(ranked.begin(), ranked.begin() + (k_top - 1), ranked.end(), std::greater<double>());
  const double threshold = ranked[size_t(k_top - 1)];
  int64_t hits = 0;
  for (int64_t k = 0; k < n_keys; ++k) hits += scores[size_t(k)] >= threshold && in_set[size_t(k)];
  double error_sq = 0, dense_sq = 0;
  for (int64_t j = 0; j < h.head_dim; ++j) {
    const double expected = dense[size_t(j)] / total;
    error_sq += (double(bsa[j]) - expected) * (double(bsa[j]) - expected);
    dense_sq += expected * expected;
  }
  sums.error_sq += error_sq;
  sums.dense_sq += dense_sq;
  sums.mass_outside += outside / total;
  sums.recall += double(hits) / double(k_top);
  sums.rows += 1;
  return std::sqrt(error_sq) / (2 * outside / total * max_value_norm + 1e-4);
}

FidelityReport measure_fidelity(const HipConfig& config, int64_t n_tokens, int64_t n_queries, int64_t top_k,
                                uint64_t seed) {
  const Haystack h = make_haystack(config, n_tokens, n_queries, seed);
  const HipQueries q = h.q();
  const HipKv kv = h.kv();
  FidelityReport report;
  auto start = std::chrono::steady_clock::now();
  const HipMask mask = estimate_hip_mask(config, q, kv);
  report.mask_ms = elapsed_ms(start);
  start = std::chrono::steady_clock::now();
  std::vector<float> out(size_t(n_queries * h.heads * h.head_dim));
  block_sparse_attention(config, mask, q, kv, out.data());
  report.bsa_ms = elapsed_ms(start);

  report.needles = int64_t(h.needles.size());
  for (const Needle& needle : h.needles) {
    const int64_t block =
        config.sink_tokens + (needle.centre - config.sink_tokens) / config.block_k() * config.block_k();
    const auto& blocks = mask.blocks[size_t(needle.query_block)];
    report.found += std::binary_search(blocks.begin(), blocks.end(), block) ? 1 : 0;
  }

  double max_value_norm = 0;
  for (int64_t t = 0; t < n_tokens * h.kv_heads; ++t) {
    double norm = 0;
    for (int64_t j = 0; j < h.head_dim; ++j)
      norm += double(h.values[size_t(t * h.head_dim + j)]) * h.values[size_t(t * h.head_dim + j)];
    max_value_norm = std::max(max_value_norm, std::sqrt(norm));
  }
  // Rows run in parallel, each into its own sums.
  std::vector<FidelityReport> rows(static_cast<size_t>(n_queries));
  ThreadPool pool(0);
  pool.parallel_for(size_t(n_queries), [&](size_t r) {
    const int64_t position = q.first_position + int64_t(r);
    const std::vector<char> in_set = attended_keys(config, mask.blocks[r / size_t(config.block_q)], position);
    for (int64_t head = 0; head < h.heads; ++head) {
      const bool aligned = h.aligned[r * size_t(h.heads) + size_t(head)] != 0;
      const float* bsa = out.data() + (int64_t(r) * h.heads + head) * h.head_dim;
      const double ratio = add_dense_row(h, q.row(int64_t(r), head), head / (h.heads / h.kv_heads), in_set,
                                         bsa, top_k, max_value_norm, rows[r].totals[aligned ? 1 : 0]);
      rows[r].worst_error_over_bound = std::max(rows[r].worst_error_over_bound, ratio);
    }
  });
  for (const FidelityReport& row : rows) {
    for (int kind = 0; kind < 2; ++kind) report.totals[kind].add(row.totals[kind]);
    report.worst_error_over_bound = std::max(report.worst_error_over_bound, row.worst_error_over_bound);
  }
  const FidelityTotals& hit = report.totals[1];
  const FidelityTotals& rest = report.totals[0];
  std::printf(
      "  hip fidelity: %lld keys, %lld queries: needles %lld/%lld; top-%lld recall %.1f%% aligned (%lld "
      "rows), "
      "%.1f%% others; rel L2 error %.4f aligned, %.3f others; dense mass outside %.4f aligned, %.3f others; "
      "mask %.1f ms, bsa %.1f ms\n",
      (long long)n_tokens, (long long)n_queries, (long long)report.found, (long long)report.needles,
      (long long)top_k, 100 * hit.mean_recall(), (long long)hit.rows, 100 * rest.mean_recall(), hit.error(),
      rest.error(), hit.mean_mass_outside(), rest.mean_mass_outside(), report.mask_ms, report.bsa_ms);
  return report;
}

// The scaled-down InfiniteHiP config: sink 64, window 256, 64 -> 2048, 16 -> 512, 4 -> 128.
void check_scaled_fidelity(int64_t n_tokens, int64_t n_queries, uint64_t seed) {
  HipConfig config;
  config.sink_tokens = 64;
  config.window_tokens = 256;
  config.stages = {{64, 2048, 4}, {16, 512, 4}, {4, 128, 1}};
  const FidelityReport report = measure_fidelity(config, n_tokens, n_queries, 32, seed);
  CHECK(report.found == report.needles);
  CHECK(report.worst_error_over_bound <= 1.0);
  // Aligned rows: the needle bump holds a fixed softmax mass while the diffuse background (logits about
  // N(0, 1) on every key) grows with the context, and the sparse set keeps the bump but drops most of the
  // background, so the output error is about the dropped mass and both grow about linearly with n_tokens
  // (measured: mass 0.019 / 0.076, error 0.025 / 0.124 at 8K / 32K). Bounds: ~1.6x that. Noise-only rows
  // attend diffusely and no sparse set of ~450 keys can approximate them; they are reported only.
  const double scale = double(n_tokens) / 32768.0;
  CHECK(report.totals[1].mean_mass_outside() <= 0.12 * scale);
  CHECK(report.totals[1].error() <= 0.2 * scale);
}

}  // namespace

TEST(hip_fidelity_needles_8k_keys_one_query_block) {
  check_scaled_fidelity(8192, 64, 11);
}

TEST(hip_fidelity_needles_32k_keys_two_query_blocks) {
  check_scaled_fidelity(32768, 128, 12);
}

// The default InfiniteHiP config (sink 256, window 1024, 256 -> 32K, 32 -> 8K, 8 -> 2K) on one query block at
// 32K, 128K and 512K keys: every needle selected, every row within the renormalisation bound; top-2048
// recall, output error and dense mass outside the HiP set reported per length. The aligned rows' error grows
// with the diffuse background (measured 0.038 / 0.122 / 1.41: at 512K the N(0, 1) logits of half a million
// keys hold most of the dense mass, which no ~3.3K-key set keeps; trained models' attention is far less
// diffuse); the bounds at 32K and 128K are ~1.6x the measured errors.
TEST(hip_fidelity_default_config_32k_128k_512k_keys) {
  const struct {
    int64_t n_tokens;
    double max_aligned_error;
  } lengths[] = {{32768, 0.06}, {131072, 0.2}, {524288, INFINITY}};
  for (const auto& length : lengths) {
    const FidelityReport report = measure_fidelity(HipConfig{}, length.n_tokens, 64, 2048, 13);
    CHECK(report.found == report.needles);
    CHECK(report.worst_error_over_bound <= 1.0);
    CHECK(report.totals[1].error() <= length.max_aligned_error);
  }
}
