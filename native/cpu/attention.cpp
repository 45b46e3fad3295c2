// The CPU attention kernel: one task per (token, head) walks the pages in range with an online softmax; the
// K/V rows' forms (f32 in place, bf16 or fp8 decoded per page).
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

// Attention of one query row of one head; `scores` is scratch of page_tokens floats, `acc` of head_dim,
// `rows` of 2 * page_tokens * head_dim (decoded K and V rows when they are not kept as f32).
void attend_one(const KvView& kv, int64_t kv_head, const float* query, float scale, int64_t first_key,
                int64_t last_key, float* scores, float* acc, float* rows, float* out) {
  const int64_t head_dim = kv.head_dim;
  float running_max = -std::numeric_limits<float>::infinity();
  float denominator = 0;
  std::fill(acc, acc + head_dim, 0.0f);
  for (int64_t page = first_key / kv.page_tokens; page <= last_key / kv.page_tokens; ++page) {
    const int64_t page_start = page * kv.page_tokens;
    const int64_t begin = std::max(first_key, page_start) - page_start;
    const int64_t end = std::min(last_key + 1, page_start + kv.page_tokens) - page_start;
    const float* keys = kv.rows(kv.keys(page, kv_head), begin, end, rows);
    const float* values = kv.rows(kv.values(page, kv_head), begin, end, rows + kv.page_tokens * head_dim);
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

// Calls visit(row, kv_head, key, value) with the cache's key and value rows of positions first_position +
// row, row < n.
template <typename Visit>
void for_each_kv_head(const KvView& kv, int64_t first_position, int64_t n, Visit visit) {
  const size_t row_bytes = kv.row_bytes();
  for (int64_t row = 0; row < n; ++row) {
    const int64_t position = first_position + row;
    const int64_t page = position / kv.page_tokens;
    const auto slot = size_t(position % kv.page_tokens);
    for (int64_t h = 0; h < kv.num_kv_heads; ++h) {
      visit(row, h, kv.keys(page, h) + slot * row_bytes, kv.values(page, h) + slot * row_bytes);
    }
  }
}

}  // namespace

const float* KvView::rows(const uint8_t* block, int64_t begin, int64_t end, float* scratch) const {
  if (dtype == DType::F32) return reinterpret_cast<const float*>(block);
  const size_t bytes = row_bytes();
  for (int64_t i = begin; i < end; ++i)
    decode_kv_row(block + size_t(i) * bytes, head_dim, dtype, scratch + i * head_dim);
  return scratch;
}

size_t kv_page_bytes(int64_t num_layers, int64_t num_kv_heads, int64_t page_tokens, int64_t head_dim,
                     DType dtype) {
  return size_t(num_layers * 2 * num_kv_heads * page_tokens) * kv_row_bytes(dtype, head_dim);
}

void kv_write(const KvView& kv, int64_t first_position, int64_t n, const float* k, const float* v) {
  const int64_t row_floats = kv.num_kv_heads * kv.head_dim;
  for_each_kv_head(kv, first_position, n, [&](int64_t row, int64_t h, uint8_t* key, uint8_t* value) {
    encode_kv_row(k + row * row_floats + h * kv.head_dim, kv.head_dim, kv.dtype, key);
    encode_kv_row(v + row * row_floats + h * kv.head_dim, kv.head_dim, kv.dtype, value);
  });
}

void kv_read(const KvView& kv, int64_t first_position, int64_t n, float* k, float* v) {
  const int64_t row_floats = kv.num_kv_heads * kv.head_dim;
  for_each_kv_head(kv, first_position, n,
                   [&](int64_t row, int64_t h, const uint8_t* key, const uint8_t* value) {
                     decode_kv_row(key, kv.head_dim, kv.dtype, k + row * row_floats + h * kv.head_dim);
                     decode_kv_row(value, kv.head_dim, kv.dtype, v + row * row_floats + h * kv.head_dim);
                   });
}

void kv_read_rows(const KvView& kv, int64_t first_position, int64_t n, uint8_t* k, uint8_t* v) {
  const size_t row_bytes = kv.row_bytes();
  for_each_kv_head(kv, first_position, n,
                   [&](int64_t row, int64_t h, const uint8_t* key, const uint8_t* value) {
                     const size_t at = size_t(row * kv.num_kv_heads + h) * row_bytes;
                     std::memcpy(k + at, key, row_bytes);
                     std::memcpy(v + at, value, row_bytes);
                   });
}

void kv_write_rows(const KvView& kv, int64_t first_position, int64_t n, const uint8_t* k, const uint8_t* v) {
  const size_t row_bytes = kv.row_bytes();
  for_each_kv_head(kv, first_position, n, [&](int64_t row, int64_t h, uint8_t* key, uint8_t* value) {
    const size_t at = size_t(row * kv.num_kv_heads + h) * row_bytes;
    std::memcpy(key, k + at, row_bytes);
    std::memcpy(value, v + at, row_bytes);
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
    // [page_tokens] scores, [head_dim] accumulator, then [2, page_tokens, head_dim] decoded K and V rows
    thread_local std::vector<float> scratch;
    scratch.resize(size_t(kv.page_tokens + head_dim + 2 * kv.page_tokens * head_dim));
    const int64_t first_item = int64_t(task) * kItemsPerTask;
    const int64_t last_item = std::min(items, first_item + kItemsPerTask);
    for (int64_t item = first_item; item < last_item; ++item) {
      const int64_t row = item / heads;
      const int64_t head = item % heads;
      const int64_t position = first_position + row;
      const int64_t first_key =
          shape.sliding_window > 0 ? std::max<int64_t>(0, position - shape.sliding_window + 1) : 0;
      const int64_t offset = row * heads * head_dim + head * head_dim;
      float* scores = scratch.data();
      attend_one(kv, head / group, q + offset, scale, first_key, position, scores, scores + kv.page_tokens,
                 scores + kv.page_tokens + head_dim, out + offset);
    }
  });
}

}  // namespace hipcode::cpu
