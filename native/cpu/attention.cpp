// The CPU attention kernel: one task per (token, head) walks the pages in range with an online softmax.
#include "cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace hipcode::cpu {
namespace {

constexpr int64_t kItemsPerTask = 8;

float dot(const float* __restrict a, const float* __restrict b, int64_t size) {
  float acc[8] = {};
  const int64_t vector_end = size - size % 8;
  for (int64_t k = 0; k < vector_end; k += 8) {
    for (int64_t j = 0; j < 8; ++j) acc[j] += a[k + j] * b[k + j];
  }
  float sum = 0;
  for (float partial : acc) sum += partial;
  for (int64_t k = vector_end; k < size; ++k) sum += a[k] * b[k];
  return sum;
}

// Attention of one query row of one head; `scores` is scratch of page_tokens floats, `acc` of head_dim.
void attend_one(const KvView& kv, int64_t kv_head, const float* query, float scale, int64_t first_key,
                int64_t last_key, float* scores, float* acc, float* out) {
  const int64_t head_dim = kv.head_dim;
  float running_max = -std::numeric_limits<float>::infinity();
  float denominator = 0;
  std::fill(acc, acc + head_dim, 0.0f);
  for (int64_t page = first_key / kv.page_tokens; page <= last_key / kv.page_tokens; ++page) {
    const int64_t page_start = page * kv.page_tokens;
    const int64_t begin = std::max(first_key, page_start) - page_start;
    const int64_t end = std::min(last_key + 1, page_start + kv.page_tokens) - page_start;
    const float* keys = kv.keys(page, kv_head);
    const float* values = kv.values(page, kv_head);
    float page_max = running_max;
    for (int64_t i = begin; i < end; ++i) {
      scores[i] = dot(query, keys + i * head_dim, head_dim) * scale;
      page_max = std::max(page_max, scores[i]);
    }
    const float rescale = std::exp(running_max - page_max);
    denominator *= rescale;
    for (int64_t d = 0; d < head_dim; ++d) acc[d] *= rescale;
    for (int64_t i = begin; i < end; ++i) {
      const float weight = std::exp(scores[i] - page_max);
      denominator += weight;
      const float* value = values + i * head_dim;
      for (int64_t d = 0; d < head_dim; ++d) acc[d] += weight * value[d];
    }
    running_max = page_max;
  }
  for (int64_t d = 0; d < head_dim; ++d) out[d] = acc[d] / denominator;
}

// Calls visit(row, kv_head, key, value) with the cache's [head_dim] key and value slices of positions
// first_position + row, row < n.
template <typename Visit>
void for_each_kv_head(const KvView& kv, int64_t first_position, int64_t n, Visit visit) {
  for (int64_t row = 0; row < n; ++row) {
    const int64_t position = first_position + row;
    const int64_t page = position / kv.page_tokens;
    const int64_t slot = position % kv.page_tokens;
    for (int64_t h = 0; h < kv.num_kv_heads; ++h) {
      visit(row, h, kv.keys(page, h) + slot * kv.head_dim, kv.values(page, h) + slot * kv.head_dim);
    }
  }
}

}  // namespace

int64_t kv_page_floats(int64_t num_layers, int64_t num_kv_heads, int64_t page_tokens, int64_t head_dim) {
  return num_layers * 2 * num_kv_heads * page_tokens * head_dim;
}

void kv_write(const KvView& kv, int64_t first_position, int64_t n, const float* k, const float* v) {
  const int64_t row_floats = kv.num_kv_heads * kv.head_dim;
  const auto head_bytes = size_t(kv.head_dim) * sizeof(float);
  for_each_kv_head(kv, first_position, n, [&](int64_t row, int64_t h, float* key, float* value) {
    std::memcpy(key, k + row * row_floats + h * kv.head_dim, head_bytes);
    std::memcpy(value, v + row * row_floats + h * kv.head_dim, head_bytes);
  });
}

void kv_read(const KvView& kv, int64_t first_position, int64_t n, float* k, float* v) {
  const int64_t row_floats = kv.num_kv_heads * kv.head_dim;
  const auto head_bytes = size_t(kv.head_dim) * sizeof(float);
  for_each_kv_head(kv, first_position, n, [&](int64_t row, int64_t h, const float* key, const float* value) {
    std::memcpy(k + row * row_floats + h * kv.head_dim, key, head_bytes);
    std::memcpy(v + row * row_floats + h * kv.head_dim, value, head_bytes);
  });
}

void attention_forward(ThreadPool& pool, const KvView& kv, const AttentionShape& shape,
                       int64_t first_position, int64_t n, const float* q, float* out) {
  const int64_t heads = shape.num_heads;
  const int64_t group = shape.num_heads / shape.num_kv_heads;
  const int64_t head_dim = shape.head_dim;
  const float scale = 1.0f / std::sqrt(float(head_dim));
  const int64_t items = n * heads;
  const int64_t tasks = (items + kItemsPerTask - 1) / kItemsPerTask;
  pool.parallel_for(size_t(tasks), [&](size_t task) {
    thread_local std::vector<float> scratch;  // [page_tokens] scores, then [head_dim] accumulator
    scratch.resize(size_t(kv.page_tokens + head_dim));
    const int64_t first_item = int64_t(task) * kItemsPerTask;
    const int64_t last_item = std::min(items, first_item + kItemsPerTask);
    for (int64_t item = first_item; item < last_item; ++item) {
      const int64_t row = item / heads;
      const int64_t head = item % heads;
      const int64_t position = first_position + row;
      const int64_t first_key =
          shape.sliding_window > 0 ? std::max<int64_t>(0, position - shape.sliding_window + 1) : 0;
      const int64_t offset = row * heads * head_dim + head * head_dim;
      attend_one(kv, head / group, q + offset, scale, first_key, position, scratch.data(),
                 scratch.data() + kv.page_tokens, out + offset);
    }
  });
}

}  // namespace hipcode::cpu
