// HiP block-sparse prefill (see hip-prefill.cuh): the prefill CTAs of attention-prefill-sm90-pipeline.cuh
// (wgmma) and attention-prefill-mma.cuh (mma.sync) over a virtual key list per CTA (HipKeys).
//
// A CTA holds rows [row0, row_end) of one query block (row = query * group + q head of the group), at
// positions [p_first, p_last]; w(t) = max(0, t - window + 1). Its key list:
//   slots [0, sink_len)         sink keys 0 .. sink_len - 1, sink_len = min(sink, w(p_last))
//   slots [sink_len, sel_end)   block_k slots for each selected block that may hold keys of [sink, w(p_last))
//                               (blocks entirely below the sink or at / past w(p_last) are skipped):
//                               start + i, masked for everyone outside [sink, w(p_last))
//   slots [sel_end, total)      the window keys w(p_first) .. p_last
// A row at t attends a sink / selected slot iff its key < w(t), a window slot iff w(t) <= key <= t: each
// key of attended_ranges(t) exactly once (a key both selected and in the window list counts only on the
// side of w(t) it falls on). The producer records every slot's encoded key in shared memory; a tile
// is masked per element only when some row of the warp (mma.sync) or warpgroup (wgmma) may miss one of
// its slots, decided from the slot ranges and the first and last selected keys of the tile (selected keys
// ascend, so masked selected slots are a prefix or a suffix of the selected slots).
#include <algorithm>
#include <atomic>
#include <climits>
#include <string>

#include "kernels/attention-common.cuh"
#include "kernels/attention-prefill-mma.cuh"
#include "kernels/attention-prefill-sm90-pipeline.cuh"
#include "kernels/hip-prefill.cuh"
#include "kernels/kernel-common.cuh"
#include "kernels/kv-write.cuh"

namespace hipcode::cuda {
namespace {

// Encoded window slot: key + kWindowFlag (keys are < 2^30).
constexpr int kWindowFlag = 1 << 30;

__host__ __device__ inline int window_begin(int position, int window_tokens) {
  return max(0, position - window_tokens + 1);
}

struct HipPrefillArgs {
  const __nv_bfloat16* q;  // [n_q, n_heads, head_dim]
  __nv_bfloat16* out;      // [n_q, n_heads, head_dim]
  PagedKv cache;
  const int32_t* blocks;  // [n_qblocks, max_blocks]
  const int32_t* counts;  // [n_qblocks]
  int n_q, n_heads, group, pos0, sink_tokens, window_tokens, max_blocks, block_q, block_k;
  int tiles_per_qblock;  // CTA row tiles per query block
  float scale_log2;
  int page_shift;
};

// The rows of one CTA; empty when its tile lies past the rows of a partial last query block.
struct HipCta {
  int qblock, row0, row_end, p_first, p_last;
  __device__ bool empty() const { return row0 >= row_end; }
};

// CTA blockIdx.x (reversed: the last query blocks, which have the most keys, start first) of kBM rows.
__device__ HipCta hip_cta(const HipPrefillArgs& a, int kBM) {
  const int index = gridDim.x - 1 - blockIdx.x;
  const int qblock = index / a.tiles_per_qblock, tile = index % a.tiles_per_qblock;
  const int token0 = qblock * a.block_q;
  const int token_end = min(token0 + a.block_q, a.n_q);
  const int row0 = token0 * a.group + tile * kBM;
  const int row_end = min(row0 + kBM, token_end * a.group);
  return {qblock, row0, row_end, a.pos0 + row0 / a.group, a.pos0 + (max(row_end, row0 + 1) - 1) / a.group};
}

// The key list of one CTA (see the file comment); encoded(slot) = key (sink / selected), key + kWindowFlag
// (window), or -1 (attended by no row: outside [sink, w(p_last)) for a selected slot, or past the list).
struct HipSlots {
  const int32_t* blocks;  // the listed selected blocks' starts
  int block_k, sink_tokens;
  int sink_len, sel_end, total;
  int w_first, w_last;  // w(p_first), w(p_last)

  __host__ __device__ int encoded(int slot) const {
    if (slot < sink_len) return slot;
    if (slot < sel_end) {
      const int v = slot - sink_len, b = v / block_k;
#ifdef __CUDA_ARCH__
      const int64_t key = (int64_t)__ldg(blocks + b) + (v - b * block_k);
#else
      const int64_t key = (int64_t)blocks[b] + (v - b * block_k);
#endif
      return key >= sink_tokens && key < w_last ? (int)key : -1;
    }
    if (slot < total) return w_first + (slot - sel_end) + kWindowFlag;
    return -1;
  }
};

// Slots of a CTA whose query block lists blocks row[0 .. n) (ascending) with b_lo of them entirely below
// the sink and b_hi starting below w(p_last).
__host__ __device__ inline HipSlots hip_slots(const int32_t* row, int b_lo, int b_hi, int block_k,
                                              int sink_tokens, int window_tokens, int p_first, int p_last) {
  HipSlots s;
  s.blocks = row + b_lo;
  s.block_k = block_k;
  s.sink_tokens = sink_tokens;
  s.w_first = window_begin(p_first, window_tokens);
  s.w_last = window_begin(p_last, window_tokens);
  s.sink_len = min(sink_tokens, s.w_last);
  s.sel_end = s.sink_len + max(b_hi - b_lo, 0) * block_k;
  s.total = s.sel_end + p_last + 1 - s.w_first;
  return s;
}

// hip_slots for a CTA, b_lo and b_hi counted by all kThreads threads together (one pass per kThreads
// blocks).
template <int kThreads>
__device__ HipSlots hip_cta_slots(const HipPrefillArgs& a, const HipCta& cta) {
  const int n = a.max_blocks > 0 ? min(max(a.counts[cta.qblock], 0), a.max_blocks) : 0;
  const int32_t* row = a.blocks + (int64_t)cta.qblock * a.max_blocks;
  const int w_last = window_begin(cta.p_last, a.window_tokens);
  int below = 0, before = 0;
  for (int base = 0; base < n; base += kThreads) {
    const int i = base + threadIdx.x;
    const int64_t start = i < n ? row[i] : 0;
    below += __syncthreads_count(i < n && start + a.block_k <= a.sink_tokens);
    before += __syncthreads_count(i < n && start < w_last);
  }
  return hip_slots(row, below, before, a.block_k, a.sink_tokens, a.window_tokens, cta.p_first, cta.p_last);
}

// The key policy (attention-common.cuh) over HipSlots; slot_keys: shared [stages][kTile] encoded slots of
// the loaded tiles.
template <int kTile>
struct HipKeys {
  HipSlots slots;
  int* slot_keys;
  int window_tokens;

  struct Rows {
    int w_a, p_a, w_b, p_b;  // this thread's rows: window begin and position
    int w_lo, w_hi, p_lo;    // over the rows sharing the masking decision
  };
  __host__ __device__ int load(int stage, int row, int slot, bool record) const {
    const int v = slots.encoded(slot);
    if (record) slot_keys[stage * kTile + row] = v;
    return v < 0 ? -1 : (v & (kWindowFlag - 1));
  }
  __host__ __device__ Rows rows(int qpos_a, int qpos_b, int pos_min, int pos_max) const {
    return {window_begin(qpos_a, window_tokens),
            qpos_a,
            window_begin(qpos_b, window_tokens),
            qpos_b,
            window_begin(pos_min, window_tokens),
            window_begin(pos_max, window_tokens),
            pos_min};
  }
  __host__ __device__ bool need_mask(const Rows& r, int slot0, int n_slots, int stage) const {
    const int slot_end = slot0 + n_slots;
    if (slot0 < slots.sink_len && min(slot_end, slots.sink_len) - 1 >= r.w_lo) return true;
    const int sel0 = max(slot0, slots.sink_len), sel1 = min(slot_end, slots.sel_end);
    if (sel0 < sel1) {
      const int first = slot_keys[stage * kTile + sel0 - slot0],
                last = slot_keys[stage * kTile + sel1 - 1 - slot0];
      if (first < 0 || last < 0 || last >= r.w_lo) return true;
    }
    const int win0 = max(slot0, slots.sel_end);
    if (win0 < slot_end) {
      const int key0 = slots.w_first + (win0 - slots.sel_end),
                key1 = slots.w_first + (slot_end - 1 - slots.sel_end);
      if (key0 < r.w_hi || key1 > r.p_lo) return true;
    }
    return false;
  }
  __host__ __device__ void keep(const Rows& r, int, int stage, int column, bool& keep_a, bool& keep_b) const {
    const int v = slot_keys[stage * kTile + column];
    const int key = v & (kWindowFlag - 1);
    if (v >= kWindowFlag) {
      keep_a = key >= r.w_a && key <= r.p_a;
      keep_b = key >= r.w_b && key <= r.p_b;
    } else {
      keep_a = v >= 0 && v < r.w_a;
      keep_b = v >= 0 && v < r.w_b;
    }
  }
};

// Grid: x = (query block, row tile) pairs, y = kv head.
__global__ void __launch_bounds__(sm90::kThreads, 1) hip_prefill_sm90_kernel(const HipPrefillArgs a) {
#if HIPCODE_PREFILL_SM90A
  __shared__ uint64_t bars[2 * sm90::kStages];  // full[kStages], then empty[kStages]
  __shared__ int slot_keys[sm90::kStages * sm90::kBN];
  extern __shared__ unsigned char smem_raw[];
  const HipCta cta = hip_cta(a, sm90::kBM);
  if (cta.empty()) return;
  const HipKeys<sm90::kBN> keys{hip_cta_slots<sm90::kThreads>(a, cta), slot_keys, a.window_tokens};
  const int n_tiles = (int)ceil_div(keys.slots.total, sm90::kBN);
  sm90::run_pipeline(a.q, a.cache, attn::PrefillOut{a.out}, a.n_heads, a.group, (int)blockIdx.y, cta.row0,
                     cta.row_end, a.pos0, a.scale_log2, a.page_shift, keys, n_tiles, smem_raw, bars);
#else
  (void)a;
#endif
}

constexpr int kMmaWarps = 4;

template <int kD>
__global__ void __launch_bounds__(kMmaWarps * 32) hip_prefill_mma_kernel(const HipPrefillArgs a) {
  __shared__ int slot_keys[2 * attn::kPrefillBN];
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const HipCta cta = hip_cta(a, 16 * kMmaWarps);
  if (cta.empty()) return;
  const HipKeys<attn::kPrefillBN> keys{hip_cta_slots<kMmaWarps * 32>(a, cta), slot_keys, a.window_tokens};
  const int n_tiles = (int)ceil_div(keys.slots.total, attn::kPrefillBN);
  attn::prefill_mma_cta<kD, kMmaWarps>(a.q, a.cache, attn::PrefillOut{a.out}, a.n_heads, a.group,
                                       (int)blockIdx.y, cta.row0, cta.row_end, a.pos0, a.scale_log2,
                                       a.page_shift, keys, n_tiles, smem_raw);
}

std::atomic<bool> g_sm90_enabled{true};

// Whether the current device runs the sm_90a body of hip_prefill_sm90_kernel. Cached per device.
bool sm90_kernel_available() {
  static int cached[64] = {0};
  return sm90::body_available(hip_prefill_sm90_kernel, cached);
}

template <typename Kernel>
void launch(Kernel kernel, const HipPrefillArgs& args, int kBM, int smem, int n_qblocks, cudaStream_t stream,
            const char* op) {
  check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem), op,
             "cannot raise the shared-memory limit");
  HipPrefillArgs a = args;
  a.tiles_per_qblock = (int)ceil_div((int64_t)a.block_q * a.group, kBM);
  const int64_t ctas = (int64_t)n_qblocks * a.tiles_per_qblock;
  HIPCODE_REQUIRE(ctas <= INT_MAX, op, "too many query blocks x row tiles: " + std::to_string(ctas));
  kernel<<<dim3((unsigned)ctas, (unsigned)a.cache.n_kv_heads),
           kBM == sm90::kBM ? sm90::kThreads : kMmaWarps * 32, smem, stream>>>(a);
  check_launch(op);
}

}  // namespace

void hip_prefill_attention_set_sm90(bool enabled) {
  g_sm90_enabled.store(enabled);
}

bool hip_prefill_attention_uses_sm90() {
  return g_sm90_enabled.load() && sm90_kernel_available();
}

void hip_prefill_attention(const __nv_bfloat16* q, const PagedKv& cache, __nv_bfloat16* out, int n_q,
                           int n_heads, int pos0, int sink_tokens, int window_tokens, const int32_t* blocks,
                           const int32_t* counts, int max_blocks, int block_q, int block_k, float scale,
                           cudaStream_t stream) {
  const char* op = "hip_prefill_attention";
  check_bf16_kv(cache, op);
  HIPCODE_REQUIRE(cache.head_dim == 64 || cache.head_dim == 128, op,
                  "cache.head_dim must be 64 or 128, got " + std::to_string(cache.head_dim));
  HIPCODE_REQUIRE(n_q >= 0, op, "n_q must be >= 0, got " + std::to_string(n_q));
  HIPCODE_REQUIRE(n_heads > 0 && n_heads % cache.n_kv_heads == 0, op,
                  "n_heads must be a positive multiple of cache.n_kv_heads, got " + std::to_string(n_heads));
  HIPCODE_REQUIRE(cache.n_kv_heads <= 65535, op, "cache.n_kv_heads must be <= 65535");
  HIPCODE_REQUIRE(pos0 >= 0, op, "pos0 must be >= 0, got " + std::to_string(pos0));
  HIPCODE_REQUIRE((int64_t)pos0 + n_q <= (int64_t)cache.max_pages_per_seq * cache.page_size, op,
                  "pos0 + n_q exceeds the page table (max_pages_per_seq * page_size)");
  HIPCODE_REQUIRE(sink_tokens >= 0, op, "sink_tokens must be >= 0, got " + std::to_string(sink_tokens));
  HIPCODE_REQUIRE(window_tokens >= 1, op, "window_tokens must be >= 1, got " + std::to_string(window_tokens));
  HIPCODE_REQUIRE(block_q >= 1, op, "block_q must be >= 1, got " + std::to_string(block_q));
  HIPCODE_REQUIRE(block_k >= 1, op, "block_k must be >= 1, got " + std::to_string(block_k));
  HIPCODE_REQUIRE(max_blocks >= 0, op, "max_blocks must be >= 0, got " + std::to_string(max_blocks));
  HIPCODE_REQUIRE(max_blocks == 0 || (blocks && counts), op,
                  "blocks and counts must be device pointers when max_blocks > 0");
  HIPCODE_REQUIRE(is_aligned(q, 16) && is_aligned(out, 16) && is_aligned(cache.k_pages, 16) &&
                      is_aligned(cache.v_pages, 16),
                  op, "q, out, k_pages and v_pages must be 16-byte aligned");
  // Slot counts and encoded keys stay below kWindowFlag.
  const int64_t max_slots = (int64_t)sink_tokens + (int64_t)max_blocks * block_k + window_tokens + block_q;
  HIPCODE_REQUIRE((int64_t)pos0 + n_q < kWindowFlag && max_slots < kWindowFlag, op,
                  "positions and sink + max_blocks * block_k + window + block_q must be < 2^30, got last "
                  "position " +
                      std::to_string((int64_t)pos0 + n_q - 1) + " and " + std::to_string(max_slots) +
                      " slots");
  const int group = n_heads / cache.n_kv_heads;
  HIPCODE_REQUIRE((int64_t)n_q * group + (int64_t)block_q * group <= INT_MAX, op,
                  "n_q * (n_heads / n_kv_heads) is too large");
  if (n_q == 0) return;
  const int n_qblocks = (int)ceil_div(n_q, block_q);
  const HipPrefillArgs args{q,
                            out,
                            cache,
                            blocks,
                            counts,
                            n_q,
                            n_heads,
                            group,
                            pos0,
                            sink_tokens,
                            window_tokens,
                            max_blocks,
                            block_q,
                            block_k,
                            0,
                            scale * attn::kLog2e,
                            page_shift_of(cache.page_size)};
  if (cache.head_dim == 128 && hip_prefill_attention_uses_sm90()) {
    launch(hip_prefill_sm90_kernel, args, sm90::kBM, sm90::kSmemBytes, n_qblocks, stream, op);
  } else if (cache.head_dim == 128) {
    launch(hip_prefill_mma_kernel<128>, args, 16 * kMmaWarps, attn::prefill_smem_bytes<128, kMmaWarps>(),
           n_qblocks, stream, op);
  } else {
    launch(hip_prefill_mma_kernel<64>, args, 16 * kMmaWarps, attn::prefill_smem_bytes<64, kMmaWarps>(),
           n_qblocks, stream, op);
  }
}

}  // namespace hipcode::cuda
