// HiP block-sparse split-K decode (see hip-decode.cuh): the shared split-decode kernels (split-decode.cuh)
// over the slot list sink + selected blocks + window; masked slots are zero-filled and scored -inf.
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
  };
  Params p;
  int n_blocks;
  __device__ explicit HipKeys(const Params& params)
      : p(params), n_blocks(params.n_blocks_dev ? min(max(*params.n_blocks_dev, 0), params.max_blocks) : 0) {}
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

}  // namespace

int hip_decode_splits(int n_heads, int n_kv_heads, int max_attended) {
  return split_decode_splits(n_heads, n_kv_heads, max_attended, kSplitDecodeBN);
}

int hip_decode_max_attended(int position, int sink_tokens, int window_tokens, int max_blocks, int block_k) {
  const int64_t w = std::max<int64_t>(0, (int64_t)position - window_tokens + 1);
  const int64_t total =
      std::min<int64_t>(sink_tokens, w) + (int64_t)std::max(max_blocks, 0) * block_k + (position + 1 - w);
  return (int)std::min<int64_t>(total, INT32_MAX);
}

size_t hip_decode_workspace_bytes(int n_heads, int head_dim, int n_splits) {
  return split_decode_workspace_bytes(n_heads, head_dim, n_splits);
}

void hip_decode(const __nv_bfloat16* q, const PagedKv& cache, __nv_bfloat16* out, int n_heads, int position,
                int sink_tokens, int window_tokens, const int32_t* blocks, const int32_t* n_blocks,
                int max_blocks, int block_k, float scale, int n_splits, float* workspace,
                size_t workspace_bytes, cudaStream_t stream) {
  const char* op = "hip_decode";
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
  const int window_begin = (int)std::max<int64_t>(0, (int64_t)position - window_tokens + 1);
  const int sink_len = std::min(sink_tokens, window_begin);
  const int window_len = position + 1 - window_begin;
  if (max_blocks == 0) n_blocks = nullptr;  // the kernel reads no count: no blocks
  const HipKeys::Params keys{sink_len, sink_tokens, window_begin, window_len,
                             block_k,  blocks,      n_blocks,     max_blocks};
  if (cache.head_dim == 128) {
    launch_split_decode<128, HipKeys>(q, cache, out, n_heads, keys, scale, n_splits, workspace, stream, op);
  } else {
    launch_split_decode<64, HipKeys>(q, cache, out, n_heads, keys, scale, n_splits, workspace, stream, op);
  }
}

}  // namespace hipcode::cuda
