// HiP attention on the CPU backend (see hip-attention.h); K/V kept in bf16 or fp8 rows are decoded per call.
#include "cpu/hip-attention.h"

#include "hip/block-sparse-attention.h"
#include "hip/mask-estimation.h"

namespace hipcode::cpu {
namespace {

// The layer's keys [0, n_tokens) as a paged hip::HipKv of f32 pages: the store's own when it keeps f32 rows,
// else decoded into `decoded` [pages, 2, kv_heads, page_tokens, head_dim]. The lists must outlive it.
hip::HipKv paged_kv(const KvView& kv, int64_t n_tokens, std::vector<const float*>& key_pages,
                    std::vector<const float*>& value_pages, std::vector<float>& decoded) {
  const int64_t pages = (n_tokens + kv.page_tokens - 1) / kv.page_tokens;
  const int64_t block = kv.page_tokens * kv.head_dim;  // floats of one head's rows in a page
  if (kv.dtype != DType::F32) decoded.resize(size_t(pages * 2 * kv.num_kv_heads * block));
  for (int64_t page = 0; page < pages; ++page) {
    if (kv.dtype == DType::F32) {
      key_pages.push_back(reinterpret_cast<const float*>(kv.keys(page, 0)));
      value_pages.push_back(reinterpret_cast<const float*>(kv.values(page, 0)));
      continue;
    }
    float* keys = decoded.data() + page * 2 * kv.num_kv_heads * block;
    float* values = keys + kv.num_kv_heads * block;
    for (int64_t h = 0; h < kv.num_kv_heads; ++h) {
      kv.rows(kv.keys(page, h), 0, kv.page_tokens, keys + h * block);
      kv.rows(kv.values(page, h), 0, kv.page_tokens, values + h * block);
    }
    key_pages.push_back(keys);
    value_pages.push_back(values);
  }
  hip::HipKv paged{nullptr, nullptr, n_tokens, kv.num_kv_heads, kv.head_dim};
  paged.key_pages = key_pages.data();
  paged.value_pages = value_pages.data();
  paged.page_tokens = kv.page_tokens;
  return paged;
}

}  // namespace

void hip_decode(const KvView& kv, const AttentionShape& shape, int64_t position, const HipDecodeCall& call,
                CpuHipMask& mask, const float* q, float* out) {
  std::vector<const float*> key_pages, value_pages;
  std::vector<float> decoded;
  const hip::HipKv keys = paged_kv(kv, position + 1, key_pages, value_pages, decoded);
  const hip::HipQueries query{q, 1, shape.num_heads, shape.head_dim, position};
  if (call.first_stage >= 0) {
    hip::validate_hip_inputs(query, keys);
    mask.blocks = hip::select_key_blocks_from(*call.config, query, keys, 0, size_t(call.first_stage),
                                              mask.stage_inputs);
  }
  hip::HipConfig config = *call.config;
  config.window_tokens = call.window_tokens;
  const hip::HipMask selected{config.block_q, config.block_k(), {mask.blocks}};
  hip::block_sparse_attention(config, selected, query, keys, out);
}

void hip_prefill(ThreadPool& pool, const KvView& kv, const AttentionShape& shape, int64_t first_position,
                 int64_t n, const hip::HipConfig& config, bool seeds_generation, const float* q, float* out) {
  std::vector<const float*> key_pages, value_pages;
  std::vector<float> decoded;
  const hip::HipKv keys = paged_kv(kv, first_position + n, key_pages, value_pages, decoded);
  hip::validate_hip_config(config);
  hip::validate_hip_inputs(hip::HipQueries{q, n, shape.num_heads, shape.head_dim, first_position}, keys);
  const int64_t row_width = shape.num_heads * shape.head_dim;
  for (const hip::HipPrefillSegment& segment : config.prefill_segments(first_position, n, seeds_generation)) {
    const float* segment_q = q + segment.first_row * row_width;
    float* segment_out = out + segment.first_row * row_width;
    const int64_t position = first_position + segment.first_row;
    const hip::HipQueries queries{segment_q, segment.rows, shape.num_heads, shape.head_dim, position};
    const int64_t blocks = (segment.sparse_rows + config.block_q - 1) / config.block_q;
    pool.parallel_for(size_t(blocks), [&](size_t block) {
      const int64_t first_row = int64_t(block) * config.block_q;
      const int64_t block_rows = std::min(config.block_q, segment.sparse_rows - first_row);  // last: partial
      const hip::HipQueries rows{segment_q + first_row * row_width, block_rows, shape.num_heads,
                                 shape.head_dim, position + first_row};
      const hip::HipMask mask{
          config.block_q, config.block_k(), {hip::select_key_blocks(config, queries, keys, int64_t(block))}};
      hip::block_sparse_attention(config, mask, rows, keys, segment_out + first_row * row_width);
    });
    if (segment.sparse_rows == segment.rows) continue;
    attention_forward(pool, kv, shape, position + segment.sparse_rows, segment.rows - segment.sparse_rows,
                      segment_q + segment.sparse_rows * row_width,
                      segment_out + segment.sparse_rows * row_width);
  }
}

}  // namespace hipcode::cpu
