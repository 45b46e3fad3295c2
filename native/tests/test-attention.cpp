// Paged attention against a naive double softmax: GQA, causal masking, sliding window, page boundaries.
#include <limits>

#include "core/thread-pool.h"
#include "cpu/attention.h"
#include "tests/check.h"
#include "tests/helpers.h"

using namespace hipcode;
using namespace hipcode::test;

namespace {

struct Case {
  int64_t heads, kv_heads, head_dim, page_tokens, cached, queries, window;
};

void check_attention(const Case& c) {
  std::mt19937_64 rng(uint64_t(c.heads * 31 + c.head_dim * 7 + c.window));
  const int64_t total = c.cached + c.queries;
  const int64_t kv_width = c.kv_heads * c.head_dim;
  const int64_t q_width = c.heads * c.head_dim;
  const std::vector<float> keys = random_floats(rng, size_t(total * kv_width), 1.5f);    // [total, kv_width]
  const std::vector<float> values = random_floats(rng, size_t(total * kv_width), 1.0f);  // [total, kv_width]
  const std::vector<float> queries = random_floats(rng, size_t(c.queries * q_width), 1.5f);

  // Pages allocated out of order, so the page table matters.
  const int64_t page_count = (total + c.page_tokens - 1) / c.page_tokens;
  const int64_t page_floats = cpu::kv_page_floats(2, c.kv_heads, c.page_tokens, c.head_dim);
  std::vector<std::vector<float>> storage(size_t(page_count), std::vector<float>(size_t(page_floats), NAN));
  cpu::KvView view{{}, c.page_tokens, c.kv_heads, c.head_dim, 1};  // layer 1 of 2
  for (int64_t p = page_count - 1; p >= 0; --p) view.pages.push_back(storage[size_t(p)].data());
  cpu::kv_write(view, 0, c.cached, keys.data(), values.data());
  cpu::kv_write(view, c.cached, c.queries, keys.data() + c.cached * kv_width,
                values.data() + c.cached * kv_width);

  ThreadPool pool(2);
  std::vector<float> out(size_t(c.queries * q_width));
  const AttentionShape shape{c.heads, c.kv_heads, c.head_dim, c.window};
  cpu::attention_forward(pool, view, shape, c.cached, c.queries, queries.data(), out.data());

  const int64_t group = c.heads / c.kv_heads;
  double worst = 0;
  for (int64_t t = 0; t < c.queries; ++t) {
    const int64_t position = c.cached + t;
    for (int64_t h = 0; h < c.heads; ++h) {
      const int64_t kv_head = h / group;
      std::vector<double> scores;
      std::vector<int64_t> positions;
      for (int64_t key = 0; key <= position; ++key) {
        if (c.window > 0 && key <= position - c.window) continue;
        double score = 0;
        for (int64_t d = 0; d < c.head_dim; ++d) {
          score += double(queries[t * q_width + h * c.head_dim + d]) *
                   keys[key * kv_width + kv_head * c.head_dim + d];
        }
        scores.push_back(score / std::sqrt(double(c.head_dim)));
        positions.push_back(key);
      }
      const double max_score = *std::max_element(scores.begin(), scores.end());
      double total_weight = 0;
      for (double& s : scores) total_weight += (s = std::exp(s - max_score));
      for (int64_t d = 0; d < c.head_dim; ++d) {
        double expected = 0;
        for (size_t i = 0; i < scores.size(); ++i) {
          expected += scores[i] / total_weight * values[positions[i] * kv_width + kv_head * c.head_dim + d];
        }
        worst = std::max(worst, std::fabs(expected - double(out[t * q_width + h * c.head_dim + d])));
      }
    }
  }
  CHECK_NEAR(worst, 0.0, 2e-5);
}

}  // namespace

TEST(attention_causal_gqa_across_pages) {
  check_attention({4, 2, 8, 4, 9, 6, 0});
}
TEST(attention_sliding_window) {
  check_attention({6, 3, 12, 4, 11, 7, 5});
}
TEST(attention_multi_head_odd_sizes) {
  check_attention({3, 3, 6, 5, 0, 13, 0});
}
TEST(attention_decode_single_query) {
  check_attention({8, 1, 16, 64, 130, 1, 0});
}
TEST(attention_window_of_one) {
  check_attention({2, 1, 4, 3, 5, 4, 1});
}
