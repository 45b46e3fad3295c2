// HiP block-sparse split-K decode (see hip-decode.cuh): the shared split-decode kernels (split-decode.cuh)
// over the slot list sink + selected blocks + window; masked slots are zero-filled and scored -inf. Also the
// gather of a layer's hot copy (HipHotKv): one warp per slot copies its K and V rows, from the previous copy
// when that holds the key, else from the pages.
#include <algorithm>
#include <climits>
#include <string>

#include "kernels/hip-decode.cuh"
#include "kernels/kv-write.cuh"
#include "kernels/split-decode.cuh"

namespace hipcode::cuda {
namespace {

// Slots: sink keys [0, S), then block_k slots per selected block (keys blocks[b] + i, masked outside
// [sink, w): the reference's clipping), then the window keys [w, t].
struct HipKeys {
  struct Params {
    int sink_len;      // S = min(sink, w)
    int sink_tokens;   // clip floor of the blocks
    int window_begin;  // w
    int window_len;    // t + 1 - w
    int block_k;
    const int32_t* blocks;
    const int32_t* n_blocks_dev;  // count of blocks (read on the device), null = none
    int max_blocks;
    const __nv_bfloat16* hot_k;  // HipHotKv rows, null = none
    const __nv_bfloat16* hot_v;
    int hot_window_slots;
    const HipDecodeLayer* replay_layer;  // non-null: a recorded step's layer record overrides the above
    const int32_t* replay_key_count;     // with replay_layer: position + 1
  };
  Params p;
  int n_blocks = 0;
  // Slots [0, hot_end) are read from row `slot` of hot_k / hot_v ([slot, n_kv_heads, head_dim]).
  const __nv_bfloat16* hot_k;
  const __nv_bfloat16* hot_v;
  int hot_end = 0;
  __device__ explicit HipKeys(const Params& params) : p(params), hot_k(params.hot_k), hot_v(params.hot_v) {
    int hot_window_slots = p.hot_window_slots;
    if (p.replay_layer) {
      const HipDecodeLayer layer = *p.replay_layer;
      p.blocks = layer.blocks;
      p.n_blocks_dev = p.max_blocks > 0 ? layer.n_blocks : nullptr;
      p.window_begin = layer.window_begin;
      p.sink_len = layer.sink_len;
      p.window_len = *p.replay_key_count - layer.window_begin;
      hot_k = layer.hot_k;
      hot_v = layer.hot_v;
      hot_window_slots = layer.hot_window_slots;
    }
    if (p.n_blocks_dev) n_blocks = min(max(*p.n_blocks_dev, 0), p.max_blocks);
    if (hot_k) hot_end = p.sink_len + n_blocks * p.block_k + hot_window_slots;
  }
  __device__ int total() const { return p.sink_len + n_blocks * p.block_k + p.window_len; }
  // Logical key of `slot`, or -1 for a masked slot / a slot past the list.
  __device__ int key(int slot) const {
    if (slot < 0 || slot >= total()) return -1;
    if (slot < p.sink_len) return slot;
    const int v = slot - p.sink_len;
    const int block_slots = n_blocks * p.block_k;
    if (v < block_slots) {
      const int b = v / p.block_k;
      const int k = __ldg(p.blocks + b) + (v - b * p.block_k);
      return (k >= p.sink_tokens && k < p.window_begin) ? k : -1;
    }
    return p.window_begin + (v - block_slots);
  }
};

// The row of `key` in a hot copy laid out as `hot` (block list and count in hot.blocks), or -1.
__device__ int hot_row_of(const HipHotKv& hot, int sink_tokens, int block_k, int max_blocks, int key) {
  if (key < hot.sink_len) return key;
  const int n = min(max(hot.blocks[max_blocks], 0), max_blocks);
  if (key >= hot.window_begin) {
    const int offset = key - hot.window_begin;
    return offset < hot.window_slots ? hot.sink_len + n * block_k + offset : -1;
  }
  if (key < sink_tokens) return -1;
  int lo = 0, hi = n;  // blocks with start <= key: [0, lo)
  while (lo < hi) {
    const int mid = (lo + hi) / 2;
    if (hot.blocks[mid] <= key) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  if (lo == 0 || key >= hot.blocks[lo - 1] + block_k) return -1;
  return hot.sink_len + (lo - 1) * block_k + (key - hot.blocks[lo - 1]);
}

constexpr int kGatherWarps = 8;

// The slot list's window begin w = max(0, position - window_tokens + 1) and sink length min(sink_tokens, w).
struct SlotWindow {
  int window_begin, sink_len;
};

SlotWindow slot_window(int position, int sink_tokens, int window_tokens) {
  const int window_begin = (int)std::max<int64_t>(0, (int64_t)position - window_tokens + 1);
  return {window_begin, std::min(sink_tokens, window_begin)};
}

// Warp w of CTA x copies slot 8x + w of `layout` (its window cut to the copied keys); CTA 0 also copies the
// block list and its count.
__global__ void __launch_bounds__(kGatherWarps * 32)
    hip_hot_gather_kernel(PagedKv cache, HipKeys::Params layout, HipHotKv from, HipHotKv to, int page_shift) {
  if (blockIdx.x == 0) {
    for (int i = threadIdx.x; i < layout.max_blocks; i += blockDim.x) to.blocks[i] = layout.blocks[i];
    if (threadIdx.x == 0) to.blocks[layout.max_blocks] = min(max(*layout.n_blocks_dev, 0), layout.max_blocks);
  }
  const HipKeys keys(layout);
  const int slot = blockIdx.x * kGatherWarps + threadIdx.x / 32, lane = threadIdx.x % 32;
  const int key = keys.key(slot);
  if (key < 0) return;
  const int64_t row = (int64_t)cache.n_kv_heads * cache.head_dim;  // elements
  const int from_row = from.window_begin >= 0
                           ? hot_row_of(from, layout.sink_tokens, layout.block_k, layout.max_blocks, key)
                           : -1;
  const uint4* k_src = nullptr;
  const uint4* v_src = nullptr;
  if (from_row >= 0) {
    k_src = reinterpret_cast<const uint4*>(from.k + from_row * row);
    v_src = reinterpret_cast<const uint4*>(from.v + from_row * row);
  } else {
    const int page = kv_page(cache, page_shift, key);
    if (page >= 0 && kv_is_fp8(cache)) {
      const int64_t offset = kv_fp8_row_offset(cache, page, key);
      kv_fp8_row_to_bf16(cache.k_fp8 + offset, cache.n_kv_heads, cache.head_dim,
                         reinterpret_cast<uint4*>(to.k + slot * row), lane);
      kv_fp8_row_to_bf16(cache.v_fp8 + offset, cache.n_kv_heads, cache.head_dim,
                         reinterpret_cast<uint4*>(to.v + slot * row), lane);
      return;
    }
    const int64_t offset = kv_row_offset(cache, page, key);
    k_src = page < 0 ? nullptr : reinterpret_cast<const uint4*>(cache.k_pages + offset);
    v_src = page < 0 ? nullptr : reinterpret_cast<const uint4*>(cache.v_pages + offset);
  }
  uint4* k_dst = reinterpret_cast<uint4*>(to.k + slot * row);
  uint4* v_dst = reinterpret_cast<uint4*>(to.v + slot * row);
  for (int c = lane; c < int(row / 8); c += 32) {
    k_dst[c] = k_src ? k_src[c] : uint4{};
    v_dst[c] = v_src ? v_src[c] : uint4{};
  }
}

}  // namespace

int hip_hot_kv_capacity(int sink_tokens, int window_tokens, int max_blocks, int block_k) {
  return sink_tokens + max_blocks * block_k + window_tokens;
}

void hip_hot_kv_gather(const PagedKv& cache, int position, int sink_tokens, int window_tokens,
                       const int32_t* blocks, const int32_t* n_blocks, int max_blocks, int block_k,
                       const HipHotKv& from, HipHotKv& to, cudaStream_t stream) {
  const char* op = "hip_hot_kv_gather";
  check_paged_kv(cache, op);
  HIPCODE_REQUIRE(position >= 0 && sink_tokens >= 0 && window_tokens >= 1 && block_k >= 1 && max_blocks >= 1,
                  op, "position, sink_tokens, window_tokens, block_k and max_blocks out of range");
  HIPCODE_REQUIRE(blocks && n_blocks && to.k && to.v && to.blocks, op, "null pointer argument");
  HIPCODE_REQUIRE(from.window_begin < 0 || (from.k != to.k && from.v != to.v && from.blocks != to.blocks), op,
                  "`from` and `to` must not share buffers");
  HIPCODE_REQUIRE(is_aligned(cache.k_pages, 16) && is_aligned(cache.v_pages, 16) && is_aligned(to.k, 16) &&
                      is_aligned(to.v, 16) &&
                      (from.window_begin < 0 || (is_aligned(from.k, 16) && is_aligned(from.v, 16))),
                  op, "the K/V pages and the hot copies must be 16-byte aligned");
  const auto [window_begin, sink_len] = slot_window(position, sink_tokens, window_tokens);
  const int window_share = to.capacity - sink_len - max_blocks * block_k;
  HIPCODE_REQUIRE(window_share >= 1, op,
                  "to.capacity " + std::to_string(to.capacity) + " holds no window key: need at least " +
                      std::to_string(sink_len + max_blocks * block_k + 1) + " rows");
  const int window_slots = std::min(position + 1 - window_begin, window_share);
  const HipKeys::Params layout{sink_len, sink_tokens, window_begin, window_slots, block_k,
                               blocks,   n_blocks,    max_blocks,   nullptr,      nullptr,
                               0,        nullptr,     nullptr};
  const int bound = sink_len + max_blocks * block_k + window_slots;
  hip_hot_gather_kernel<<<(unsigned)ceil_div(bound, kGatherWarps), kGatherWarps * 32, 0, stream>>>(
      cache, layout, from, to, page_shift_of(cache.page_size));
  check_launch(op);
  to.window_begin = window_begin;
  to.sink_len = sink_len;
  to.window_slots = window_slots;
}

HipDecodeLayer hip_decode_layer(int position, int sink_tokens, int window_tokens, const int32_t* blocks,
                                const int32_t* n_blocks, const HipHotKv* hot) {
  const auto [window_begin, sink_len] = slot_window(position, sink_tokens, window_tokens);
  HipDecodeLayer layer;
  layer.blocks = blocks;
  layer.n_blocks = n_blocks;
  layer.window_begin = window_begin;
  layer.sink_len = sink_len;
  if (hot && hot->window_begin >= 0) {
    layer.hot_k = hot->k;
    layer.hot_v = hot->v;
    layer.hot_window_slots = hot->window_slots;
  }
  return layer;
}

int hip_decode_splits(int n_heads, int n_kv_heads, int max_attended) {
  return split_decode_splits(n_heads, n_kv_heads, max_attended, kSplitDecodeBN);
}

int hip_decode_max_attended(int position, int sink_tokens, int window_tokens, int max_blocks, int block_k) {
  const auto [w, sink_len] = slot_window(position, sink_tokens, window_tokens);
  const int64_t total =
      (int64_t)sink_len + (int64_t)std::max(max_blocks, 0) * block_k + ((int64_t)position + 1 - w);
  return (int)std::min<int64_t>(total, INT32_MAX);
}

size_t hip_decode_workspace_bytes(int n_heads, int head_dim, int n_splits) {
  return split_decode_workspace_bytes(n_heads, head_dim, n_splits);
}

void hip_decode(const __nv_bfloat16* q, const PagedKv& cache, __nv_bfloat16* out, int n_heads, int position,
                int sink_tokens, int window_tokens, const int32_t* blocks, const int32_t* n_blocks,
                int max_blocks, int block_k, float scale, int n_splits, float* workspace,
                size_t workspace_bytes, cudaStream_t stream, const HipHotKv* hot,
                const HipDecodeReplay* replay) {
  const char* op = "hip_decode";
  HIPCODE_REQUIRE(!replay || (replay->key_count && replay->layer), op, "replay needs key_count and layer");
  check_paged_kv(cache, op);
  HIPCODE_REQUIRE(n_heads > 0 && n_heads % cache.n_kv_heads == 0, op,
                  "n_heads must be a positive multiple of cache.n_kv_heads, got " + std::to_string(n_heads));
  HIPCODE_REQUIRE(cache.head_dim == 64 || cache.head_dim == 128, op,
                  "head_dim must be 64 or 128, got " + std::to_string(cache.head_dim));
  HIPCODE_REQUIRE(position >= 0 && (int64_t)position < (int64_t)cache.max_pages_per_seq * cache.page_size, op,
                  "position outside the page table: " + std::to_string(position));
  HIPCODE_REQUIRE(sink_tokens >= 0 && window_tokens >= 1, op, "sink_tokens must be >= 0, window_tokens >= 1");
  HIPCODE_REQUIRE(block_k >= 1 && max_blocks >= 0, op, "block_k must be >= 1 and max_blocks >= 0");
  HIPCODE_REQUIRE(max_blocks == 0 || (blocks && n_blocks), op,
                  "blocks / n_blocks must be device pointers when max_blocks > 0");
  HIPCODE_REQUIRE(is_aligned(q, 16) && is_aligned(cache.k_pages, 16) && is_aligned(cache.v_pages, 16), op,
                  "q and the K/V pages must be 16-byte aligned");
  const int max_attended = hip_decode_max_attended(position, sink_tokens, window_tokens, max_blocks, block_k);
  if (n_splits <= 0) n_splits = hip_decode_splits(n_heads, cache.n_kv_heads, max_attended);
  HIPCODE_REQUIRE(n_splits <= 65535, op, "n_splits must be <= 65535, got " + std::to_string(n_splits));
  HIPCODE_REQUIRE(
      workspace && workspace_bytes >= hip_decode_workspace_bytes(n_heads, cache.head_dim, n_splits), op,
      "workspace too small: need " +
          std::to_string(hip_decode_workspace_bytes(n_heads, cache.head_dim, n_splits)) + " bytes, got " +
          std::to_string(workspace_bytes));
  const auto [window_begin, sink_len] = slot_window(position, sink_tokens, window_tokens);
  const int window_len = position + 1 - window_begin;
  if (max_blocks == 0) n_blocks = nullptr;  // the kernel reads no count: no blocks
  const bool use_hot = hot && hot->window_begin >= 0;
  HIPCODE_REQUIRE(
      !use_hot || (hot->window_begin == window_begin && hot->sink_len == sink_len &&
                   hot->window_slots <= window_len && is_aligned(hot->k, 16) && is_aligned(hot->v, 16)),
      op,
      "the hot copy was laid out for window begin " + std::to_string(hot ? hot->window_begin : -1) +
          ", this query's is " + std::to_string(window_begin));
  const HipKeys::Params keys{sink_len,
                             sink_tokens,
                             window_begin,
                             window_len,
                             block_k,
                             blocks,
                             n_blocks,
                             max_blocks,
                             use_hot ? hot->k : nullptr,
                             use_hot ? hot->v : nullptr,
                             use_hot ? hot->window_slots : 0,
                             replay ? replay->layer : nullptr,
                             replay ? replay->key_count : nullptr};
  if (cache.head_dim == 128) {
    launch_split_decode<128, HipKeys>(q, cache, out, n_heads, keys, scale, n_splits, workspace, stream, op);
  } else {
    launch_split_decode<64, HipKeys>(q, cache, out, n_heads, keys, scale, n_splits, workspace, stream, op);
  }
}

}  // namespace hipcode::cuda
