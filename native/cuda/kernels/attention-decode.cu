// Dense split-K flash-decoding: the query (position n_keys - 1) attends the last keys of the paged cache
// (all, or the sliding window), through the shared split-decode kernels (split-decode.cuh) with the identity
// slot map.
#include "kernels/attention-decode.cuh"
#include "kernels/attention-generic.cuh"
#include "kernels/kv-write.cuh"
#include "kernels/split-decode.cuh"

namespace hipcode::cuda {
namespace {

// Slots are the keys [first, n_keys): all of them, or the window's.
struct DenseKeys {
  struct Params {
    int n_keys;                 // used when n_keys_dev is null
    const int32_t* n_keys_dev;  // the length on the device (CUDA-graph replay)
    int window;                 // 0 = none
  };
  int first, count;
  const __nv_bfloat16* hot_k = nullptr;  // no hot copy: every slot is read from the pages
  const __nv_bfloat16* hot_v = nullptr;
  int hot_end = 0;
  __device__ explicit DenseKeys(const Params& p) {
    const int n = p.n_keys_dev ? *p.n_keys_dev : p.n_keys;
    first = p.window > 0 ? max(0, n - p.window) : 0;
    count = max(0, n - first);
  }
  __device__ int total() const { return count; }
  __device__ int key(int slot) const { return slot >= 0 && slot < count ? first + slot : -1; }
};

}  // namespace

int attention_decode_splits(int n_heads, int n_kv_heads, int max_keys) {
  return split_decode_splits(n_heads, n_kv_heads, max_keys, 128);
}

size_t attention_decode_workspace_bytes(int n_heads, int head_dim, int n_splits) {
  return split_decode_workspace_bytes(n_heads, head_dim, n_splits);
}

void attention_decode(const __nv_bfloat16* q, const PagedKv& cache, __nv_bfloat16* out, int n_heads,
                      int n_keys, const int32_t* n_keys_dev, int window, float scale, int n_splits,
                      float* workspace, size_t workspace_bytes, cudaStream_t stream) {
  const char* op = "attention_decode";
  check_paged_kv(cache, op);
  HIPCODE_REQUIRE(n_heads > 0 && n_heads % cache.n_kv_heads == 0, op,
                  "n_heads must be a positive multiple of cache.n_kv_heads, got " + std::to_string(n_heads));
  HIPCODE_REQUIRE(n_keys_dev || n_keys >= 1, op, "n_keys must be >= 1, got " + std::to_string(n_keys));
  HIPCODE_REQUIRE(n_keys_dev || (int64_t)n_keys <= (int64_t)cache.max_pages_per_seq * cache.page_size, op,
                  "n_keys exceeds the page table (max_pages_per_seq * page_size)");
  HIPCODE_REQUIRE(window >= 0, op, "window must be >= 0, got " + std::to_string(window));
  const bool aligned = is_aligned(q, 16) && is_aligned(cache.k_pages, 16) && is_aligned(cache.v_pages, 16);
  // (check_paged_kv has checked an fp8 cache's alignment)
  if (!aligned || (cache.head_dim != 64 && cache.head_dim != 128)) {
    attention_generic(q, cache, out, 1, n_heads, n_keys_dev ? 0 : n_keys - 1, window, scale, n_keys_dev,
                      stream);
    return;
  }
  if (n_splits <= 0) n_splits = attention_decode_splits(n_heads, cache.n_kv_heads, n_keys);
  HIPCODE_REQUIRE(n_splits <= 65535, op, "n_splits must be <= 65535, got " + std::to_string(n_splits));
  HIPCODE_REQUIRE(
      workspace && workspace_bytes >= attention_decode_workspace_bytes(n_heads, cache.head_dim, n_splits), op,
      "workspace too small: need " +
          std::to_string(attention_decode_workspace_bytes(n_heads, cache.head_dim, n_splits)) +
          " bytes, got " + std::to_string(workspace_bytes));
  const DenseKeys::Params keys{n_keys, n_keys_dev, window};
  if (cache.head_dim == 128) {
    launch_split_decode<128, DenseKeys>(q, cache, out, n_heads, keys, scale, n_splits, workspace, stream, op);
  } else {
    launch_split_decode<64, DenseKeys>(q, cache, out, n_heads, keys, scale, n_splits, workspace, stream, op);
  }
}

}  // namespace hipcode::cuda
