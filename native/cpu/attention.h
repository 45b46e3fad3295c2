// CPU paged attention: causal GQA with an optional sliding window, f32 online softmax.
#pragma once

#include <cstdint>
#include <vector>

#include "core/backend.h"
#include "core/thread-pool.h"

namespace hipcode::cpu {

// One layer's view of the paged cache with page ids resolved to host pointers. A page holds, per layer,
// K then V, each [kv_heads, page_tokens, head_dim].
struct KvView {
  std::vector<float*> pages;  // [pages] page base pointers, position p lives in pages[p / page_tokens]
  int64_t page_tokens;
  int64_t num_kv_heads;
  int64_t head_dim;
  int64_t layer;

  float* keys(int64_t page, int64_t kv_head) const { return block(page, 0, kv_head); }
  float* values(int64_t page, int64_t kv_head) const { return block(page, 1, kv_head); }

 private:
  // [page_tokens, head_dim] block of K (kind 0) or V (kind 1)
  float* block(int64_t page, int64_t kind, int64_t kv_head) const {
    return pages[size_t(page)] + ((layer * 2 + kind) * num_kv_heads + kv_head) * page_tokens * head_dim;
  }
};

// Page size in floats for a layout (all layers, K and V).
int64_t kv_page_floats(int64_t num_layers, int64_t num_kv_heads, int64_t page_tokens, int64_t head_dim);

// Stores k, v [n, kv_heads * head_dim] at positions first_position + row.
void kv_write(const KvView& kv, int64_t first_position, int64_t n, const float* k, const float* v);

// k, v [n, kv_heads * head_dim] = the keys and values at positions first_position + row.
void kv_read(const KvView& kv, int64_t first_position, int64_t n, float* k, float* v);

// out [n, heads * head_dim] = softmax(q kᵀ / sqrt(head_dim)) v for q [n, heads * head_dim] at positions
// first_position + row; query head h reads KV head h / (heads / kv_heads); keys at positions <= the
// query's, and > query - sliding_window when a window is set.
void attention_forward(ThreadPool& pool, const KvView& kv, const AttentionShape& shape,
                       int64_t first_position, int64_t n, const float* q, float* out);

}  // namespace hipcode::cpu
