// Loading of the weights (with checks against geometry and file sizes) and the forward pass.
#include "core/model.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <new>
#include <string>
#include <tuple>

#include "core/error.h"

namespace hipcode {
namespace {

// Full-length contexts the KV pool is sized for (a long-lived context and a fork of it, say).
constexpr int64_t kExpectedContexts = 2;

EngineError invalid(const std::string& message) {
  return EngineError(ErrorCode::INVALID_ARGUMENT, message);
}

}  // namespace

// Maps files, checks each TensorRef and uploads it; tensors shared by two refs (tied embeddings) upload once.
class Model::Loader {
 public:
  explicit Loader(Model& model) : model_(model) {}

  std::shared_ptr<Weight> load(const TensorRef& ref, const std::vector<int64_t>& expected_shape) {
    if (ref.shape != expected_shape) {
      throw invalid(ref.name + ".shape: expected " + shape_to_string(expected_shape) + ", got " +
                    shape_to_string(ref.shape));
    }
    const auto key = std::make_tuple(ref.file, ref.offset, int(ref.dtype));
    if (auto it = uploaded_.find(key); it != uploaded_.end()) return it->second;

    const MappedFile& file = map(ref.file);
    const auto bytes = uint64_t(Tensor{nullptr, ref.dtype, ref.shape}.elements()) * dtype_size(ref.dtype);
    if (ref.offset > file.size() || bytes > file.size() - ref.offset) {
      throw EngineError(ErrorCode::MODEL_FILE, ref.name + ": bytes [" + std::to_string(ref.offset) + ", " +
                                                   std::to_string(ref.offset + bytes) + ") of a " +
                                                   dtype_name(ref.dtype) + " " + shape_to_string(ref.shape) +
                                                   " tensor lie outside " + ref.file + " (" +
                                                   std::to_string(file.size()) + " bytes)");
    }
    const Tensor host{file.data() + ref.offset, ref.dtype, ref.shape};
    std::shared_ptr<Weight> weight = model_.backend_->upload_weight(host);
    uploaded_[key] = weight;
    return weight;
  }

  Linear load_linear(const LinearRef& ref, int64_t out, int64_t in) {
    Linear linear;
    linear.weight = load(ref.weight, {out, in});
    if (ref.bias) linear.bias = load(*ref.bias, {out});
    return linear;
  }

  std::shared_ptr<Weight> load_optional(const std::optional<TensorRef>& ref, int64_t size) {
    return ref ? load(*ref, {size}) : nullptr;
  }

 private:
  const MappedFile& map(const std::string& path) {
    for (const auto& file : model_.files_) {
      if (file->path() == path) return *file;
    }
    model_.files_.push_back(MappedFile::open(path));
    return *model_.files_.back();
  }

  Model& model_;
  std::map<std::tuple<std::string, uint64_t, int>, std::shared_ptr<Weight>> uploaded_;
};

Model::Model(const ModelGeometry& geometry, std::unique_ptr<Backend> backend)
    : geometry_(geometry), backend_(std::move(backend)) {}

std::shared_ptr<Model> Model::load(const ModelGeometry& geometry, const ModelWeightRefs& refs,
                                   std::unique_ptr<Backend> backend) {
  validate_geometry(geometry);
  const ModelGeometry& g = geometry;
  if (int64_t(refs.layers.size()) != g.num_layers) {
    throw invalid("spec.weights.layers: expected " + std::to_string(g.num_layers) +
                  " layers (numLayers), got " + std::to_string(refs.layers.size()));
  }
  std::shared_ptr<Model> model(new Model(geometry, std::move(backend)));
  Loader loader(*model);
  const int64_t q_size = g.num_heads * g.head_dim;
  const int64_t kv_size = g.num_kv_heads * g.head_dim;
  model->embed_ = loader.load(refs.embed, {g.vocab_size, g.hidden_size});
  for (const LayerWeightRefs& ref : refs.layers) {
    Layer layer;
    layer.attn_norm = loader.load(ref.attn_norm, {g.hidden_size});
    layer.q = loader.load_linear(ref.q, q_size, g.hidden_size);
    layer.k = loader.load_linear(ref.k, kv_size, g.hidden_size);
    layer.v = loader.load_linear(ref.v, kv_size, g.hidden_size);
    layer.o = loader.load_linear(ref.o, g.hidden_size, q_size);
    layer.q_norm = loader.load_optional(ref.q_norm, g.head_dim);
    layer.k_norm = loader.load_optional(ref.k_norm, g.head_dim);
    layer.mlp_norm = loader.load(ref.mlp_norm, {g.hidden_size});
    layer.gate = loader.load_linear(ref.gate, g.intermediate_size, g.hidden_size);
    layer.up = loader.load_linear(ref.up, g.intermediate_size, g.hidden_size);
    layer.down = loader.load_linear(ref.down, g.hidden_size, g.intermediate_size);
    model->layers_.push_back(std::move(layer));
  }
  model->final_norm_ = loader.load(refs.final_norm, {g.hidden_size});
  model->lm_head_ = loader.load(refs.lm_head, {g.vocab_size, g.hidden_size});

  model->create_kv_pool();
  return model;
}

namespace {

// Random weights with the statistics of a trained model's: linear weights of std 1/sqrt(in), unit norms,
// small biases, unit-variance embeddings; every tensor has its own seed.
class SyntheticBuilder {
 public:
  SyntheticBuilder(Backend& backend, uint64_t seed) : backend_(backend), seed_(seed) {}

  std::shared_ptr<Weight> matrix(int64_t out, int64_t in) {
    const float bound = std::sqrt(3.0f / float(in));  // uniform [-b, b] has std b / sqrt(3)
    return backend_.random_weight({out, in}, next_seed(), bound, 0.0f);
  }
  std::shared_ptr<Weight> vector(int64_t size, float scale, float offset) {
    return backend_.random_weight({size}, next_seed(), scale, offset);
  }
  std::shared_ptr<Weight> norm(int64_t size) { return vector(size, 0.05f, 1.0f); }

 private:
  uint64_t next_seed() { return seed_ + 0x9E3779B97F4A7C15ull * ++count_; }

  Backend& backend_;
  uint64_t seed_;
  uint64_t count_ = 0;
};

}  // namespace

std::shared_ptr<Model> Model::synthetic(const ModelGeometry& geometry, const SyntheticWeights& weights,
                                        std::unique_ptr<Backend> backend) {
  validate_geometry(geometry);
  const ModelGeometry& g = geometry;
  std::shared_ptr<Model> model(new Model(geometry, std::move(backend)));
  SyntheticBuilder make(*model->backend_, weights.seed);
  const int64_t q_size = g.num_heads * g.head_dim;
  const int64_t kv_size = g.num_kv_heads * g.head_dim;
  model->embed_ =
      model->backend_->random_weight({g.vocab_size, g.hidden_size}, weights.seed, std::sqrt(3.0f), 0);
  for (int64_t index = 0; index < g.num_layers; ++index) {
    Layer layer;
    layer.attn_norm = make.norm(g.hidden_size);
    layer.q = {make.matrix(q_size, g.hidden_size),
               weights.attention_bias ? make.vector(q_size, 0.1f, 0) : nullptr};
    layer.k = {make.matrix(kv_size, g.hidden_size),
               weights.attention_bias ? make.vector(kv_size, 0.1f, 0) : nullptr};
    layer.v = {make.matrix(kv_size, g.hidden_size),
               weights.attention_bias ? make.vector(kv_size, 0.1f, 0) : nullptr};
    layer.o = {make.matrix(g.hidden_size, q_size), nullptr};
    if (weights.qk_norm) {
      layer.q_norm = make.norm(g.head_dim);
      layer.k_norm = make.norm(g.head_dim);
    }
    layer.mlp_norm = make.norm(g.hidden_size);
    layer.gate = {make.matrix(g.intermediate_size, g.hidden_size), nullptr};
    layer.up = {make.matrix(g.intermediate_size, g.hidden_size), nullptr};
    layer.down = {make.matrix(g.hidden_size, g.intermediate_size), nullptr};
    model->layers_.push_back(std::move(layer));
  }
  model->final_norm_ = make.norm(g.hidden_size);
  model->lm_head_ = weights.tied_embeddings ? model->embed_ : make.matrix(g.vocab_size, g.hidden_size);
  model->create_kv_pool();
  return model;
}

void Model::create_kv_pool() {
  KvLayout layout;
  layout.num_layers = geometry_.num_layers;
  layout.num_kv_heads = geometry_.num_kv_heads;
  layout.head_dim = geometry_.head_dim;
  layout.expected_tokens = kExpectedContexts * geometry_.max_position_embeddings;
  kv_pool_ = std::make_shared<KvPagePool>(backend_->create_kv_store(layout), layout);
}

void Model::set_attention(const AttentionOptions& options) {
  validate_attention_options(options, geometry_.num_layers);
  const ModelGeometry& g = geometry_;
  const std::string reason = options.mode == AttentionMode::DENSE
                                 ? ""
                                 : backend_->hip_unsupported(AttentionShape{g.num_heads, g.num_kv_heads,
                                                                            g.head_dim, g.sliding_window});
  if (!reason.empty()) {
    throw EngineError(ErrorCode::INVALID_ARGUMENT, "attention: HiP is not available on the " +
                                                       std::string(backend_->name()) + " backend: " + reason +
                                                       "; use --attention dense");
  }
  if (options.mode != AttentionMode::DENSE) check_hip_configs(options.hip);
  attention_ = options;
}

void Model::check_hip_configs(const hip::HipModelConfig& configs) const {
  for (int64_t layer = 0; layer < geometry_.num_layers; ++layer) {
    const hip::HipLayerConfig sparse = hip::hip_layer_config(configs, layer);
    const std::string reason = sparse.dense ? "" : backend_->hip_config_unsupported(sparse.config);
    if (reason.empty()) continue;
    throw EngineError(ErrorCode::INVALID_ARGUMENT, "attention.hip: the HiP config of layer " +
                                                       std::to_string(layer) + " does not run on the " +
                                                       backend_->name() + " backend: " + reason +
                                                       "; change HIPCODE_HIP or use --attention dense");
  }
}

std::vector<float> Model::forward(KvCache& cache, const std::vector<int32_t>& ids, LogitsMode mode) {
  return run(cache, ids, mode, nullptr);
}

int32_t Model::step(KvCache& cache, const std::vector<int32_t>& ids, SampleRequest& request) {
  run(cache, ids, LogitsMode::NONE, &request);
  return request.token;
}

void Model::read_kv(KvCache& cache, int64_t first, int64_t count, void* host) {
  std::lock_guard<std::mutex> lock(forward_mutex_);
  const KvBlock block{&cache.pool().store(), &cache.pool().layout(), &cache.page_table(), first, count};
  backend_->read_kv_block(block, host);
}

void Model::write_kv(KvCache& cache, int64_t first, int64_t count, const void* host) {
  std::lock_guard<std::mutex> lock(forward_mutex_);
  const KvBlock block{&cache.pool().store(), &cache.pool().layout(), &cache.page_table(), first, count};
  backend_->write_kv_block(block, host);
}

// Kinds of recorded one-token pass: the logits modes, and sampling on the backend (times the number of HiP
// layers).
constexpr int kSampledStep = 3;
constexpr int kStepKinds = 4;

std::vector<float> Model::run(KvCache& cache, const std::vector<int32_t>& ids, LogitsMode mode,
                              SampleRequest* request) {
  std::lock_guard<std::mutex> lock(forward_mutex_);
  cache.reserve(int64_t(ids.size()));
  try {
    return run_reserved(cache, ids, mode, request);
  } catch (...) {
    cache.release_reserved();
    // Layers before the failure may have updated their HiP masks (and hot copies) with K/V the pass leaves
    // behind: the next step estimates afresh.
    cache.hip_masks().clear();
    throw;
  }
}

std::vector<float> Model::run_reserved(KvCache& cache, const std::vector<int32_t>& ids, LogitsMode mode,
                                       SampleRequest* request) {
  const auto count = int64_t(ids.size());
  const int64_t start = cache.length();
  // Dynamic NTK looks at the largest position of the whole call, as HF does for one forward.
  const RopeFrequencies freqs = rope_frequencies(geometry_.rope, geometry_.head_dim, start + count);
  if (count > 1) {
    std::vector<float> logits = forward_tokens(cache, ids, mode, freqs, request);
    cache.commit(count);
    return logits;
  }
  std::vector<float> logits(mode == LogitsMode::NONE ? 0 : size_t(geometry_.vocab_size));
  const StepInputs inputs{ids[0], start, &freqs, &cache.page_table(), &cache.hip_masks()};
  const HipStep sparse = hip_step(cache, start);
  const int variant = int((request ? kSampledStep : int(mode)) + kStepKinds * sparse.layers);
  if (sparse.refreshes) {
    // A step that re-estimates a HiP mask runs eagerly: its launches depend on the position and the stages.
    logits = forward_tokens(cache, ids, mode, freqs, request);
  } else if (!backend_->replay_step(variant, inputs, logits.data(), request)) {
    backend_->begin_step(variant);
    try {
      logits = forward_tokens(cache, ids, mode, freqs, request);
    } catch (...) {
      backend_->end_step(false);
      throw;
    }
    backend_->end_step(true);
  }
  cache.commit(count);
  return logits;
}

std::vector<float> Model::forward_tokens(KvCache& cache, const std::vector<int32_t>& ids, LogitsMode mode,
                                         const RopeFrequencies& freqs, SampleRequest* request) {
  const auto count = int64_t(ids.size());
  const int64_t start = cache.length();
  std::vector<float> logits;
  if (mode == LogitsMode::ALL) logits.reserve(size_t(count * geometry_.vocab_size));
  // Long prompts run in chunks so activations stay bounded ([chunk, intermediate] and the like).
  const int64_t chunk_tokens = backend_->max_chunk_tokens();
  for (int64_t chunk_start = 0; chunk_start < count; chunk_start += chunk_tokens) {
    const int64_t chunk_count = std::min(chunk_tokens, count - chunk_start);
    const std::vector<int32_t> chunk_ids(ids.begin() + chunk_start, ids.begin() + chunk_start + chunk_count);
    const bool last_chunk = chunk_start + chunk_count == count;
    const bool seeds = last_chunk && (mode != LogitsMode::NONE || request);
    std::unique_ptr<Activation> hidden = forward_chunk(cache, chunk_ids, start + chunk_start, freqs, seeds);
    if (mode == LogitsMode::ALL) append_logits(*hidden, 0, chunk_count, logits);
    if (mode == LogitsMode::LAST && last_chunk) append_logits(*hidden, chunk_count - 1, 1, logits);
    if (request && last_chunk) backend_->sample(*logits_of(*hidden, chunk_count - 1, 1), *request);
  }
  return logits;
}

std::unique_ptr<Activation> Model::forward_chunk(KvCache& cache, const std::vector<int32_t>& ids,
                                                 int64_t first_position, const RopeFrequencies& freqs,
                                                 bool seeds_generation) {
  const auto count = int64_t(ids.size());
  std::unique_ptr<Activation> hidden =
      backend_->allocate(count, geometry_.hidden_size, Precision::F32);  // [n, hidden]
  backend_->embed(*embed_, ids, *hidden);
  for (size_t index = 0; index < layers_.size(); ++index) {
    attention_block(cache, layers_[index], int64_t(index), first_position, freqs, seeds_generation, *hidden);
    mlp_block(layers_[index], *hidden);
  }
  return hidden;
}

void Model::attention_block(KvCache& cache, const Layer& layer, int64_t layer_index, int64_t first_position,
                            const RopeFrequencies& freqs, bool seeds_generation, Activation& hidden) {
  const ModelGeometry& g = geometry_;
  const int64_t count = hidden.rows();
  const auto eps = float(g.rms_norm_eps);
  auto normed = backend_->allocate(count, g.hidden_size);               // [n, hidden]
  auto q = backend_->allocate(count, g.num_heads * g.head_dim);         // [n, heads * head_dim]
  auto k = backend_->allocate(count, g.num_kv_heads * g.head_dim);      // [n, kv_heads * head_dim]
  auto v = backend_->allocate(count, g.num_kv_heads * g.head_dim);      // [n, kv_heads * head_dim]
  auto attended = backend_->allocate(count, g.num_heads * g.head_dim);  // [n, heads * head_dim]

  backend_->rms_norm(hidden, *layer.attn_norm, eps, *normed);
  backend_->linear_group(*normed, {{layer.q.weight.get(), layer.q.bias.get(), q.get()},
                                   {layer.k.weight.get(), layer.k.bias.get(), k.get()},
                                   {layer.v.weight.get(), layer.v.bias.get(), v.get()}});
  if (layer.q_norm) backend_->rms_norm_heads(*q, g.head_dim, *layer.q_norm, eps);
  if (layer.k_norm) backend_->rms_norm_heads(*k, g.head_dim, *layer.k_norm, eps);
  backend_->rope(*q, *k, g.head_dim, freqs, first_position);

  const KvPages pages{&cache.pool().store(), &cache.pool().layout(), &cache.page_table(), layer_index};
  backend_->write_kv(pages, first_position, *k, *v);
  const hip::HipLayerConfig sparse = hip::hip_layer_config(attention_.hip, layer_index);
  const AttentionShape shape{g.num_heads, g.num_kv_heads, g.head_dim, g.sliding_window};
  if (!uses_hip(attention_, sparse, g.sliding_window, first_position + count - 1)) {
    backend_->attention(pages, shape, first_position, *q, *attended);
  } else if (count == 1) {
    hip_attention(cache, pages, sparse.config, first_position, *q, *attended);
  } else {
    backend_->hip_prefill_attention(pages, shape, first_position, sparse.config, seeds_generation, *q,
                                    *attended);
  }
  backend_->linear_add(*attended, *layer.o.weight, layer.o.bias.get(), hidden);
}

Model::HipStep Model::hip_step(KvCache& cache, int64_t position) const {
  HipStep step;
  if (attention_.mode == AttentionMode::DENSE) return step;
  const HipMaskStates& masks = cache.hip_masks();
  for (int64_t layer = 0; layer < geometry_.num_layers; ++layer) {
    const hip::HipLayerConfig sparse = hip::hip_layer_config(attention_.hip, layer);
    if (!uses_hip(attention_, sparse, geometry_.sliding_window, position)) continue;
    ++step.layers;
    const HipMaskState* state = size_t(layer) < masks.size() ? masks[size_t(layer)].get() : nullptr;
    step.refreshes = step.refreshes || first_stage(state, sparse.config, position) >= 0;
  }
  return step;
}

int64_t Model::first_stage(const HipMaskState* state, const hip::HipConfig& config, int64_t position) const {
  const int64_t age = !state || state->estimated_at < 0 ? -1 : position - state->estimated_at;
  return refresh_stage(attention_.refresh_intervals, age, config.stages.size());
}

void Model::hip_attention(KvCache& cache, const KvPages& pages, const hip::HipConfig& config,
                          int64_t position, const Activation& q, Activation& out) {
  const ModelGeometry& g = geometry_;
  HipMaskStates& masks = cache.hip_masks();
  if (masks.size() != layers_.size()) masks.resize(layers_.size());
  std::unique_ptr<HipMaskState>& state = masks[size_t(pages.layer)];
  if (!state) state = backend_->create_hip_mask_state(config);
  const int64_t stage = first_stage(state.get(), config, position);
  // Keys that left the window since the estimation from scratch were candidates no stage has seen: the
  // window keeps them (so its begin stays where that estimation put it).
  const int64_t widen = stage == 0 ? 0 : position - state->estimated_at;
  const HipDecodeCall call{&config, stage, config.window_tokens + widen};
  const AttentionShape shape{g.num_heads, g.num_kv_heads, g.head_dim, 0};
  backend_->hip_attention(pages, shape, position, call, *state, q, out);
  if (stage == 0) state->estimated_at = position;
}

void Model::mlp_block(const Layer& layer, Activation& hidden) {
  const ModelGeometry& g = geometry_;
  const int64_t count = hidden.rows();
  auto normed = backend_->allocate(count, g.hidden_size);           // [n, hidden]
  auto gate = backend_->allocate(count, g.intermediate_size);       // [n, intermediate]
  auto up = backend_->allocate(count, g.intermediate_size);         // [n, intermediate]
  auto activated = backend_->allocate(count, g.intermediate_size);  // [n, intermediate]

  backend_->rms_norm(hidden, *layer.mlp_norm, float(g.rms_norm_eps), *normed);
  backend_->linear_group(*normed, {{layer.gate.weight.get(), layer.gate.bias.get(), gate.get()},
                                   {layer.up.weight.get(), layer.up.bias.get(), up.get()}});
  backend_->swiglu(*gate, *up, *activated);
  backend_->linear_add(*activated, *layer.down.weight, layer.down.bias.get(), hidden);
}

std::unique_ptr<Activation> Model::logits_of(const Activation& hidden, int64_t first_row, int64_t rows) {
  const ModelGeometry& g = geometry_;
  auto selected = backend_->allocate(rows, g.hidden_size, Precision::F32);  // [rows, hidden]
  backend_->copy_rows(hidden, first_row, *selected);
  auto normed = backend_->allocate(rows, g.hidden_size);  // [rows, hidden]
  backend_->rms_norm(*selected, *final_norm_, float(g.rms_norm_eps), *normed);
  auto row_logits = backend_->allocate(rows, g.vocab_size, Precision::F32);  // [rows, vocab]
  backend_->linear(*normed, *lm_head_, nullptr, *row_logits);
  return row_logits;
}

void Model::append_logits(const Activation& hidden, int64_t first_row, int64_t rows,
                          std::vector<float>& logits) {
  const size_t offset = logits.size();
  logits.resize(offset + size_t(rows * geometry_.vocab_size));
  backend_->read(*logits_of(hidden, first_row, rows), logits.data() + offset);
}

}  // namespace hipcode
