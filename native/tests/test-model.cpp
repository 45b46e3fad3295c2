// The whole forward pass on the CPU backend against a naive double-precision transformer, plus weight
// checks at load time.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>

#include "core/backend-factory.h"
#include "core/error.h"
#include "core/model.h"
#include "core/session.h"
#include "cuda/cuda-probe.h"
#include "tests/check.h"
#include "tests/helpers.h"

using namespace hipcode;
using namespace hipcode::test;

namespace {

// A weights file written tensor by tensor, with the decoded values kept for the reference.
class WeightsFile {
 public:
  WeightsFile(DType dtype, uint64_t seed) : dtype_(dtype), rng_(seed) {
    path_ = "/tmp/hipcode-test-" + std::to_string(getpid()) + "-" + std::to_string(seed) + ".bin";
    bytes_.assign(24, 0);  // a fake header, so offsets start past 0
  }
  ~WeightsFile() { std::remove(path_.c_str()); }

  TensorRef add(const std::string& name, std::vector<int64_t> shape, double scale, double offset = 0) {
    size_t count = 1;
    for (int64_t dim : shape) count *= size_t(dim);
    RandomTensor tensor = random_tensor(rng_, count, dtype_, scale);
    if (offset != 0) {  // norm weights around 1: re-encode value + offset via f32 (exact in bf16/f32 paths)
      for (size_t i = 0; i < count; ++i) tensor.values[i] += offset;
      tensor = encode(tensor.values);
    }
    TensorRef ref{name, path_, bytes_.size(), dtype_, shape};
    bytes_.insert(bytes_.end(), tensor.bytes.begin(), tensor.bytes.end());
    values_[name] = tensor.values;
    return ref;
  }

  void save() const {
    std::ofstream(path_, std::ios::binary).write((const char*)bytes_.data(), bytes_.size());
  }
  const std::vector<double>& values(const std::string& name) const { return values_.at(name); }
  const std::string& path() const { return path_; }

 private:
  // Stores values as dtype, rounding through f32 (bf16 rounds to nearest; f16 only for exact values).
  RandomTensor encode(const std::vector<double>& values) const {
    RandomTensor tensor;
    tensor.bytes.resize(values.size() * dtype_size(dtype_));
    for (size_t i = 0; i < values.size(); ++i) {
      const auto value = float(values[i]);
      if (dtype_ == DType::F32) {
        std::memcpy(&tensor.bytes[i * 4], &value, 4);
        tensor.values.push_back(value);
      } else {
        const uint16_t bits = f32_to_bf16(value);
        std::memcpy(&tensor.bytes[i * 2], &bits, 2);
        tensor.values.push_back(reference_bf16(bits));
      }
    }
    return tensor;
  }

  DType dtype_;
  std::mt19937_64 rng_;
  std::string path_;
  std::vector<uint8_t> bytes_;
  std::map<std::string, std::vector<double>> values_;
};

struct TinyModel {
  ModelGeometry geometry;
  ModelWeightRefs refs;
  bool qk_norm = false;
  bool bias = false;
  bool tied = false;
};

TinyModel make_tiny(WeightsFile& file, bool qk_norm, bool bias, bool tied, int64_t window, RopeType rope) {
  TinyModel m;
  ModelGeometry& g = m.geometry;
  g.hidden_size = 32;
  g.intermediate_size = 48;
  g.num_layers = 2;
  g.num_heads = 4;
  g.num_kv_heads = 2;
  g.head_dim = 16;
  g.vocab_size = 50;
  g.rms_norm_eps = 1e-6;
  g.sliding_window = window;
  g.max_position_embeddings = 64;
  g.rope.type = rope;
  g.rope.theta = 1000;
  g.rope.factor = 2;
  g.rope.original_max_position_embeddings = 6;
  g.rope.attention_factor = 1.07;
  m.qk_norm = qk_norm;
  m.bias = bias;
  m.tied = tied;
  const int64_t q = g.num_heads * g.head_dim, kv = g.num_kv_heads * g.head_dim;
  auto linear = [&](const std::string& name, int64_t out, int64_t in) {
    LinearRef ref;
    ref.weight = file.add(name + ".weight", {out, in}, 0.3);
    if (bias) ref.bias = file.add(name + ".bias", {out}, 0.1);
    return ref;
  };
  m.refs.embed = file.add("embed", {g.vocab_size, g.hidden_size}, 1.0);
  for (int64_t l = 0; l < g.num_layers; ++l) {
    const std::string p = "layers[" + std::to_string(l) + "]";
    LayerWeightRefs layer;
    layer.attn_norm = file.add(p + ".attnNorm", {g.hidden_size}, 0.2, 1.0);
    layer.q = linear(p + ".q", q, g.hidden_size);
    layer.k = linear(p + ".k", kv, g.hidden_size);
    layer.v = linear(p + ".v", kv, g.hidden_size);
    layer.o = linear(p + ".o", g.hidden_size, q);
    if (qk_norm) {
      layer.q_norm = file.add(p + ".qNorm", {g.head_dim}, 0.2, 1.0);
      layer.k_norm = file.add(p + ".kNorm", {g.head_dim}, 0.2, 1.0);
    }
    layer.mlp_norm = file.add(p + ".mlpNorm", {g.hidden_size}, 0.2, 1.0);
    layer.gate = linear(p + ".gate", g.intermediate_size, g.hidden_size);
    layer.up = linear(p + ".up", g.intermediate_size, g.hidden_size);
    layer.down = linear(p + ".down", g.hidden_size, g.intermediate_size);
    m.refs.layers.push_back(layer);
  }
  m.refs.final_norm = file.add("finalNorm", {g.hidden_size}, 0.2, 1.0);
  m.refs.lm_head = tied ? m.refs.embed : file.add("lmHead", {g.vocab_size, g.hidden_size}, 0.3);
  return m;
}

using Matrix = std::vector<std::vector<double>>;  // [rows][cols]

Matrix ref_linear(const WeightsFile& file, const std::string& name, const Matrix& x, bool bias) {
  const std::vector<double>& w = file.values(name + ".weight");
  const size_t in = x[0].size(), out = w.size() / in;
  Matrix y(x.size(), std::vector<double>(out, 0.0));
  for (size_t t = 0; t < x.size(); ++t) {
    for (size_t o = 0; o < out; ++o) {
      double sum = bias ? file.values(name + ".bias")[o] : 0.0;
      for (size_t k = 0; k < in; ++k) sum += x[t][k] * w[o * in + k];
      y[t][o] = sum;
    }
  }
  return y;
}

void ref_rms_norm(std::vector<double>& row, size_t first, size_t size, const std::vector<double>& gamma,
                  double eps) {
  double mean = 0;
  for (size_t i = 0; i < size; ++i) mean += row[first + i] * row[first + i] / double(size);
  for (size_t i = 0; i < size; ++i) row[first + i] = row[first + i] / std::sqrt(mean + eps) * gamma[i];
}

void ref_rope(std::vector<double>& row, int64_t heads, int64_t head_dim, int64_t position,
              const RopeFrequencies& f) {
  const int64_t half = head_dim / 2;
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < half; ++i) {
      const double angle = double(position) * double(f.inv_freq[size_t(i)]);
      const double c = std::cos(angle) * f.attention_factor, s = std::sin(angle) * f.attention_factor;
      double& a = row[size_t(h * head_dim + i)];
      double& b = row[size_t(h * head_dim + i + half)];
      const double a0 = a, b0 = b;
      a = a0 * c - b0 * s;
      b = b0 * c + a0 * s;
    }
  }
}

// Logits [tokens][vocab] of a naive double-precision forward over the whole sequence.
Matrix reference_logits(const TinyModel& m, const WeightsFile& file, const std::vector<int32_t>& ids,
                        int64_t rope_seq_len) {
  const ModelGeometry& g = m.geometry;
  const size_t n = ids.size();
  const RopeFrequencies freqs = rope_frequencies(g.rope, g.head_dim, rope_seq_len);
  Matrix hidden(n, std::vector<double>(size_t(g.hidden_size)));
  const std::vector<double>& embed = file.values("embed");
  for (size_t t = 0; t < n; ++t) {
    for (int64_t i = 0; i < g.hidden_size; ++i)
      hidden[t][size_t(i)] = embed[size_t(ids[t] * g.hidden_size + i)];
  }
  for (int64_t l = 0; l < g.num_layers; ++l) {
    const std::string p = "layers[" + std::to_string(l) + "]";
    Matrix normed = hidden;
    for (auto& row : normed) ref_rms_norm(row, 0, row.size(), file.values(p + ".attnNorm"), g.rms_norm_eps);
    Matrix q = ref_linear(file, p + ".q", normed, m.bias);
    Matrix k = ref_linear(file, p + ".k", normed, m.bias);
    Matrix v = ref_linear(file, p + ".v", normed, m.bias);
    for (size_t t = 0; t < n; ++t) {
      if (m.qk_norm) {
        for (int64_t h = 0; h < g.num_heads; ++h)
          ref_rms_norm(q[t], size_t(h * g.head_dim), size_t(g.head_dim), file.values(p + ".qNorm"),
                       g.rms_norm_eps);
        for (int64_t h = 0; h < g.num_kv_heads; ++h)
          ref_rms_norm(k[t], size_t(h * g.head_dim), size_t(g.head_dim), file.values(p + ".kNorm"),
                       g.rms_norm_eps);
      }
      ref_rope(q[t], g.num_heads, g.head_dim, int64_t(t), freqs);
      ref_rope(k[t], g.num_kv_heads, g.head_dim, int64_t(t), freqs);
    }
    Matrix attended(n, std::vector<double>(size_t(g.num_heads * g.head_dim), 0.0));
    const int64_t group = g.num_heads / g.num_kv_heads;
    for (size_t t = 0; t < n; ++t) {
      for (int64_t h = 0; h < g.num_heads; ++h) {
        const int64_t kvh = h / group;
        std::vector<double> weights(t + 1, 0.0);
        double max_score = -1e300;
        for (size_t s = 0; s <= t; ++s) {
          if (g.sliding_window > 0 && int64_t(s) <= int64_t(t) - g.sliding_window) continue;
          double score = 0;
          for (int64_t d = 0; d < g.head_dim; ++d)
            score += q[t][size_t(h * g.head_dim + d)] * k[s][size_t(kvh * g.head_dim + d)];
          weights[s] = score / std::sqrt(double(g.head_dim));
          max_score = std::max(max_score, weights[s]);
        }
        double total = 0;
        for (size_t s = 0; s <= t; ++s) {
          const bool masked = g.sliding_window > 0 && int64_t(s) <= int64_t(t) - g.sliding_window;
          weights[s] = masked ? 0.0 : std::exp(weights[s] - max_score);
          total += weights[s];
        }
        for (size_t s = 0; s <= t; ++s) {
          for (int64_t d = 0; d < g.head_dim; ++d)
            attended[t][size_t(h * g.head_dim + d)] +=
                weights[s] / total * v[s][size_t(kvh * g.head_dim + d)];
        }
      }
    }
    const Matrix projected = ref_linear(file, p + ".o", attended, m.bias);
    for (size_t t = 0; t < n; ++t)
      for (size_t i = 0; i < hidden[t].size(); ++i) hidden[t][i] += projected[t][i];
    normed = hidden;
    for (auto& row : normed) ref_rms_norm(row, 0, row.size(), file.values(p + ".mlpNorm"), g.rms_norm_eps);
    const Matrix gate = ref_linear(file, p + ".gate", normed, m.bias);
    Matrix up = ref_linear(file, p + ".up", normed, m.bias);
    for (size_t t = 0; t < n; ++t)
      for (size_t i = 0; i < up[t].size(); ++i) up[t][i] *= gate[t][i] / (1 + std::exp(-gate[t][i]));
    const Matrix down = ref_linear(file, p + ".down", up, m.bias);
    for (size_t t = 0; t < n; ++t)
      for (size_t i = 0; i < hidden[t].size(); ++i) hidden[t][i] += down[t][i];
  }
  for (auto& row : hidden) ref_rms_norm(row, 0, row.size(), file.values("finalNorm"), g.rms_norm_eps);
  Matrix logits(n, std::vector<double>(size_t(g.vocab_size)));
  const std::vector<double>& head = file.values(m.tied ? "embed" : "lmHead");
  for (size_t t = 0; t < n; ++t) {
    for (int64_t o = 0; o < g.vocab_size; ++o) {
      double sum = 0;
      for (int64_t i = 0; i < g.hidden_size; ++i)
        sum += hidden[t][size_t(i)] * head[size_t(o * g.hidden_size + i)];
      logits[t][size_t(o)] = sum;
    }
  }
  return logits;
}

double worst_error(const std::vector<float>& actual, const Matrix& expected, size_t first_row) {
  double worst = 0;
  const size_t vocab = expected[0].size();
  for (size_t i = 0; i < actual.size(); ++i) {
    worst = std::max(worst, std::fabs(double(actual[i]) - expected[first_row + i / vocab][i % vocab]));
  }
  return worst;
}

void check_model(bool qk_norm, bool bias, bool tied, int64_t window, RopeType rope, DType dtype,
                 uint64_t seed) {
  WeightsFile file(dtype, seed);
  const TinyModel m = make_tiny(file, qk_norm, bias, tied, window, rope);
  file.save();
  std::shared_ptr<Model> model = Model::load(m.geometry, m.refs, create_backend({"cpu", 0, 2}));
  const std::vector<int32_t> ids = {3, 17, 42, 0, 49, 8, 8, 21};
  const Matrix expected = reference_logits(m, file, ids, int64_t(ids.size()));

  Session whole(model, {64, 1});
  const std::vector<float> all = whole.forward(ids, LogitsMode::ALL);
  CHECK(all.size() == ids.size() * 50);
  CHECK_NEAR(worst_error(all, expected, 0), 0.0, 2e-4);

  // The same tokens in two calls, the second asking for the last row only.
  Session split(model, {64, 1});
  const std::vector<int32_t> head(ids.begin(), ids.begin() + 5), tail(ids.begin() + 5, ids.end());
  const std::vector<float> first = split.forward(head, LogitsMode::NONE);
  CHECK(first.empty() && split.length() == 5);
  const std::vector<float> last = split.forward(tail, LogitsMode::LAST);
  CHECK(last.size() == 50);
  if (rope != RopeType::DYNAMIC) CHECK_NEAR(worst_error(last, expected, ids.size() - 1), 0.0, 2e-4);

  // Truncate and redo: the cache rewinds.
  split.truncate(2);
  const std::vector<float> redo = split.forward({42, 0, 49, 8, 8, 21}, LogitsMode::ALL);
  if (rope != RopeType::DYNAMIC) CHECK_NEAR(worst_error(redo, expected, 2), 0.0, 2e-4);
}

}  // namespace

TEST(model_forward_qwen3_style_bf16_tied) {
  check_model(true, false, true, 0, RopeType::DEFAULT, DType::BF16, 1);
}
TEST(model_forward_qwen2_style_f32_bias) {
  check_model(false, true, false, 0, RopeType::DEFAULT, DType::F32, 2);
}
TEST(model_forward_sliding_window_yarn) {
  check_model(false, false, false, 3, RopeType::YARN, DType::BF16, 3);
}
TEST(model_forward_dynamic_rope_beyond_original) {
  check_model(false, false, true, 0, RopeType::DYNAMIC, DType::BF16, 4);
}

TEST(model_load_rejects_bad_weights) {
  WeightsFile file(DType::BF16, 9);
  TinyModel m = make_tiny(file, false, false, true, 0, RopeType::DEFAULT);
  file.save();
  TinyModel wrong_shape = m;
  wrong_shape.refs.layers[1].q.weight.shape = {32, 64};
  try {
    Model::load(wrong_shape.geometry, wrong_shape.refs, create_backend({"cpu", 0, 1}));
    CHECK(false);
  } catch (const EngineError& error) {
    CHECK(error.code() == ErrorCode::INVALID_ARGUMENT);
    CHECK(std::string(error.what()).find("layers[1].q.weight.shape: expected [64, 32], got [32, 64]") !=
          std::string::npos);
  }
  TinyModel out_of_range = m;
  out_of_range.refs.final_norm.offset = 1u << 20;
  CHECK_THROWS_CODE(Model::load(out_of_range.geometry, out_of_range.refs, create_backend({"cpu", 0, 1})),
                    ErrorCode::MODEL_FILE);
  TinyModel missing = m;
  missing.refs.embed.file = "/nonexistent/model.safetensors";
  CHECK_THROWS_CODE(Model::load(missing.geometry, missing.refs, create_backend({"cpu", 0, 1})),
                    ErrorCode::MODEL_FILE);
  CHECK_THROWS_CODE(create_backend({"cuda", 99, 0}),
                    cuda::probe().available ? ErrorCode::INVALID_ARGUMENT : ErrorCode::BACKEND_UNAVAILABLE);
}

TEST(session_checks_ids_and_capacity) {
  WeightsFile file(DType::BF16, 10);
  const TinyModel m = make_tiny(file, false, false, true, 0, RopeType::DEFAULT);
  file.save();
  std::shared_ptr<Model> model = Model::load(m.geometry, m.refs, create_backend({"cpu", 0, 1}));
  Session session(model, {4, 1});
  CHECK_THROWS_CODE(session.forward({1, 50}, LogitsMode::NONE), ErrorCode::INVALID_ARGUMENT);
  CHECK_THROWS_CODE(session.forward({-1}, LogitsMode::NONE), ErrorCode::INVALID_ARGUMENT);
  CHECK_THROWS_CODE(session.forward({}, LogitsMode::NONE), ErrorCode::INVALID_ARGUMENT);
  session.forward({1, 2, 3}, LogitsMode::NONE);
  CHECK_THROWS_CODE(session.forward({1, 2}, LogitsMode::NONE), ErrorCode::CONTEXT_FULL);
  CHECK(session.length() == 3);
  SamplingParams greedy;
  const int32_t token = session.step({4}, greedy);
  CHECK(token >= 0 && token < 50 && session.length() == 4);
}
