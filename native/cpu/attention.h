// CPU paged attention: causal GQA with an optional sliding window, f32 online softmax over K/V kept as f32,
// bf16 or fp8 rows.
#pragma once

#include <cstdint>
#include <vector>

#include "core/backend.h"
#include "core/dtype.h"
#include "core/thread-pool.h"

namespace hipcode::cpu {

// One layer's view of the paged cache with page ids resolved to host pointers. A page holds, per layer,
// K then V, each [kv_heads, page_tokens] rows of head_dim values kept as `dtype` (kv_row_bytes each).
struct KvView {
  std::vector<uint8_t*> pages;  // [pages] page base pointers, position p lives in pages[p / page_tokens]
  int64_t page_tokens;
  int64_t num_kv_heads;
  int64_t head_dim;
  int64_t layer;
  DType dtype;  // F32, BF16 or FP8_E4M3

  size_t row_bytes() const { return kv_row_bytes(dtype, head_dim); }
  // [page_tokens] rows of K (V) of one KV head
  uint8_t* keys(int64_t page, int64_t kv_head) const { return block(page, 0, kv_head); }
  uint8_t* values(int64_t page, int64_t kv_head) const { return block(page, 1, kv_head); }
  // Rows [begin, end) of a K or V block as floats: row i at result + i * head_dim. The block itself when it
  // holds f32, else those rows decoded into `scratch` [page_tokens, head_dim].
  const float* rows(const uint8_t* block, int64_t begin, int64_t end, float* scratch) const;

 private:
  uint8_t* block(int64_t page, int64_t kind, int64_t kv_head) const {
    return pages[size_t(page)] +
           size_t((layer * 2 + kind) * num_kv_heads + kv_head) * size_t(page_tokens) * row_bytes();
  }
};

// Page size in bytes for a layout (all layers, K and V) whose rows are kept as `dtype`.
size_t kv_page_bytes(int64_t num_layers, int64_t num_kv_heads, int64_t page_tokens, int64_t head_dim,
                     DType dtype);

// Stores k, v [n, kv_heads * head_dim] at positions first_position + row.
void kv_write(const KvView& kv, int64_t first_position, int64_t n, const float* k, const float* v);

// k, v [n, kv_heads * head_dim] = the keys and values at positions first_position + row.
void kv_read(const KvView& kv, int64_t first_position, int64_t n, float* k, float* v);

// k, v [n, kv_heads, row_bytes] = the rows of positions first_position + row as they are kept, and back.
void kv_read_rows(const KvView& kv, int64_t first_position, int64_t n, uint8_t* k, uint8_t* v);
void kv_write_rows(const KvView& kv, int64_t first_position, int64_t n, const uint8_t* k, const uint8_t* v);

// out [n, heads * head_dim] = softmax(q kᵀ / sqrt(head_dim)) v for q [n, heads * head_dim] at positions
// first_position + row; query head h reads KV head h / (heads / kv_heads); keys at positions <= the
// query's, and > query - sliding_window when a window is set.
void attention_forward(ThreadPool& pool, const KvView& kv, const AttentionShape& shape,
                       int64_t first_position, int64_t n, const float* q, float* out);

}  // namespace hipcode::cpu
