// Backend: the compute interface the model runs on. Buffers are backend-owned and opaque to the model, so
// the same model code drives the CPU backend (f32 activations) and a GPU backend (bf16 activations).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/hip-mask-state.h"
#include "core/host-buffer.h"
#include "core/kv-cache.h"
#include "core/rope.h"
#include "core/sampler.h"
#include "core/tensor.h"
#include "hip/hip-config.h"

namespace hipcode {

// A row-major activation matrix [rows, cols] in the backend's compute dtype.
class Activation {
 public:
  Activation(int64_t rows, int64_t cols) : rows_(rows), cols_(cols) {}
  virtual ~Activation() = default;
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }

 private:
  int64_t rows_;
  int64_t cols_;
};

// A weight uploaded from a host tensor; keeps the tensor's shape.
class Weight {
 public:
  explicit Weight(std::vector<int64_t> shape) : shape_(std::move(shape)) {}
  virtual ~Weight() = default;
  const std::vector<int64_t>& shape() const { return shape_; }

 private:
  std::vector<int64_t> shape_;
};

// Where one layer's keys and values live in the paged cache.
struct KvPages {
  KvPageStore* store;
  const KvLayout* layout;
  const std::vector<int32_t>* page_table;  // page ids covering positions [0, ...)
  int64_t layer;
};

// Positions [first, first + count) of a cache, every layer (what snapshots copy to and from the host).
struct KvBlock {
  KvPageStore* store;
  const KvLayout* layout;
  const std::vector<int32_t>* page_table;  // page ids covering positions [0, first + count)
  int64_t first;
  int64_t count;
};

// How precisely an activation is stored. COMPUTE is the backend's working dtype (f32 on the CPU, bf16 on a
// GPU); F32 is for the residual stream, the RoPE table and logits, which lose too much in 16 bits.
enum class Precision { COMPUTE, F32 };

// What a recorded one-token pass needs to run again: the token, its position, the RoPE frequencies, the
// session's page table and its HiP masks (none of which the pass re-estimates).
struct StepInputs {
  int32_t id;
  int64_t position;
  const RopeFrequencies* freqs;
  const std::vector<int32_t>* page_table;
  const HipMaskStates* hip_masks;
};

// One output of linear_group: y [n, out] = x · weight [out, in]ᵀ + bias [out] (bias may be null).
struct LinearTarget {
  const Weight* weight;
  const Weight* bias;
  Activation* y;
};

struct AttentionShape {
  int64_t num_heads;
  int64_t num_kv_heads;
  int64_t head_dim;
  int64_t sliding_window;  // 0 = none
};

// How one HiP decode step attends (see Backend::hip_attention).
struct HipDecodeCall {
  const hip::HipConfig* config;
  // -1: reuse the state's mask; 0: estimate it for this query; i > 0: re-run the stages from i on, from the
  // stage inputs the state kept (the reference's per-stage refresh).
  int64_t first_stage;
  int64_t window_tokens;  // the window attended: config's, widened by the steps since the estimation
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;

  // ---- one-token forward passes (decode steps)
  // The model brackets every one-token forward pass it runs with begin_step/end_step (`variant` tells kinds
  // of pass apart; ok = false when an op threw); a backend may record it. A pass that re-estimates a HiP mask
  // is never bracketed. Before running one, the model offers the backend to replay a recording with new
  // inputs instead: replay_step returns false when it has none.
  virtual void begin_step(int /*variant*/) {}
  virtual void end_step(bool /*ok*/) {}
  // A replayed pass either copies its logits to `logits` or, given a `request`, samples the next token.
  virtual bool replay_step(int /*variant*/, const StepInputs& /*inputs*/, float* /*logits*/,
                           SampleRequest* /*request*/) {
    return false;
  }
  // How many one-token passes ran as replays so far.
  virtual int64_t replayed_steps() const { return 0; }

  // ---- allocation
  virtual std::unique_ptr<Activation> allocate(int64_t rows, int64_t cols,
                                               Precision precision = Precision::COMPUTE) = 0;
  // Most tokens one forward pass should take at once (bounds activation memory; larger chunks feed GEMMs).
  virtual int64_t max_chunk_tokens() const = 0;
  // The host tensor's memory stays valid for the backend's lifetime (it is an mmapped file).
  virtual std::unique_ptr<Weight> upload_weight(const Tensor& host) = 0;
  // A weight of uniform random values in [offset - scale, offset + scale] made on the backend itself
  // (benchmarks of full-size geometries need no files); `seed` makes it reproducible.
  virtual std::unique_ptr<Weight> random_weight(const std::vector<int64_t>& shape, uint64_t seed, float scale,
                                                float offset) = 0;
  virtual std::unique_ptr<KvPageStore> create_kv_store(const KvLayout& layout) = 0;

  // ---- KV pages to and from host memory (snapshots)
  // The dtype the KV pages store (by default f32 on the CPU, bf16 on a GPU; fp8-e4m3 on either when chosen):
  // what read_kv_block writes.
  virtual DType kv_dtype() const = 0;
  // host [layers, 2 (K, V), count, kv_heads, head_dim] in kv_dtype() = the block's keys and values
  virtual void read_kv_block(const KvBlock& block, void* host) = 0;
  // The block's keys and values = host [layers, 2 (K, V), count, kv_heads, head_dim] in kv_dtype()
  virtual void write_kv_block(const KvBlock& block, const void* host) = 0;
  // Host memory that read_kv_block and write_kv_block copy to and from fastest (pinned on a GPU).
  virtual HostBuffer host_buffer(size_t bytes) { return plain_host_buffer(bytes); }

  // ---- ops; shapes in comments are [rows, cols]
  // out [ids, hidden] = table [vocab, hidden] rows `ids` (already range-checked)
  virtual void embed(const Weight& table, const std::vector<int32_t>& ids, Activation& out) = 0;
  // out [n, d] = x / rms(x) * gamma [d]
  virtual void rms_norm(const Activation& x, const Weight& gamma, float eps, Activation& out) = 0;
  // x [n, heads * head_dim]: in-place rms_norm of every head_dim slice with gamma [head_dim]
  virtual void rms_norm_heads(Activation& x, int64_t head_dim, const Weight& gamma, float eps) = 0;
  // y [n, out] = x [n, in] · weight [out, in]ᵀ + bias [out]
  virtual void linear(const Activation& x, const Weight& weight, const Weight* bias, Activation& y) = 0;
  // Several linear layers reading the same x [n, in] (q/k/v, gate/up): every target's y = x · weightᵀ + bias.
  // A backend may run them as one pass over x.
  virtual void linear_group(const Activation& x, const std::vector<LinearTarget>& targets) = 0;
  // y [n, out] += x [n, in] · weight [out, in]ᵀ + bias [out]: a block's output added to the residual stream.
  virtual void linear_add(const Activation& x, const Weight& weight, const Weight* bias, Activation& y) = 0;
  // In-place RoPE of q [n, heads * head_dim] and k [n, kv_heads * head_dim] at positions first_position +
  // row, pairing (i, i + head_dim / 2) (HF rotate_half convention), cos and sin scaled by
  // freqs.attention_factor.
  virtual void rope(Activation& q, Activation& k, int64_t head_dim, const RopeFrequencies& freqs,
                    int64_t first_position) = 0;
  // Stores k, v [n, kv_heads * head_dim] at positions first_position + row of the layer's pages.
  virtual void write_kv(const KvPages& pages, int64_t first_position, const Activation& k,
                        const Activation& v) = 0;
  // out [n, heads * head_dim]: causal GQA attention of q [n, heads * head_dim] (positions first_position +
  // row) over the cached keys and values at positions <= the query's (and within the sliding window).
  virtual void attention(const KvPages& pages, const AttentionShape& shape, int64_t first_position,
                         const Activation& q, Activation& out) = 0;
  // Why this backend cannot run HiP decode attention for layers of `shape`; empty when it can.
  virtual std::string hip_unsupported(const AttentionShape& /*shape*/) const { return ""; }
  // Why this backend's HiP kernels cannot run `config` (limits beyond hip::validate_hip_config's); empty when
  // they can.
  virtual std::string hip_config_unsupported(const hip::HipConfig& /*config*/) const { return ""; }
  // An empty HiP decode mask for layers of `config`.
  virtual std::unique_ptr<HipMaskState> create_hip_mask_state(const hip::HipConfig& config) = 0;
  // out [1, heads * head_dim]: HiP decode attention of q [1, heads * head_dim] at `position` (its K/V
  // already written). With call.first_stage >= 0 the backend first (re-)estimates the mask into `state` (the
  // key blocks hip::select_key_blocks_from picks for this query); the query then attends its sink, the
  // state's blocks and the last call.window_tokens keys (hip::block_sparse_attention with that window).
  virtual void hip_attention(const KvPages& pages, const AttentionShape& shape, int64_t position,
                             const HipDecodeCall& call, HipMaskState& state, const Activation& q,
                             Activation& out) = 0;
  // out [n, heads * head_dim]: HiP prefill attention of a pass q [n, heads * head_dim] at positions
  // first_position + row (its K/V already written), segment by segment (config.prefill_segments, given
  // whether the pass's last position seeds generation): each block of config.block_q rows of a segment's
  // sparse rows attends its sink, the key blocks hip::select_key_blocks picks for it among the segment's
  // queries and its window (hip::block_sparse_attention); the segment's other rows attend every key (dense
  // causal attention).
  virtual void hip_prefill_attention(const KvPages& pages, const AttentionShape& shape,
                                     int64_t first_position, const hip::HipConfig& config,
                                     bool seeds_generation, const Activation& q, Activation& out) = 0;
  // out [n, d] = silu(gate [n, d]) * up [n, d]
  virtual void swiglu(const Activation& gate, const Activation& up, Activation& out) = 0;
  // dst [m, d] = src rows [first_row, first_row + m)
  virtual void copy_rows(const Activation& src, int64_t first_row, Activation& dst) = 0;
  // x = host [rows * cols] f32
  virtual void write(Activation& x, const float* host) = 0;
  // Picks the next token from logits [1, vocab] (HF filters, then the request's draw) into request.token. A
  // backend that records steps may complete the request only when the step ends.
  virtual void sample(const Activation& logits, SampleRequest& request) = 0;
  // host [rows * cols] f32 = x
  virtual void read(const Activation& x, float* host) = 0;
};

}  // namespace hipcode
