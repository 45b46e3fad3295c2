// Flash-attention-2 style causal prefill over the paged cache with mma.sync m16n8k16 (bf16 -> f32): the CTA
// of attention-prefill-mma.cuh over the causal key range of its rows (CausalKeys), keys
// [max(0, first position - window + 1) rounded down to 64, last position]. CTAs with the most keys (the last
// rows) are launched first; few rows against many keys cut each key range into splits (split-K, merged by
// split_combine). Dispatch: the sm90 wgmma kernel on Hopper for head_dim 128, this kernel for
// head_dim 64 / 128 elsewhere, attention_generic for other head_dim.
#include <algorithm>
#include <cmath>
#include <string>

#include "kernels/attention-common.cuh"
#include "kernels/attention-generic.cuh"
#include "kernels/attention-prefill-mma.cuh"
#include "kernels/attention-prefill-sm90.cuh"
#include "kernels/attention-prefill.cuh"
#include "kernels/kv-write.cuh"
#include "kernels/split-combine.cuh"

namespace hipcode::cuda {

using namespace attn;

// Grid: x = row tiles of 16 * kWarps rows (heaviest, i.e. last, first), y = kv head, z = split of the key
// range.
template <int kD, int kWarps>
static __global__ void __launch_bounds__(kWarps * 32)
    attention_prefill_kernel(const __nv_bfloat16* __restrict__ q, PagedKv cache, PrefillOut dst, int n_q,
                             int n_heads, int group, int pos0, int window, float scale_log2, int page_shift) {
  constexpr int kBM = 16 * kWarps, kBN = kPrefillBN;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const int kvh = blockIdx.y;
  const int tile = gridDim.x - 1 - blockIdx.x;
  const int rows_total = n_q * group;
  const int r0 = tile * kBM;
  const int r_end = min(r0 + kBM, rows_total);
  const int q_pos_min = pos0 + r0 / group;
  const int k_end = pos0 + (r_end - 1) / group + 1;
  int k_begin = window > 0 ? max(0, q_pos_min - window + 1) : 0;
  k_begin = (k_begin / kBN) * kBN;
  const SplitTiles split = split_tiles((k_end - k_begin + kBN - 1) / kBN);
  if (split.first == split.end) {
    store_empty_split<kD>(dst, n_heads, group, kvh, r0, r_end);
    return;
  }
  const CausalKeys keys = split_keys({k_begin, k_end, window}, split, kBN);
  prefill_mma_cta<kD, kWarps>(q, cache, dst, n_heads, group, kvh, r0, r_end, pos0, scale_log2, page_shift,
                              keys, split.end - split.first, smem_raw);
}

template <int kD, int kWarps>
static void launch_prefill(const __nv_bfloat16* q, const PagedKv& cache, __nv_bfloat16* out, int n_q,
                           int n_heads, int pos0, int window, float scale, int n_splits, float* partials,
                           cudaStream_t stream) {
  const int group = n_heads / cache.n_kv_heads;
  const int64_t rows = (int64_t)n_q * group;
  const dim3 grid((unsigned)ceil_div(rows, 16 * kWarps), (unsigned)cache.n_kv_heads, (unsigned)n_splits);
  PrefillOut dst{out};
  if (n_splits > 1) dst = {out, partials, partials + (size_t)n_q * n_heads * n_splits * kD, n_splits};
  constexpr int smem = prefill_smem_bytes<kD, kWarps>();
  auto kernel = attention_prefill_kernel<kD, kWarps>;
  check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem),
             "attention_prefill", "cannot raise the shared-memory limit");
  kernel<<<grid, kWarps * 32, smem, stream>>>(q, cache, dst, n_q, n_heads, group, pos0, window,
                                              scale * kLog2e, page_shift_of(cache.page_size));
  check_launch("attention_prefill");
  if (n_splits > 1)
    split_combine(dst.part_o, dst.part_ml, out, (int64_t)n_q * n_heads, n_splits, kD, stream,
                  "attention_prefill");
}

namespace {

enum class PrefillPath { Generic, Sm90, Mma4, Mma8 };

PrefillPath prefill_path(int n_q, int n_heads, int n_kv_heads, int head_dim) {
  if (head_dim != 64 && head_dim != 128) return PrefillPath::Generic;
  if (head_dim == 128 && attention_prefill_sm90_enabled() && attention_prefill_sm90_available())
    return PrefillPath::Sm90;
  // 8 warps (128 rows) per CTA share each K/V tile among more rows; use them when that still gives every SM
  // at least one CTA.
  const int64_t rows = (int64_t)n_q * (n_heads / n_kv_heads);
  return ceil_div(rows, 128) * n_kv_heads >= device_sm_count() ? PrefillPath::Mma8 : PrefillPath::Mma4;
}

// Keys a split walks at least: shorter pieces would spend more on the merge than they save.
constexpr int kMinSplitKeys = 2048;

// Splits of each CTA's key range on `path`: enough CTAs for one per SM, when the rows alone leave more than
// half the SMs idle and the keys allow pieces of kMinSplitKeys.
int prefill_splits(PrefillPath path, int n_q, int n_heads, int n_kv_heads, int pos0, int window) {
  if (path == PrefillPath::Generic || n_q <= 0 || n_kv_heads <= 0) return 1;
  const int rows_per_cta = path == PrefillPath::Mma4 ? 64 : 128;
  const int64_t ctas = ceil_div((int64_t)n_q * (n_heads / n_kv_heads), rows_per_cta) * n_kv_heads;
  const int64_t keys =
      window > 0 ? std::min<int64_t>(window + n_q, (int64_t)pos0 + n_q) : (int64_t)pos0 + n_q;
  const int64_t by_sms = device_sm_count() / ctas;
  const int64_t by_keys = keys / kMinSplitKeys;
  const int64_t splits = std::min<int64_t>(std::min(by_sms, by_keys), 65535);
  return splits >= 2 ? (int)splits : 1;
}

}  // namespace

size_t attention_prefill_workspace_bytes(int n_q, int n_heads, int n_kv_heads, int head_dim, int pos0,
                                         int window) {
  if (n_q <= 0 || n_heads <= 0 || n_kv_heads <= 0 || n_heads % n_kv_heads != 0) return 0;
  const int splits = prefill_splits(prefill_path(n_q, n_heads, n_kv_heads, head_dim), n_q, n_heads,
                                    n_kv_heads, pos0, window);
  return splits > 1 ? split_partials_bytes((int64_t)n_q * n_heads, head_dim, splits) : 0;
}

void attention_prefill(const __nv_bfloat16* q, const PagedKv& cache, __nv_bfloat16* out, int n_q, int n_heads,
                       int pos0, int window, float scale, cudaStream_t stream, void* workspace,
                       size_t workspace_bytes) {
  const char* op = "attention_prefill";
  check_paged_kv(cache, op);
  HIPCODE_REQUIRE(n_q >= 0, op, "n_q must be >= 0, got " + std::to_string(n_q));
  HIPCODE_REQUIRE(n_heads > 0 && n_heads % cache.n_kv_heads == 0, op,
                  "n_heads must be a positive multiple of cache.n_kv_heads, got " + std::to_string(n_heads));
  HIPCODE_REQUIRE(pos0 >= 0, op, "pos0 must be >= 0, got " + std::to_string(pos0));
  HIPCODE_REQUIRE(window >= 0, op, "window must be >= 0, got " + std::to_string(window));
  HIPCODE_REQUIRE((int64_t)pos0 + n_q <= (int64_t)cache.max_pages_per_seq * cache.page_size, op,
                  "pos0 + n_q exceeds the page table (max_pages_per_seq * page_size)");
  HIPCODE_REQUIRE(cache.n_kv_heads <= 65535, op, "cache.n_kv_heads must be <= 65535");
  if (n_q == 0) return;
  const bool aligned = is_aligned(q, 16) && is_aligned(out, 16) && is_aligned(cache.k_pages, 16) &&
                       is_aligned(cache.v_pages, 16);
  const PrefillPath path = aligned && !kv_is_fp8(cache)
                               ? prefill_path(n_q, n_heads, cache.n_kv_heads, cache.head_dim)
                               : PrefillPath::Generic;
  if (path == PrefillPath::Generic) {
    attention_generic(q, cache, out, n_q, n_heads, pos0, window, scale, nullptr, stream);
    return;
  }
  int splits = workspace ? prefill_splits(path, n_q, n_heads, cache.n_kv_heads, pos0, window) : 1;
  if (splits > 1) {
    const size_t need = split_partials_bytes((int64_t)n_q * n_heads, cache.head_dim, splits);
    HIPCODE_REQUIRE(workspace_bytes >= need && is_aligned(workspace, 16), op,
                    "the workspace must be 16-byte aligned and hold attention_prefill_workspace_bytes() = " +
                        std::to_string(need) + " bytes, got " + std::to_string(workspace_bytes));
  }
  float* partials = static_cast<float*>(workspace);
  switch (path) {
    case PrefillPath::Sm90:
      attention_prefill_sm90(q, cache, out, n_q, n_heads, pos0, window, scale, stream, splits, partials);
      return;
    case PrefillPath::Mma8:
      if (cache.head_dim == 128) {
        launch_prefill<128, 8>(q, cache, out, n_q, n_heads, pos0, window, scale, splits, partials, stream);
      } else {
        launch_prefill<64, 8>(q, cache, out, n_q, n_heads, pos0, window, scale, splits, partials, stream);
      }
      return;
    default:
      if (cache.head_dim == 128) {
        launch_prefill<128, 4>(q, cache, out, n_q, n_heads, pos0, window, scale, splits, partials, stream);
      } else {
        launch_prefill<64, 4>(q, cache, out, n_q, n_heads, pos0, window, scale, splits, partials, stream);
      }
  }
}

}  // namespace hipcode::cuda
