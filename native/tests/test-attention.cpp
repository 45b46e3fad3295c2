// Paged attention against a naive double softmax: GQA, causal masking, sliding window, page boundaries, and
// K/V kept as bf16 or fp8 rows (the reference reads the values those rows hold).
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
  DType kv_dtype = DType::F32;
};

// `values` [rows, head_dim] as rows kept as `dtype` hold them.
std::vector<float> as_kept(const std::vector<float>& values, int64_t head_dim, DType dtype) {
  std::vector<float> kept(values.size());
  std::vector<uint8_t> row(kv_row_bytes(dtype, head_dim));
  for (size_t at = 0; at < values.size(); at += size_t(head_dim)) {
    encode_kv_row(values.data() + at, head_dim, dtype, row.data());
    decode_kv_row(row.data(), head_dim, dtype, kept.data() + at);
  }
  return kept;
}

void check_attention(const Case& c) {
  std::mt19937_64 rng(uint64_t(c.heads * 31 + c.head_dim * 7 + c.window));
  const int64_t total = c.cached + c.queries;
  const int64_t kv_width = c.kv_heads * c.head_dim;
  const int64_t q_width = c.heads * c.head_dim;
  const std::vector<float> written_keys =
      random_floats(rng, size_t(total * kv_width), 1.5f);  // [total, kv_width]
  const std::vector<float> written_values = random_floats(rng, size_t(total * kv_width), 1.0f);
  const std::vector<float> keys = as_kept(written_keys, c.head_dim, c.kv_dtype);
  const std::vector<float> values = as_kept(written_values, c.head_dim, c.kv_dtype);
  const std::vector<float> queries = random_floats(rng, size_t(c.queries * q_width), 1.5f);

  // Pages allocated out of order, so the page table matters.
  const int64_t page_count = (total + c.page_tokens - 1) / c.page_tokens;
  const size_t page_bytes = cpu::kv_page_bytes(2, c.kv_heads, c.page_tokens, c.head_dim, c.kv_dtype);
  std::vector<std::vector<uint8_t>> storage(size_t(page_count), std::vector<uint8_t>(page_bytes, 0xff));
  cpu::KvView view{{}, c.page_tokens, c.kv_heads, c.head_dim, 1, c.kv_dtype};  // layer 1 of 2
  for (int64_t p = page_count - 1; p >= 0; --p) view.pages.push_back(storage[size_t(p)].data());
  cpu::kv_write(view, 0, c.cached, written_keys.data(), written_values.data());
  cpu::kv_write(view, c.cached, c.queries, written_keys.data() + c.cached * kv_width,
                written_values.data() + c.cached * kv_width);
  std::vector<float> read_keys(keys.size()), read_values(values.size());
  cpu::kv_read(view, 0, total, read_keys.data(), read_values.data());
  CHECK(read_keys == keys && read_values == values);

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
TEST(attention_over_bf16_rows) {
  check_attention({4, 2, 8, 4, 9, 6, 0, DType::BF16});
}
TEST(attention_over_fp8_rows_with_scales) {
  check_attention({6, 3, 12, 4, 11, 7, 5, DType::FP8_E4M3});
  check_attention({8, 1, 16, 64, 130, 1, 0, DType::FP8_E4M3});
}
