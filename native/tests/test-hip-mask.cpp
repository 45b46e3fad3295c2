// HiP mask estimation on hand-made inputs whose answer is known: bisection and its tie rule, a strongly
// matching key block is selected, sink / window / future keys are never candidates, max over heads and
// query rows, lowest-position tie rule, input validation.
#include <algorithm>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "hip/mask-estimation.h"
#include "tests/check.h"

using namespace hipcode;
using namespace hipcode::hip;

namespace {

// A small config: sink 4, window 8, chunks of 16 keeping 32 tokens, then blocks of 4 keeping 8 tokens.
HipConfig small_config() {
  HipConfig config;
  config.block_q = 4;
  config.sink_tokens = 4;
  config.window_tokens = 8;
  config.stages = {{16, 32, 1}, {4, 8, 1}};
  config.bf16_scoring = false;
  return config;
}

// Keys/queries storage with views.
struct Inputs {
  int64_t n_heads, n_kv_heads, head_dim, n_tokens, n_queries, first_position;
  std::vector<float> keys;     // [n_tokens, n_kv_heads, head_dim]
  std::vector<float> queries;  // [n_queries, n_heads, head_dim]

  Inputs(int64_t heads, int64_t kv_heads, int64_t dim, int64_t tokens, int64_t n_q, int64_t first)
      : n_heads(heads),
        n_kv_heads(kv_heads),
        head_dim(dim),
        n_tokens(tokens),
        n_queries(n_q),
        first_position(first),
        keys(size_t(tokens * kv_heads * dim), 0.0f),
        queries(size_t(n_q * heads * dim), 0.0f) {}
  float* key(int64_t position, int64_t kv_head) {
    return &keys[size_t((position * n_kv_heads + kv_head) * head_dim)];
  }
  float* query(int64_t row, int64_t head) { return &queries[size_t((row * n_heads + head) * head_dim)]; }
  HipQueries q_view() const { return {queries.data(), n_queries, n_heads, head_dim, first_position}; }
  HipKv kv_view() const { return {keys.data(), nullptr, n_tokens, n_kv_heads, head_dim}; }
};

// One kv head of `dim` 1 whose key at p is `score(p)`; a single query row 1.
Inputs scalar_keys(int64_t tokens, float (*score)(int64_t)) {
  Inputs inputs(1, 1, 1, tokens, 1, tokens - 1);
  for (int64_t p = 0; p < tokens; ++p) *inputs.key(p, 0) = score(p);
  *inputs.query(0, 0) = 1.0f;
  return inputs;
}

}  // namespace

TEST(hip_bisection_follows_the_higher_half_and_keeps_the_running_max) {
  const float one = 1.0f;
  {
    // Decreasing scores: the left half wins every time; the best winner is the key at 0.
    const Inputs inputs = scalar_keys(16, [](int64_t p) { return -float(p); });
    const ChunkScan scan = scan_chunk(false, &one, 1, inputs.kv_view(), 0, 0, 16);
    CHECK(scan.representative == 0);
    CHECK(scan.score == 0.0f);
  }
  {
    // A peak at 9 inside [0, 16): probes 4|12 (12 wins), 10|14 (10), 9|11 (9), 8|9 (9): ends at 9.
    const Inputs inputs = scalar_keys(16, [](int64_t p) { return -float(std::abs(p - 9)); });
    const ChunkScan scan = scan_chunk(false, &one, 1, inputs.kv_view(), 0, 0, 16);
    CHECK(scan.representative == 9);
    CHECK(scan.score == 0.0f);
  }
  {
    // The running max keeps an early winner's score although the final key scores lower: probes 4|12 (12
    // wins with 5), 10|14 (14 with 1), 13|15 (tie: right), 14|15 (14 with 1): ends at 14, score 5.
    const Inputs inputs = scalar_keys(16, [](int64_t p) { return p == 12 ? 5.0f : (p == 14 ? 1.0f : 0.0f); });
    const ChunkScan scan = scan_chunk(false, &one, 1, inputs.kv_view(), 0, 0, 16);
    CHECK(scan.representative == 14);
    CHECK(scan.score == 5.0f);
  }
  {
    // Ties go to the right half; a one-key chunk scores its key; odd lengths work.
    const Inputs inputs = scalar_keys(21, [](int64_t) { return 2.0f; });
    CHECK(scan_chunk(false, &one, 1, inputs.kv_view(), 0, 3, 16).representative == 15);
    CHECK(scan_chunk(false, &one, 1, inputs.kv_view(), 0, 5, 6).representative == 5);
    CHECK(scan_chunk(false, &one, 1, inputs.kv_view(), 0, 5, 6).score == 2.0f);
    CHECK(scan_chunk(false, &one, 1, inputs.kv_view(), 0, 0, 21).representative == 20);
  }
}

TEST(hip_scoring_rows_average_query_groups) {
  Inputs inputs(2, 1, 2, 16, 7, 9);
  for (int64_t r = 0; r < 7; ++r) {
    inputs.query(r, 1)[0] = float(r);
    inputs.query(r, 1)[1] = 1.0f / 3.0f;
  }
  HipConfig config = small_config();
  const std::vector<float> rows = scoring_rows(config, inputs.q_view(), 1, 6, 1, 4);  // rows 1..4, 5..6
  CHECK(rows.size() == 4);
  CHECK(rows[0] == 2.5f);
  CHECK(rows[2] == 5.5f);
  CHECK_NEAR(rows[1], 1.0 / 3.0, 1e-7);
  config.bf16_scoring = true;
  const std::vector<float> rounded = scoring_rows(config, inputs.q_view(), 1, 6, 1, 4);
  CHECK(rounded[1] == 0.333984375f);  // 1/3 rounded to bf16
  // Scores of key (1, 1): 2.833984375 and 5.833984375, rounded to bf16: 2.828125 and 5.84375.
  const float key[2] = {1.0f, 1.0f};
  CHECK(key_score(true, rounded.data(), 2, key, 2) == 5.84375f);
  CHECK(key_score(false, rounded.data(), 2, key, 2) == 5.833984375f);
}

TEST(hip_mask_selects_the_strongly_matching_block) {
  // Zero keys except [100, 108) = 10 e0; queries e0 at positions 196..199: candidates [4, 192).
  Inputs inputs(2, 1, 4, 200, 4, 196);
  for (int64_t p = 100; p < 108; ++p) inputs.key(p, 0)[0] = 10.0f;
  for (int64_t r = 0; r < 4; ++r) inputs.query(r, 1)[0] = 1.0f;
  const HipMask mask = estimate_hip_mask(small_config(), inputs.q_view(), inputs.kv_view());
  CHECK(mask.block_q == 4 && mask.block_k == 4);
  CHECK(mask.blocks.size() == 1);
  CHECK((mask.blocks[0] == std::vector<int64_t>{100, 104}));
}

TEST(hip_mask_ties_keep_the_lowest_positions) {
  // Equal keys: every score ties, so every stage keeps its lowest chunks: stage 0 keeps chunks at 4 and 20,
  // stage 1 the blocks at 4 and 8.
  Inputs inputs(2, 2, 3, 300, 9, 291);
  for (float& k : inputs.keys) k = 0.5f;
  for (float& q : inputs.queries) q = 1.0f;
  const HipMask mask = estimate_hip_mask(small_config(), inputs.q_view(), inputs.kv_view());
  CHECK(mask.blocks.size() == 3);
  for (const auto& blocks : mask.blocks) CHECK((blocks == std::vector<int64_t>{4, 8}));
  // Same inputs, same answer.
  const HipMask again = estimate_hip_mask(small_config(), inputs.q_view(), inputs.kv_view());
  CHECK(again.blocks == mask.blocks);
}

TEST(hip_mask_never_selects_sink_window_or_future_keys) {
  // Query blocks at 100..103 and 104..107 of a 200-key cache. Strong keys in the sink, in block 0's window
  // (92..99 for its last query 103 -> candidates [4, 96)), and in the future (150); the rest is zero.
  HipConfig config = small_config();
  Inputs inputs(1, 1, 2, 200, 8, 100);
  for (int64_t p : {0, 1, 2, 3, 96, 97, 98, 99, 150, 151, 152}) inputs.key(p, 0)[0] = 50.0f;
  for (int64_t p = 60; p < 64; ++p) inputs.key(p, 0)[0] = 5.0f;
  for (int64_t r = 0; r < 8; ++r) inputs.query(r, 0)[0] = 1.0f;
  const HipMask mask = estimate_hip_mask(config, inputs.q_view(), inputs.kv_view());
  CHECK(mask.blocks.size() == 2);
  // Block 0 (candidates [4, 96)): the weak match at 60 plus the lowest tie. Block 1 (last query 107, window
  // 100..107, candidates [4, 100)): 96..99 are candidates now, and win.
  CHECK((mask.blocks[0] == std::vector<int64_t>{4, 60}));
  CHECK((mask.blocks[1] == std::vector<int64_t>{60, 96}));
  for (size_t b = 0; b < mask.blocks.size(); ++b) {
    const KeyRange candidates = candidate_range(config, 100 + 4 * int64_t(b) + 3);
    for (int64_t start : mask.blocks[b]) {
      CHECK(start >= candidates.begin && start < candidates.end);
      CHECK((start - config.sink_tokens) % config.block_k() == 0);
    }
  }
}

TEST(hip_mask_reduces_over_heads_and_query_rows) {
  // 4 query heads on 2 kv heads with random small keys; kv head 1 holds a strong block at [60, 64) that only
  // query row 2 of head 3 matches (one (row, head) out of 16); the rest is noise. [52, 68) scores 12, its
  // block [60, 64) scores 18.
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<float> noise(-0.1f, 0.1f);
  Inputs inputs(4, 2, 8, 128, 4, 124);
  for (float& k : inputs.keys) k = noise(rng);
  for (int64_t p = 52; p < 68; ++p) inputs.key(p, 1)[3] = p >= 60 && p < 64 ? 6.0f : 4.0f;
  for (int64_t r = 0; r < 4; ++r) {
    for (int64_t h = 0; h < 4; ++h) {
      for (int64_t d = 0; d < 8; ++d) inputs.query(r, h)[d] = noise(rng);
    }
  }
  inputs.query(2, 3)[3] = 3.0f;
  HipConfig config = small_config();
  config.stages = {{16, 16, 1}, {4, 4, 1}};  // keep one chunk, then one block
  const HipMask mask = estimate_hip_mask(config, inputs.q_view(), inputs.kv_view());
  CHECK((mask.blocks[0] == std::vector<int64_t>{60}));
}

TEST(hip_mask_short_contexts_keep_every_candidate) {
  // Candidates [4, 40): 3 chunks of 16 (the last clipped to [36, 40)) and 9 blocks of 4, fewer than the
  // stages keep: everything survives unscored.
  HipConfig config = small_config();
  config.stages = {{16, 64, 1}, {4, 64, 1}};
  Inputs inputs(1, 1, 2, 48, 1, 47);
  const HipMask mask = estimate_hip_mask(config, inputs.q_view(), inputs.kv_view());
  CHECK((mask.blocks[0] == std::vector<int64_t>{4, 8, 12, 16, 20, 24, 28, 32, 36}));
  // No candidates at all: sink and window cover the past.
  Inputs tiny(1, 1, 2, 12, 1, 11);
  CHECK(estimate_hip_mask(config, tiny.q_view(), tiny.kv_view()).blocks[0].empty());
}

TEST(hip_mask_rejects_bad_inputs) {
  const HipConfig config = small_config();
  Inputs inputs(3, 2, 4, 16, 2, 14);
  CHECK_THROWS_CODE(estimate_hip_mask(config, inputs.q_view(), inputs.kv_view()),
                    ErrorCode::INVALID_ARGUMENT);
  Inputs late(2, 2, 4, 16, 2, 15);  // the last query (16) has no key
  CHECK_THROWS_CODE(estimate_hip_mask(config, late.q_view(), late.kv_view()), ErrorCode::INVALID_ARGUMENT);
  Inputs ok(2, 2, 4, 16, 2, 14);
  HipKv kv = ok.kv_view();
  kv.head_dim = 5;
  CHECK_THROWS_CODE(estimate_hip_mask(config, ok.q_view(), kv), ErrorCode::INVALID_ARGUMENT);
  HipConfig bad = config;
  bad.block_q = 0;
  CHECK_THROWS_CODE(estimate_hip_mask(bad, ok.q_view(), ok.kv_view()), ErrorCode::INVALID_ARGUMENT);
}
