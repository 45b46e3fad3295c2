// CpuBackend: buffers in host memory and the element-wise ops; linear and attention live in their own files.
#include "cpu/cpu-backend.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/random.h"
#include "core/thread-pool.h"
#include "cpu/attention.h"
#include "cpu/hip-attention.h"
#include "cpu/linear.h"

namespace hipcode::cpu {
namespace {

class CpuActivation : public Activation {
 public:
  CpuActivation(int64_t rows, int64_t cols) : Activation(rows, cols), values(size_t(rows * cols)) {}
  std::vector<float> values;  // [rows, cols]
};

// A weight used in place (matrices) or widened to f32 once (vectors, and tensors whose data is misaligned).
class CpuWeight : public Weight {
 public:
  explicit CpuWeight(const Tensor& host) : Weight(host.shape), view(host) {
    const bool aligned = reinterpret_cast<uintptr_t>(host.data) % dtype_size(host.dtype) == 0;
    if (host.shape.size() > 1 && aligned) return;
    widened.resize(size_t(host.elements()));
    if (aligned) {
      convert_to_f32(host.data, host.dtype, widened.size(), widened.data());
    } else {
      std::vector<uint8_t> copy(widened.size() * dtype_size(host.dtype));
      std::memcpy(copy.data(), host.data, copy.size());
      convert_to_f32(copy.data(), host.dtype, widened.size(), widened.data());
    }
    view = Tensor{widened.data(), DType::F32, host.shape};
  }

  CpuWeight(const std::vector<int64_t>& shape, std::vector<float> values)
      : Weight(shape), view{nullptr, DType::F32, shape}, widened(std::move(values)) {
    view.data = widened.data();
  }

  Tensor view;                 // what the kernels read
  std::vector<float> widened;  // f32 copy when the view does not point into the file
};

class CpuKvStore : public KvPageStore {
 public:
  CpuKvStore(const KvLayout& layout, DType dtype)
      : page_bytes_(kv_page_bytes(layout.num_layers, layout.num_kv_heads, layout.page_tokens, layout.head_dim,
                                  dtype)) {}

  int32_t add_page() override {
    std::lock_guard<std::mutex> lock(mutex_);
    try {
      pages_.emplace_back(new uint8_t[page_bytes_]());
    } catch (const std::bad_alloc&) {
      throw EngineError(ErrorCode::OUT_OF_MEMORY, "no host memory left for another KV cache page (" +
                                                      std::to_string(page_bytes_) + " bytes)");
    }
    return int32_t(pages_.size() - 1);
  }

  KvStoreMemory memory() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    return {0, uint64_t(pages_.size()) * page_bytes_};
  }

  std::vector<uint8_t*> resolve(const std::vector<int32_t>& page_table) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<uint8_t*> pointers;
    pointers.reserve(page_table.size());
    for (int32_t page : page_table) pointers.push_back(pages_[size_t(page)].get());
    return pointers;
  }

 private:
  mutable std::mutex mutex_;
  size_t page_bytes_;
  std::deque<std::unique_ptr<uint8_t[]>> pages_;
};

const std::vector<float>& values_of(const Activation& a) {
  return static_cast<const CpuActivation&>(a).values;
}
std::vector<float>& values_of(Activation& a) {
  return static_cast<CpuActivation&>(a).values;
}
const Tensor& view_of(const Weight& w) {
  return static_cast<const CpuWeight&>(w).view;
}
const float* f32_of(const Weight& w) {
  return static_cast<const float*>(view_of(w).data);
}

void check_shape(const char* op, const Activation& a, int64_t rows, int64_t cols) {
  if (a.rows() == rows && a.cols() == cols) return;
  throw EngineError(ErrorCode::INTERNAL, std::string(op) + ": expected a [" + std::to_string(rows) + ", " +
                                             std::to_string(cols) + "] activation, got [" +
                                             std::to_string(a.rows()) + ", " + std::to_string(a.cols()) +
                                             "]");
}

void rms_norm_row(const float* x, const float* gamma, int64_t size, float eps, float* out) {
  double sum_squares = 0;
  for (int64_t i = 0; i < size; ++i) sum_squares += double(x[i]) * double(x[i]);
  const auto inverse_rms = float(1.0 / std::sqrt(sum_squares / double(size) + double(eps)));
  for (int64_t i = 0; i < size; ++i) out[i] = gamma[i] * (x[i] * inverse_rms);
}

// x [rows, cols] with cols = heads * head_dim: rotates the pairs (i, i + head_dim / 2) of every head by the
// row's cos_sin [head_dim] (cos then sin).
void rotate_heads(std::vector<float>& x, int64_t cols, int64_t head_dim, const std::vector<float>& cos_sin) {
  const int64_t half = head_dim / 2;
  const int64_t heads = cols / head_dim;
  const auto rows = int64_t(x.size()) / cols;
  for (int64_t row = 0; row < rows; ++row) {
    const float* cos = cos_sin.data() + row * head_dim;
    const float* sin = cos + half;
    for (int64_t h = 0; h < heads; ++h) {
      float* first = x.data() + row * cols + h * head_dim;
      float* second = first + half;
      for (int64_t i = 0; i < half; ++i) {
        const float a = first[i];
        const float b = second[i];
        first[i] = a * cos[i] - b * sin[i];
        second[i] = b * cos[i] + a * sin[i];
      }
    }
  }
}

class CpuBackend : public Backend {
 public:
  CpuBackend(size_t threads, DType kv_dtype) : pool_(threads), kv_dtype_(kv_dtype) {}

  const char* name() const override { return "cpu"; }

  // Every activation is f32 here, so both precisions are the same.
  std::unique_ptr<Activation> allocate(int64_t rows, int64_t cols, Precision /*precision*/) override {
    try {
      return std::make_unique<CpuActivation>(rows, cols);
    } catch (const std::bad_alloc&) {
      throw EngineError(ErrorCode::OUT_OF_MEMORY, "no host memory left for a [" + std::to_string(rows) +
                                                      ", " + std::to_string(cols) + "] f32 activation");
    }
  }

  // Small chunks keep [chunk, intermediate] activations in cache; the linear kernel is as fast at 256 rows.
  int64_t max_chunk_tokens() const override { return 256; }

  std::unique_ptr<Weight> upload_weight(const Tensor& host) override {
    return std::make_unique<CpuWeight>(host);
  }

  std::unique_ptr<Weight> random_weight(const std::vector<int64_t>& shape, uint64_t seed, float scale,
                                        float offset) override {
    const Tensor shaped{nullptr, DType::F32, shape};
    std::vector<float> values(size_t(shaped.elements()));
    constexpr size_t kBlock = 1 << 16;
    pool_.parallel_for((values.size() + kBlock - 1) / kBlock, [&](size_t block) {
      const size_t end = std::min(values.size(), (block + 1) * kBlock);
      // Rounded through bf16, as the GPU stores them, so both backends run the very same weights.
      for (size_t i = block * kBlock; i < end; ++i) {
        values[i] = bf16_to_f32(f32_to_bf16(offset + scale * uniform_at(seed, i)));
      }
    });
    return std::make_unique<CpuWeight>(shape, std::move(values));
  }

  std::unique_ptr<KvPageStore> create_kv_store(const KvLayout& layout) override {
    return std::make_unique<CpuKvStore>(layout, kv_dtype_);
  }

  DType kv_dtype() const override { return kv_dtype_; }

  void read_kv_block(const KvBlock& block, void* host) override {
    auto* out = static_cast<uint8_t*>(host);
    const size_t plane =
        size_t(block.count * block.layout->num_kv_heads) * kv_row_bytes(kv_dtype_, block.layout->head_dim);
    for (int64_t layer = 0; layer < block.layout->num_layers; ++layer) {
      const KvView view = resolve(KvPages{block.store, block.layout, block.page_table, layer});
      kv_read_rows(view, block.first, block.count, out + 2 * size_t(layer) * plane,
                   out + (2 * size_t(layer) + 1) * plane);
    }
  }

  void write_kv_block(const KvBlock& block, const void* host) override {
    const auto* in = static_cast<const uint8_t*>(host);
    const size_t plane =
        size_t(block.count * block.layout->num_kv_heads) * kv_row_bytes(kv_dtype_, block.layout->head_dim);
    for (int64_t layer = 0; layer < block.layout->num_layers; ++layer) {
      const KvView view = resolve(KvPages{block.store, block.layout, block.page_table, layer});
      kv_write_rows(view, block.first, block.count, in + 2 * size_t(layer) * plane,
                    in + (2 * size_t(layer) + 1) * plane);
    }
  }

  void embed(const Weight& table, const std::vector<int32_t>& ids, Activation& out) override {
    const Tensor& view = view_of(table);
    const int64_t hidden = view.cols();
    check_shape("embed", out, int64_t(ids.size()), hidden);
    const auto* base = static_cast<const uint8_t*>(view.data);
    const size_t row_bytes = size_t(hidden) * dtype_size(view.dtype);
    for (size_t i = 0; i < ids.size(); ++i) {
      convert_to_f32(base + size_t(ids[i]) * row_bytes, view.dtype, size_t(hidden),
                     &values_of(out)[i * hidden]);
    }
  }

  void rms_norm(const Activation& x, const Weight& gamma, float eps, Activation& out) override {
    const int64_t size = x.cols();
    check_shape("rms_norm", out, x.rows(), size);
    const float* in = values_of(x).data();
    float* result = values_of(out).data();
    for (int64_t row = 0; row < x.rows(); ++row) {
      rms_norm_row(in + row * size, f32_of(gamma), size, eps, result + row * size);
    }
  }

  void rms_norm_heads(Activation& x, int64_t head_dim, const Weight& gamma, float eps) override {
    float* data = values_of(x).data();
    const int64_t slices = x.rows() * x.cols() / head_dim;
    for (int64_t slice = 0; slice < slices; ++slice) {
      float* head = data + slice * head_dim;
      rms_norm_row(head, f32_of(gamma), head_dim, eps, head);
    }
  }

  void linear(const Activation& x, const Weight& weight, const Weight* bias, Activation& y) override {
    const Tensor& w = view_of(weight);
    check_shape("linear input", x, x.rows(), w.cols());
    check_shape("linear output", y, x.rows(), w.rows());
    linear_forward(pool_, values_of(x).data(), x.rows(), w, bias ? f32_of(*bias) : nullptr,
                   values_of(y).data());
  }

  void linear_group(const Activation& x, const std::vector<LinearTarget>& targets) override {
    for (const LinearTarget& target : targets) linear(x, *target.weight, target.bias, *target.y);
  }

  void linear_add(const Activation& x, const Weight& weight, const Weight* bias, Activation& y) override {
    check_shape("linear_add output", y, x.rows(), view_of(weight).rows());
    CpuActivation product(x.rows(), y.cols());
    linear(x, weight, bias, product);
    std::vector<float>& target = values_of(y);
    for (size_t i = 0; i < target.size(); ++i) target[i] += product.values[i];
  }

  void rope(Activation& q, Activation& k, int64_t head_dim, const RopeFrequencies& freqs,
            int64_t first_position) override {
    check_shape("rope keys", k, q.rows(), k.cols());
    std::vector<float> cos_sin(size_t(q.rows() * head_dim));  // [n, head_dim]: cos then sin per row
    rope_cos_sin(freqs, first_position, q.rows(), cos_sin.data());
    rotate_heads(values_of(q), q.cols(), head_dim, cos_sin);
    rotate_heads(values_of(k), k.cols(), head_dim, cos_sin);
  }

  void write_kv(const KvPages& pages, int64_t first_position, const Activation& k,
                const Activation& v) override {
    const KvView view = resolve(pages);
    check_shape("write_kv keys", k, k.rows(), view.num_kv_heads * view.head_dim);
    check_shape("write_kv values", v, k.rows(), view.num_kv_heads * view.head_dim);
    kv_write(view, first_position, k.rows(), values_of(k).data(), values_of(v).data());
  }

  void attention(const KvPages& pages, const AttentionShape& shape, int64_t first_position,
                 const Activation& q, Activation& out) override {
    const KvView view = resolve(pages);
    check_shape("attention query", q, q.rows(), shape.num_heads * shape.head_dim);
    check_shape("attention output", out, q.rows(), shape.num_heads * shape.head_dim);
    attention_forward(pool_, view, shape, first_position, q.rows(), values_of(q).data(),
                      values_of(out).data());
  }

  std::unique_ptr<HipMaskState> create_hip_mask_state(const hip::HipConfig& /*config*/) override {
    return std::make_unique<CpuHipMask>();
  }

  void hip_attention(const KvPages& pages, const AttentionShape& shape, int64_t position,
                     const HipDecodeCall& call, HipMaskState& state, const Activation& q,
                     Activation& out) override {
    check_shape("hip_attention query", q, 1, shape.num_heads * shape.head_dim);
    check_shape("hip_attention output", out, 1, shape.num_heads * shape.head_dim);
    hip_decode(resolve(pages), shape, position, call, static_cast<CpuHipMask&>(state), values_of(q).data(),
               values_of(out).data());
  }

  void hip_prefill_attention(const KvPages& pages, const AttentionShape& shape, int64_t first_position,
                             const hip::HipConfig& config, bool seeds_generation, const Activation& q,
                             Activation& out) override {
    check_shape("hip_prefill_attention query", q, q.rows(), shape.num_heads * shape.head_dim);
    check_shape("hip_prefill_attention output", out, q.rows(), shape.num_heads * shape.head_dim);
    hip_prefill(pool_, resolve(pages), shape, first_position, q.rows(), config, seeds_generation,
                values_of(q).data(), values_of(out).data());
  }

  void swiglu(const Activation& gate, const Activation& up, Activation& out) override {
    check_shape("swiglu up", up, gate.rows(), gate.cols());
    check_shape("swiglu output", out, gate.rows(), gate.cols());
    const std::vector<float>& g = values_of(gate);
    const std::vector<float>& u = values_of(up);
    std::vector<float>& result = values_of(out);
    for (size_t i = 0; i < g.size(); ++i) result[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
  }

  void copy_rows(const Activation& src, int64_t first_row, Activation& dst) override {
    if (first_row < 0 || first_row + dst.rows() > src.rows() || dst.cols() != src.cols()) {
      throw EngineError(ErrorCode::INTERNAL, "copy_rows: rows out of range");
    }
    std::memcpy(values_of(dst).data(), values_of(src).data() + first_row * src.cols(),
                values_of(dst).size() * sizeof(float));
  }

  void sample(const Activation& logits, SampleRequest& request) override {
    std::vector<float> values = values_of(logits);
    request.token = sample_token(values, *request.history, request.params, request.uniform);
  }

  void write(Activation& x, const float* host) override {
    std::memcpy(values_of(x).data(), host, values_of(x).size() * sizeof(float));
  }

  void read(const Activation& x, float* host) override {
    std::memcpy(host, values_of(x).data(), values_of(x).size() * sizeof(float));
  }

 private:
  KvView resolve(const KvPages& pages) const {
    const KvLayout& layout = *pages.layout;
    auto& store = static_cast<CpuKvStore&>(*pages.store);
    return KvView{store.resolve(*pages.page_table),
                  layout.page_tokens,
                  layout.num_kv_heads,
                  layout.head_dim,
                  pages.layer,
                  kv_dtype_};
  }

  ThreadPool pool_;
  DType kv_dtype_;
};

}  // namespace

std::unique_ptr<Backend> create_cpu_backend(size_t threads, DType kv_dtype) {
  return std::make_unique<CpuBackend>(threads, kv_dtype);
}

}  // namespace hipcode::cpu
