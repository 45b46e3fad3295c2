// Hopper (sm_90a) flash-attention prefill for head_dim 128 over the paged KV cache (bf16 in/out, f32
// online softmax): the wgmma pipeline of attention-prefill-sm90-pipeline.cuh over the causal key range of
// each CTA's rows (CausalKeys, attention-common.cuh). A CTA = kBM = 128 rows (query token, q head of one
// kv group), row r = token * group + head; it walks keys [max(0, first position - window + 1) rounded
// down to kBN, last position] in kBN = 128-key tiles.
#include <atomic>
#include <climits>
#include <cmath>
#include <string>

#include "kernels/attention-common.cuh"
#include "kernels/attention-prefill-sm90-pipeline.cuh"
#include "kernels/attention-prefill-sm90.cuh"
#include "kernels/kernel-common.cuh"
#include "kernels/kv-write.cuh"
#include "kernels/split-combine.cuh"

namespace hipcode::cuda {

namespace {

using sm90::kBM;
using sm90::kBN;
using sm90::kD;
using sm90::kSmemBytes;
using sm90::kStages;
using sm90::kThreads;

// Grid: x = row tiles of kBM rows (heaviest, i.e. last, first), y = kv head, z = split of the key range.
__global__ void __launch_bounds__(kThreads, 1)
    attention_prefill_sm90_kernel(const __nv_bfloat16* __restrict__ q,  // [n_q, n_heads, 128]
                                  const PagedKv cache, const attn::PrefillOut dst, int n_q, int n_heads,
                                  int group, int pos0, int window, float scale_log2, int page_shift) {
#if HIPCODE_PREFILL_SM90A
  __shared__ uint64_t bars[2 * kStages];  // full[kStages], then empty[kStages]
  extern __shared__ unsigned char smem_raw[];
  const int kvh = blockIdx.y;
  const int tile = gridDim.x - 1 - blockIdx.x;
  const int rows_total = n_q * group;
  const int r0 = tile * kBM;
  const int r_end = min(r0 + kBM, rows_total);
  const int q_pos_min = pos0 + r0 / group, q_pos_max = pos0 + (r_end - 1) / group;
  const int k_end = q_pos_max + 1;  // keys [k_end, ...) of the last tile are zero-filled and masked
  int k_begin = window > 0 ? max(0, q_pos_min - window + 1) : 0;
  k_begin = k_begin / kBN * kBN;
  const attn::SplitTiles split = attn::split_tiles((k_end - k_begin + kBN - 1) / kBN);
  if (split.first == split.end) {
    attn::store_empty_split<kD>(dst, n_heads, group, kvh, r0, r_end);
    return;
  }
  const attn::CausalKeys keys = attn::split_keys({k_begin, k_end, window}, split, kBN);
  sm90::run_pipeline(q, cache, dst, n_heads, group, kvh, r0, r_end, pos0, scale_log2, page_shift, keys,
                     split.end - split.first, smem_raw, bars);
#else
  (void)q, (void)cache, (void)dst, (void)n_q, (void)n_heads, (void)group, (void)pos0, (void)window,
      (void)scale_log2, (void)page_shift;
#endif
}

std::atomic<bool> g_sm90_enabled{true};

}  // namespace

void attention_prefill_sm90_set_enabled(bool enabled) {
  g_sm90_enabled.store(enabled);
}

bool attention_prefill_sm90_enabled() {
  return g_sm90_enabled.load();
}

bool attention_prefill_sm90_available() {
  static int cached[64] = {0};
  return sm90::body_available(attention_prefill_sm90_kernel, cached);
}

void attention_prefill_sm90(const __nv_bfloat16* q, const PagedKv& cache, __nv_bfloat16* out, int n_q,
                            int n_heads, int pos0, int window, float scale, cudaStream_t stream, int n_splits,
                            float* partials) {
  const char* op = "attention_prefill_sm90";
  check_bf16_kv(cache, op);
  HIPCODE_REQUIRE(cache.head_dim == kD, op, "head_dim must be 128, got " + std::to_string(cache.head_dim));
  HIPCODE_REQUIRE(n_q >= 0, op, "n_q must be >= 0, got " + std::to_string(n_q));
  HIPCODE_REQUIRE(n_heads > 0 && n_heads % cache.n_kv_heads == 0, op,
                  "n_heads must be a positive multiple of cache.n_kv_heads, got " + std::to_string(n_heads));
  HIPCODE_REQUIRE(pos0 >= 0, op, "pos0 must be >= 0, got " + std::to_string(pos0));
  HIPCODE_REQUIRE(window >= 0, op, "window must be >= 0, got " + std::to_string(window));
  HIPCODE_REQUIRE((int64_t)pos0 + n_q <= (int64_t)cache.max_pages_per_seq * cache.page_size, op,
                  "pos0 + n_q exceeds the page table (max_pages_per_seq * page_size)");
  HIPCODE_REQUIRE(cache.n_kv_heads <= 65535, op, "cache.n_kv_heads must be <= 65535");
  HIPCODE_REQUIRE(is_aligned(q, 16) && is_aligned(out, 16) && is_aligned(cache.k_pages, 16) &&
                      is_aligned(cache.v_pages, 16),
                  op, "q, out, k_pages and v_pages must be 16-byte aligned");
  HIPCODE_REQUIRE(attention_prefill_sm90_available(), op,
                  "needs a compute capability 9.0 device and a build with sm_90a code");
  HIPCODE_REQUIRE(
      n_splits >= 1 && n_splits <= 65535 && (n_splits == 1 || partials), op,
      "n_splits must be in [1, 65535] (more than 1 needs partials), got " + std::to_string(n_splits));
  if (n_q == 0) return;
  const int group = n_heads / cache.n_kv_heads;
  const int64_t rows = (int64_t)n_q * group;
  HIPCODE_REQUIRE(rows <= INT_MAX - kBM, op, "n_q * (n_heads / n_kv_heads) is too large");
  const dim3 grid((unsigned)ceil_div(rows, kBM), (unsigned)cache.n_kv_heads, (unsigned)n_splits);
  attn::PrefillOut dst{out};
  if (n_splits > 1) dst = {out, partials, partials + (size_t)n_q * n_heads * n_splits * kD, n_splits};
  check_cuda(cudaFuncSetAttribute(attention_prefill_sm90_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  kSmemBytes),
             op, "cannot raise the shared-memory limit");
  attention_prefill_sm90_kernel<<<grid, kThreads, kSmemBytes, stream>>>(
      q, cache, dst, n_q, n_heads, group, pos0, window, scale * attn::kLog2e, page_shift_of(cache.page_size));
  check_launch(op);
  if (n_splits > 1)
    split_combine(dst.part_o, dst.part_ml, out, (int64_t)n_q * n_heads, n_splits, kD, stream, op);
}

}  // namespace hipcode::cuda
