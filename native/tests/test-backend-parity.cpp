// Every op of the CUDA backend against the CPU backend (the reference) at awkward sizes, through the Backend
// interface. Skipped, with the reason printed, where no usable GPU is present.
#include <cstdio>
#include <memory>
#include <random>
#include <string>

#include "core/backend-factory.h"
#include "core/error.h"
#include "core/kv-cache.h"
#include "core/model.h"
#include "core/rope.h"
#include "tests/backend-helpers.h"
#include "tests/check.h"
#include "tests/helpers.h"

using namespace hipcode;
using namespace hipcode::test;

namespace {

// bf16 activations on the GPU round every input and output once: errors of a few 1e-3 are expected.
constexpr double kTolerance = 1.5e-2;

struct Backends {
  std::unique_ptr<Backend> cpu;
  std::unique_ptr<Backend> cuda;
};

Backends backends_or_skip(const char* test) {
  return Backends{create_backend(BackendChoice{"cpu", 0, 2}), cuda_backend_or_skip(test)};
}

std::vector<float> read(Backend& backend, const Activation& x) {
  std::vector<float> host(size_t(x.rows() * x.cols()));
  backend.read(x, host.data());
  return host;
}

std::unique_ptr<Activation> filled(Backend& backend, int64_t rows, int64_t cols,
                                   const std::vector<float>& values,
                                   Precision precision = Precision::COMPUTE) {
  auto x = backend.allocate(rows, cols, precision);
  backend.write(*x, values.data());
  return x;
}

void check_close(const std::string& what, const std::vector<float>& cuda, const std::vector<float>& cpu) {
  const double error = relative_l2(cuda, cpu);
  if (!(error <= kTolerance)) fail(__FILE__, __LINE__, what + ": relative L2 " + std::to_string(error));
}

// A host weight of `dtype` with random values, uploaded to both backends.
struct SharedWeight {
  RandomTensor host;
  std::vector<int64_t> shape;
  std::unique_ptr<Weight> cpu, cuda;
};

std::unique_ptr<SharedWeight> upload_shared(Backends& b, RandomTensor host, std::vector<int64_t> shape,
                                            DType dtype) {
  auto weight = std::make_unique<SharedWeight>();
  weight->host = std::move(host);
  weight->shape = std::move(shape);
  const Tensor tensor{weight->host.bytes.data(), dtype, weight->shape};
  weight->cpu = b.cpu->upload_weight(tensor);
  weight->cuda = b.cuda->upload_weight(tensor);
  return weight;
}

size_t elements(const std::vector<int64_t>& shape) {
  size_t count = 1;
  for (int64_t dim : shape) count *= size_t(dim);
  return count;
}

// Random values in [-scale, scale] stored as `dtype`.
std::unique_ptr<SharedWeight> shared_weight(Backends& b, std::mt19937_64& rng, std::vector<int64_t> shape,
                                            DType dtype, double scale) {
  RandomTensor host = random_tensor(rng, elements(shape), dtype, scale);
  return upload_shared(b, std::move(host), std::move(shape), dtype);
}

// A norm weight: 1 + random values in [-scale, scale], stored as f32.
std::unique_ptr<SharedWeight> shared_gamma(Backends& b, std::mt19937_64& rng, int64_t size, double scale) {
  RandomTensor host = random_tensor(rng, size_t(size), DType::F32, scale);
  auto* values = reinterpret_cast<float*>(host.bytes.data());
  for (int64_t i = 0; i < size; ++i) values[i] += 1.0f;
  return upload_shared(b, std::move(host), {size}, DType::F32);
}

}  // namespace

TEST(cuda_parity_linear_all_dtypes_and_f32_output) {
  Backends b = backends_or_skip("cuda_parity_linear");
  if (!b.cuda) return;
  std::mt19937_64 rng(11);
  // n = 1 takes the decode GEMV, n = 7 the GEMM; in = 72 is GEMV-aligned, in = 36 is not.
  for (const auto& [n, in] : {std::pair<int64_t, int64_t>{7, 72}, {1, 72}, {1, 36}})
    for (DType dtype : {DType::BF16, DType::F16, DType::F32}) {
      const int64_t out = 131;
      auto weight = shared_weight(b, rng, {out, in}, dtype, 0.5);
      auto bias = shared_weight(b, rng, {out}, dtype, 0.5);
      const std::vector<float> x = random_floats(rng, size_t(n * in), 1.0f);
      auto cpu_y = b.cpu->allocate(n, out);
      auto cuda_y = b.cuda->allocate(n, out);
      b.cpu->linear(*filled(*b.cpu, n, in, x), *weight->cpu, bias->cpu.get(), *cpu_y);
      b.cuda->linear(*filled(*b.cuda, n, in, x), *weight->cuda, bias->cuda.get(), *cuda_y);
      check_close(std::string("linear ") + dtype_name(dtype), read(*b.cuda, *cuda_y), read(*b.cpu, *cpu_y));

      auto cpu_logits = b.cpu->allocate(n, out, Precision::F32);
      auto cuda_logits = b.cuda->allocate(n, out, Precision::F32);
      b.cpu->linear(*filled(*b.cpu, n, in, x), *weight->cpu, nullptr, *cpu_logits);
      b.cuda->linear(*filled(*b.cuda, n, in, x), *weight->cuda, nullptr, *cuda_logits);
      check_close("linear f32 output", read(*b.cuda, *cuda_logits), read(*b.cpu, *cpu_logits));

      const std::vector<float> residual = random_floats(rng, size_t(n * out), 1.0f);
      auto cpu_residual = filled(*b.cpu, n, out, residual, Precision::F32);
      auto cuda_residual = filled(*b.cuda, n, out, residual, Precision::F32);
      b.cpu->linear_add(*filled(*b.cpu, n, in, x), *weight->cpu, bias->cpu.get(), *cpu_residual);
      b.cuda->linear_add(*filled(*b.cuda, n, in, x), *weight->cuda, bias->cuda.get(), *cuda_residual);
      check_close("linear_add", read(*b.cuda, *cuda_residual), read(*b.cpu, *cpu_residual));
    }
}

TEST(cuda_parity_linear_group_fused_and_not) {
  Backends b = backends_or_skip("cuda_parity_linear_group");
  if (!b.cuda) return;
  std::mt19937_64 rng(16);
  // n = 1 runs as one fused GEMV launch; n = 3 as separate GEMMs.
  for (int64_t n : {1, 3}) {
    const int64_t in = 96;
    const std::vector<int64_t> outs = {40, 8, 24};
    const std::vector<float> x = random_floats(rng, size_t(n * in), 1.0f);
    std::vector<std::unique_ptr<SharedWeight>> weights, biases;
    std::vector<std::unique_ptr<Activation>> cpu_y, cuda_y;
    std::vector<LinearTarget> cpu_targets, cuda_targets;
    for (int64_t out : outs) {
      weights.push_back(shared_weight(b, rng, {out, in}, DType::BF16, 0.5));
      biases.push_back(shared_weight(b, rng, {out}, DType::BF16, 0.5));
      cpu_y.push_back(b.cpu->allocate(n, out));
      cuda_y.push_back(b.cuda->allocate(n, out));
      cpu_targets.push_back({weights.back()->cpu.get(), biases.back()->cpu.get(), cpu_y.back().get()});
      cuda_targets.push_back({weights.back()->cuda.get(), biases.back()->cuda.get(), cuda_y.back().get()});
    }
    b.cpu->linear_group(*filled(*b.cpu, n, in, x), cpu_targets);
    b.cuda->linear_group(*filled(*b.cuda, n, in, x), cuda_targets);
    for (size_t i = 0; i < outs.size(); ++i) {
      check_close("linear_group n=" + std::to_string(n) + " target " + std::to_string(i),
                  read(*b.cuda, *cuda_y[i]), read(*b.cpu, *cpu_y[i]));
    }
  }
}

TEST(cuda_parity_embed_norms_swiglu_residual_copy) {
  Backends b = backends_or_skip("cuda_parity_elementwise");
  if (!b.cuda) return;
  std::mt19937_64 rng(12);
  const int64_t vocab = 37, hidden = 52, n = 5, head_dim = 26;
  auto table = shared_weight(b, rng, {vocab, hidden}, DType::BF16, 1.0);
  auto gamma = shared_gamma(b, rng, hidden, 0.1);
  auto head_gamma = shared_gamma(b, rng, head_dim, 0.1);
  const std::vector<int32_t> ids = {3, 36, 0, 3, 17};

  // embed into the f32 residual stream, then add a bf16 delta and normalise it
  auto cpu_hidden = b.cpu->allocate(n, hidden, Precision::F32);
  auto cuda_hidden = b.cuda->allocate(n, hidden, Precision::F32);
  b.cpu->embed(*table->cpu, ids, *cpu_hidden);
  b.cuda->embed(*table->cuda, ids, *cuda_hidden);
  check_close("embed", read(*b.cuda, *cuda_hidden), read(*b.cpu, *cpu_hidden));

  const std::vector<float> delta = random_floats(rng, size_t(n * hidden), 2.0f);
  auto projection = shared_weight(b, rng, {hidden, hidden}, DType::BF16, 0.3);
  auto projection_bias = shared_weight(b, rng, {hidden}, DType::BF16, 0.5);
  b.cpu->linear_add(*filled(*b.cpu, n, hidden, delta), *projection->cpu, projection_bias->cpu.get(),
                    *cpu_hidden);
  b.cuda->linear_add(*filled(*b.cuda, n, hidden, delta), *projection->cuda, projection_bias->cuda.get(),
                     *cuda_hidden);
  check_close("linear_add into the residual", read(*b.cuda, *cuda_hidden), read(*b.cpu, *cpu_hidden));

  auto cpu_normed = b.cpu->allocate(n, hidden);
  auto cuda_normed = b.cuda->allocate(n, hidden);
  b.cpu->rms_norm(*cpu_hidden, *gamma->cpu, 1e-6f, *cpu_normed);
  b.cuda->rms_norm(*cuda_hidden, *gamma->cuda, 1e-6f, *cuda_normed);
  check_close("rms_norm of the residual", read(*b.cuda, *cuda_normed), read(*b.cpu, *cpu_normed));

  b.cpu->rms_norm(*filled(*b.cpu, n, hidden, delta), *gamma->cpu, 1e-5f, *cpu_normed);
  b.cuda->rms_norm(*filled(*b.cuda, n, hidden, delta), *gamma->cuda, 1e-5f, *cuda_normed);
  check_close("rms_norm", read(*b.cuda, *cuda_normed), read(*b.cpu, *cpu_normed));

  auto cpu_heads = filled(*b.cpu, n, 2 * head_dim, delta);
  auto cuda_heads = filled(*b.cuda, n, 2 * head_dim, delta);
  b.cpu->rms_norm_heads(*cpu_heads, head_dim, *head_gamma->cpu, 1e-6f);
  b.cuda->rms_norm_heads(*cuda_heads, head_dim, *head_gamma->cuda, 1e-6f);
  check_close("rms_norm_heads", read(*b.cuda, *cuda_heads), read(*b.cpu, *cpu_heads));

  const std::vector<float> up = random_floats(rng, size_t(n * hidden), 2.0f);
  auto cpu_act = b.cpu->allocate(n, hidden);
  auto cuda_act = b.cuda->allocate(n, hidden);
  b.cpu->swiglu(*filled(*b.cpu, n, hidden, delta), *filled(*b.cpu, n, hidden, up), *cpu_act);
  b.cuda->swiglu(*filled(*b.cuda, n, hidden, delta), *filled(*b.cuda, n, hidden, up), *cuda_act);
  check_close("swiglu", read(*b.cuda, *cuda_act), read(*b.cpu, *cpu_act));

  auto cpu_row = b.cpu->allocate(1, hidden, Precision::F32);
  auto cuda_row = b.cuda->allocate(1, hidden, Precision::F32);
  b.cpu->copy_rows(*cpu_hidden, n - 1, *cpu_row);
  b.cuda->copy_rows(*cuda_hidden, n - 1, *cuda_row);
  check_close("copy_rows", read(*b.cuda, *cuda_row), read(*b.cpu, *cpu_row));
}

TEST(cuda_parity_rope_every_type) {
  Backends b = backends_or_skip("cuda_parity_rope");
  if (!b.cuda) return;
  std::mt19937_64 rng(13);
  const int64_t head_dim = 24, heads = 3, kv_heads = 1, n = 9, first_position = 1000;
  for (RopeType type : {RopeType::DEFAULT, RopeType::LLAMA3, RopeType::YARN}) {
    RopeSpec rope;
    rope.type = type;
    rope.theta = 10000;
    rope.factor = 4;
    rope.original_max_position_embeddings = 64;
    rope.low_freq_factor = 1;
    rope.high_freq_factor = 4;
    rope.beta_fast = 32;
    rope.beta_slow = 1;
    rope.attention_factor = 1.1;
    rope.truncate = true;
    const RopeFrequencies freqs = rope_frequencies(rope, head_dim, first_position + n);
    const std::vector<float> q = random_floats(rng, size_t(n * heads * head_dim), 1.0f);
    const std::vector<float> k = random_floats(rng, size_t(n * kv_heads * head_dim), 1.0f);
    auto cpu_q = filled(*b.cpu, n, heads * head_dim, q);
    auto cpu_k = filled(*b.cpu, n, kv_heads * head_dim, k);
    auto cuda_q = filled(*b.cuda, n, heads * head_dim, q);
    auto cuda_k = filled(*b.cuda, n, kv_heads * head_dim, k);
    b.cpu->rope(*cpu_q, *cpu_k, head_dim, freqs, first_position);
    b.cuda->rope(*cuda_q, *cuda_k, head_dim, freqs, first_position);
    check_close("rope q", read(*b.cuda, *cuda_q), read(*b.cpu, *cpu_q));
    check_close("rope k", read(*b.cuda, *cuda_k), read(*b.cpu, *cpu_k));
  }
}

namespace {

struct AttentionCase {
  int64_t heads, kv_heads, head_dim, cached, queries, window;
};

// Fills the cache with `cached` tokens, appends `queries` more and attends them, on one backend.
std::vector<float> run_attention(Backend& backend, const AttentionCase& c, const std::vector<float>& keys,
                                 const std::vector<float>& values, const std::vector<float>& queries) {
  KvLayout layout;
  layout.num_layers = 2;
  layout.num_kv_heads = c.kv_heads;
  layout.head_dim = c.head_dim;
  layout.page_tokens = 64;
  layout.expected_tokens = c.cached + c.queries + 256;
  auto pool = std::make_shared<KvPagePool>(backend.create_kv_store(layout), layout);
  // A page taken and released first, so the session's pages are not numbered from 0.
  const int32_t spare = pool->acquire();
  KvCache cache(pool, c.cached + c.queries);
  pool->release(spare);
  const int64_t kv_width = c.kv_heads * c.head_dim;
  const KvPages pages{&pool->store(), &pool->layout(), &cache.page_table(), 1};
  const AttentionShape shape{c.heads, c.kv_heads, c.head_dim, c.window};
  std::vector<float> out;
  auto append = [&](int64_t first, int64_t count) {
    cache.reserve(count);
    const std::vector<float> k(keys.begin() + first * kv_width, keys.begin() + (first + count) * kv_width);
    const std::vector<float> v(values.begin() + first * kv_width,
                               values.begin() + (first + count) * kv_width);
    backend.write_kv(pages, first, *filled(backend, count, kv_width, k),
                     *filled(backend, count, kv_width, v));
    cache.commit(count);
  };
  append(0, c.cached);
  append(c.cached, c.queries);
  auto q = filled(backend, c.queries, c.heads * c.head_dim, queries);
  auto result = backend.allocate(c.queries, c.heads * c.head_dim);
  backend.attention(pages, shape, c.cached, *q, *result);
  return read(backend, *result);
}

}  // namespace

TEST(cuda_parity_paged_attention_prefill_and_decode) {
  Backends b = backends_or_skip("cuda_parity_attention");
  if (!b.cuda) return;
  const AttentionCase cases[] = {
      {28, 4, 128, 100, 77, 0},  // prefill, Qwen2.5-7B heads
      {28, 4, 128, 300, 1, 0},   // decode across pages
      {8, 2, 64, 70, 1, 20},     // decode with a sliding window
      {4, 2, 24, 10, 30, 8},     // odd head_dim, window (Mistral fixture shape)
      {4, 1, 16, 0, 13, 0},      // MQA from an empty cache
      {6, 2, 32, 130, 65, 0},    // prefill over a page boundary
  };
  std::mt19937_64 rng(14);
  for (const AttentionCase& c : cases) {
    const int64_t total = c.cached + c.queries;
    const std::vector<float> keys = random_floats(rng, size_t(total * c.kv_heads * c.head_dim), 1.5f);
    const std::vector<float> values = random_floats(rng, size_t(total * c.kv_heads * c.head_dim), 1.0f);
    const std::vector<float> queries = random_floats(rng, size_t(c.queries * c.heads * c.head_dim), 1.5f);
    const std::string what = "attention heads " + std::to_string(c.heads) + "/" + std::to_string(c.kv_heads) +
                             " d " + std::to_string(c.head_dim) + " cached " + std::to_string(c.cached) +
                             " queries " + std::to_string(c.queries) + " window " + std::to_string(c.window);
    check_close(what, run_attention(*b.cuda, c, keys, values, queries),
                run_attention(*b.cpu, c, keys, values, queries));
  }
}

// Decode steps on the GPU run from a recorded CUDA graph after the first; two interleaved sessions crossing
// page boundaries must still match the CPU backend step by step (both build the same synthetic weights).
TEST(cuda_parity_decode_steps_replayed_from_a_graph) {
  std::unique_ptr<Backend> cuda = cuda_backend_or_skip("cuda_parity_decode_graph");
  if (!cuda) return;
  const ModelGeometry g = small_decode_geometry(512);
  SyntheticWeights weights;
  weights.seed = 7;
  weights.attention_bias = true;
  auto cpu_model = Model::synthetic(g, weights, create_backend(BackendChoice{"cpu", 0, 2}));
  auto cuda_model = Model::synthetic(g, weights, std::move(cuda));
  std::mt19937_64 rng(15);
  std::uniform_int_distribution<int32_t> token(0, int32_t(g.vocab_size - 1));
  std::vector<int32_t> prompt(70);
  for (int32_t& id : prompt) id = token(rng);
  KvCache cpu_a(cpu_model->kv_pool(), 256), cpu_b(cpu_model->kv_pool(), 256);
  KvCache cuda_a(cuda_model->kv_pool(), 256), cuda_b(cuda_model->kv_pool(), 256);
  cpu_model->forward(cpu_a, prompt, LogitsMode::NONE);
  cuda_model->forward(cuda_a, prompt, LogitsMode::NONE);
  cpu_model->forward(cpu_b, {prompt.begin(), prompt.begin() + 5}, LogitsMode::NONE);
  cuda_model->forward(cuda_b, {prompt.begin(), prompt.begin() + 5}, LogitsMode::NONE);
  for (int step = 0; step < 80; ++step) {
    const std::vector<int32_t> id = {token(rng)};
    KvCache& cpu_cache = step % 3 == 0 ? cpu_b : cpu_a;
    KvCache& cuda_cache = step % 3 == 0 ? cuda_b : cuda_a;
    const std::vector<float> expected = cpu_model->forward(cpu_cache, id, LogitsMode::LAST);
    const std::vector<float> actual = cuda_model->forward(cuda_cache, id, LogitsMode::LAST);
    check_close("decode step " + std::to_string(step) + " at length " + std::to_string(cuda_cache.length()),
                actual, expected);
  }
}

// Greedy picks (with and without the repetition penalty) on the GPU equal the CPU sampler's on the same
// logits; a filter that leaves one candidate (top-k 1, tiny top-p) picks it whatever the draw.
TEST(cuda_parity_sampling_on_the_device) {
  Backends b = backends_or_skip("cuda_parity_sampling");
  if (!b.cuda) return;
  std::mt19937_64 rng(17);
  const int64_t vocab = 5003;
  const std::vector<int32_t> history = {5, 17, 5, 4000, 123, 17};
  for (int trial = 0; trial < 8; ++trial) {
    const std::vector<float> logits = random_floats(rng, size_t(vocab), 6.0f);
    SampleRequest greedy;
    greedy.history = &history;
    greedy.params.repetition_penalty = trial % 2 ? 1.3 : 1.0;
    if (trial >= 4) {
      greedy.params.temperature = 0.7;
      greedy.params.top_k = trial == 4 ? 1 : 0;
      greedy.params.top_p = trial == 4 ? 1.0 : 1e-6;
      greedy.uniform = 0.99;
    }
    SampleRequest on_gpu = greedy;
    b.cpu->sample(*filled(*b.cpu, 1, vocab, logits, Precision::F32), greedy);
    b.cuda->sample(*filled(*b.cuda, 1, vocab, logits, Precision::F32), on_gpu);
    CHECK(greedy.token >= 0);
    CHECK(on_gpu.token == greedy.token);
  }
}

// A KV budget that holds one page: the second page is a clear E_OUT_OF_MEMORY naming the setting, and the
// model stays usable for sessions that fit.
TEST(cuda_kv_budget_exhausted_names_the_setting) {
  if (!cuda_backend_or_skip("cuda_kv_budget")) return;
  const ModelGeometry g = small_decode_geometry(512);
  BackendChoice choice{"cuda", 0, 0};
  const int64_t page_bytes = 2 * g.num_layers * 64 * g.num_kv_heads * g.head_dim * 2;  // bf16 K and V
  choice.gpu_kv_budget_bytes = uint64_t(page_bytes);
  choice.host_kv_budget_bytes = 0;
  auto model = Model::synthetic(g, SyntheticWeights{}, create_backend(choice));
  KvCache too_long(model->kv_pool(), 200);
  try {
    model->forward(too_long, std::vector<int32_t>(100, 1), LogitsMode::NONE);
    CHECK(false);
  } catch (const EngineError& error) {
    CHECK(error.code() == ErrorCode::OUT_OF_MEMORY);
    CHECK(std::string(error.what()).find("--gpu-kv-budget") != std::string::npos);
  }
  too_long.truncate(0);
  KvCache fits(model->kv_pool(), 64);
  CHECK(model->forward(fits, std::vector<int32_t>(10, 1), LogitsMode::LAST).size() == size_t(g.vocab_size));
}
