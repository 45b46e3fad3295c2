// Model: weights uploaded to a backend and the transformer forward pass (Llama / Mistral / Qwen2 / Qwen3).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "core/attention-options.h"
#include "core/backend.h"
#include "core/kv-cache.h"
#include "core/mapped-file.h"
#include "core/model-config.h"

namespace hipcode {

enum class LogitsMode { ALL, LAST, NONE };

// Which optional tensors a synthetic model has, and the seed of its random weights.
struct SyntheticWeights {
  uint64_t seed = 0;
  bool attention_bias = false;  // q/k/v biases (Qwen2)
  bool qk_norm = false;         // q/k RMSNorm (Qwen3)
  bool tied_embeddings = false;
};

class Model {
 public:
  // Maps the weight files, checks every tensor against the geometry and the file sizes, and uploads the
  // weights. Throws E_INVALID_ARGUMENT, E_MODEL_FILE or E_OUT_OF_MEMORY.
  static std::shared_ptr<Model> load(const ModelGeometry& geometry, const ModelWeightRefs& refs,
                                     std::unique_ptr<Backend> backend);

  // A model of `geometry` with random weights made on the backend (for benchmarks; no files).
  static std::shared_ptr<Model> synthetic(const ModelGeometry& geometry, const SyntheticWeights& weights,
                                          std::unique_ptr<Backend> backend);

  const ModelGeometry& geometry() const { return geometry_; }
  Backend& backend() { return *backend_; }
  const std::shared_ptr<KvPagePool>& kv_pool() const { return kv_pool_; }
  // Sets which attention decode steps run (dense until set); throws E_INVALID_ARGUMENT for bad options.
  void set_attention(const AttentionOptions& options);
  const AttentionOptions& attention() const { return attention_; }

  // Runs `ids` (all in [0, vocab)) at positions cache.length()..., appends their K/V to `cache`, and returns
  // logits: [ids, vocab] for ALL, [1, vocab] for LAST, empty for NONE.
  std::vector<float> forward(KvCache& cache, const std::vector<int32_t>& ids, LogitsMode mode);
  // Runs `ids` like forward, then picks the next token from the last position's logits on the backend.
  int32_t step(KvCache& cache, const std::vector<int32_t>& ids, SampleRequest& request);
  // host [layers, 2, count, kv_heads, head_dim] in backend().kv_dtype() = the cache's positions
  // [first, first + count) (all below its length); waits for any forward pass in flight.
  void read_kv(KvCache& cache, int64_t first, int64_t count, void* host);
  // The cache's positions [first, first + count) (pages reserved) = host, laid out as read_kv's.
  void write_kv(KvCache& cache, int64_t first, int64_t count, const void* host);

 private:
  struct Linear {
    std::shared_ptr<Weight> weight;  // [out, in]
    std::shared_ptr<Weight> bias;    // [out] or null
  };
  struct Layer {
    std::shared_ptr<Weight> attn_norm;  // [hidden]
    Linear q, k, v, o;
    std::shared_ptr<Weight> q_norm, k_norm;  // [head_dim] or null
    std::shared_ptr<Weight> mlp_norm;        // [hidden]
    Linear gate, up, down;
  };
  class Loader;

  Model(const ModelGeometry& geometry, std::unique_ptr<Backend> backend);
  void create_kv_pool();

  // Runs `ids` (reserving and committing the cache): a one-token pass is offered to the backend for replay,
  // else run bracketed by begin_step/end_step. With a `request`, the last position's logits are sampled
  // instead of returned.
  std::vector<float> run(KvCache& cache, const std::vector<int32_t>& ids, LogitsMode mode,
                         SampleRequest* request);
  // run's pass once the cache has pages for the ids (run releases them when the pass fails).
  std::vector<float> run_reserved(KvCache& cache, const std::vector<int32_t>& ids, LogitsMode mode,
                                  SampleRequest* request);
  // The forward pass proper.
  std::vector<float> forward_tokens(KvCache& cache, const std::vector<int32_t>& ids, LogitsMode mode,
                                    const RopeFrequencies& freqs, SampleRequest* request);
  // Runs one chunk of at most backend().max_chunk_tokens() tokens and returns its final hidden states [n,
  // hidden]. `seeds_generation`: the chunk's last position gives the logits read or the token sampled (with
  // HiP, its last query block then attends densely, as does the last one of every HiP prefill chunk in
  // absolute positions; other whole query blocks stay sparse, so that a context prefilled in any chunks of
  // whole blocks holds the same K/V).
  std::unique_ptr<Activation> forward_chunk(KvCache& cache, const std::vector<int32_t>& ids,
                                            int64_t first_position, const RopeFrequencies& freqs,
                                            bool seeds_generation);
  void attention_block(KvCache& cache, const Layer& layer, int64_t layer_index, int64_t first_position,
                       const RopeFrequencies& freqs, bool seeds_generation, Activation& hidden);
  // A decode step's HiP layers: how many run HiP attention at `position` (as the position grows layers only
  // join, so the count tells the sets apart), and whether any re-estimates its mask in `cache` (such steps
  // are not recorded).
  struct HipStep {
    int64_t layers = 0;
    bool refreshes = false;
  };
  HipStep hip_step(KvCache& cache, int64_t position) const;
  // The first stage a HiP layer's decode step at `position` re-estimates with `state` (null: none yet), or
  // -1.
  int64_t first_stage(const HipMaskState* state, const hip::HipConfig& config, int64_t position) const;
  // Throws E_INVALID_ARGUMENT naming the first layer whose HiP config the backend cannot run.
  void check_hip_configs(const hip::HipModelConfig& configs) const;
  // The layer's HiP decode attention (q [1, heads * head_dim] -> out), estimating its mask in `cache` when
  // the refresh interval has passed.
  void hip_attention(KvCache& cache, const KvPages& pages, const hip::HipConfig& config, int64_t position,
                     const Activation& q, Activation& out);
  void mlp_block(const Layer& layer, Activation& hidden);
  // logits [rows, vocab] (f32) of hidden rows [first_row, first_row + rows).
  std::unique_ptr<Activation> logits_of(const Activation& hidden, int64_t first_row, int64_t rows);
  // Those logits appended to `logits` on the host.
  void append_logits(const Activation& hidden, int64_t first_row, int64_t rows, std::vector<float>& logits);

  ModelGeometry geometry_;
  std::unique_ptr<Backend> backend_;
  std::vector<std::shared_ptr<MappedFile>> files_;
  std::shared_ptr<Weight> embed_;  // [vocab, hidden]
  std::vector<Layer> layers_;
  std::shared_ptr<Weight> final_norm_;  // [hidden]
  std::shared_ptr<Weight> lm_head_;     // [vocab, hidden]
  std::shared_ptr<KvPagePool> kv_pool_;
  AttentionOptions attention_;
  std::mutex forward_mutex_;  // one forward pass at a time: sessions share the backend's buffers and stream
};

}  // namespace hipcode
