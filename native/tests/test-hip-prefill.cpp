// HiP prefill attention wired into the engine: Backend::hip_prefill_attention against the reference assembled
// here (hip::estimate_hip_mask + hip::block_sparse_attention per query block, a naive dense softmax for the
// dense blocks: partial ones, the last of each prefill chunk, the one that seeds generation), the model's
// prefill with --attention hip against dense prefill and in chunks against one pass, and the CUDA backend
// against the CPU one (skipped without a GPU).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "hip/block-sparse-attention.h"
#include "hip/mask-estimation.h"
#include "tests/backend-helpers.h"
#include "tests/check.h"
#include "tests/hip-helpers.h"

using namespace hipcode;
using namespace hipcode::test;

namespace {

// A chunk of queries after a cached prefix, with its keys and values (bf16-exact).
struct PrefillCase {
  AttentionShape shape;
  int64_t first_position;
  int64_t n;
  std::vector<float> keys, values;  // [first_position + n, kv_heads * head_dim]
  std::vector<float> q;             // [n, heads * head_dim]
};

PrefillCase make_case(const AttentionShape& shape, int64_t first_position, int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const auto tokens = size_t(first_position + n);
  const auto kv_width = size_t(shape.num_kv_heads * shape.head_dim);
  PrefillCase c{shape, first_position, n, {}, {}, {}};
  c.keys = normal_bf16(rng, tokens * kv_width, 1.0f);
  c.values = normal_bf16(rng, tokens * kv_width, 1.0f);
  c.q = normal_bf16(rng, size_t(n * shape.num_heads * shape.head_dim), 0.5f);
  return c;
}

// The backend's HiP prefill of the case's chunk, its keys and values written first.
std::vector<float> backend_prefill(Backend& backend, const PrefillCase& c, const hip::HipConfig& config,
                                   bool seeds_generation) {
  LayerCache cache = layer_cache(backend, c.shape, c.first_position + c.n);
  append(backend, cache, c.shape, c.keys, c.values, 0, c.first_position + c.n);
  const int64_t width = c.shape.num_heads * c.shape.head_dim;
  auto out = backend.allocate(c.n, width);
  backend.hip_prefill_attention(cache.pages(), c.shape, c.first_position, config, seeds_generation,
                                *filled(backend, c.n, width, c.q.data()), *out);
  return read(backend, *out);
}

// Row `row` of the chunk attending every key up to its position, in double precision.
void dense_row(const PrefillCase& c, int64_t row, float* out) {
  const int64_t d = c.shape.head_dim, group = c.shape.num_heads / c.shape.num_kv_heads;
  const int64_t position = c.first_position + row, kv_width = c.shape.num_kv_heads * d;
  for (int64_t h = 0; h < c.shape.num_heads; ++h) {
    const float* query = c.q.data() + (row * c.shape.num_heads + h) * d;
    const int64_t kv = h / group;
    std::vector<double> scores(size_t(position + 1));
    double max_score = -INFINITY;
    for (int64_t k = 0; k <= position; ++k) {
      double dot = 0;
      for (int64_t i = 0; i < d; ++i) dot += double(query[i]) * c.keys[size_t(k * kv_width + kv * d + i)];
      scores[size_t(k)] = dot / std::sqrt(double(d));
      max_score = std::max(max_score, scores[size_t(k)]);
    }
    double total = 0;
    std::vector<double> acc(size_t(d), 0.0);
    for (int64_t k = 0; k <= position; ++k) {
      const double weight = std::exp(scores[size_t(k)] - max_score);
      total += weight;
      for (int64_t i = 0; i < d; ++i) acc[size_t(i)] += weight * c.values[size_t(k * kv_width + kv * d + i)];
    }
    for (int64_t i = 0; i < d; ++i)
      out[(row * c.shape.num_heads + h) * d + i] = float(acc[size_t(i)] / total);
  }
}

// What hip_prefill_attention must give for rows [first_row, first_row + rows) of the case taken as a pass of
// their own: the reference's mask and block-sparse attention for their first `sparse_rows` rows, dense
// attention for the rest (the segments of each test are written out by hand).
void reference_segment(const PrefillCase& c, const hip::HipConfig& config, int64_t first_row, int64_t rows,
                       int64_t sparse_rows, float* out) {
  const int64_t width = c.shape.num_heads * c.shape.head_dim;
  const hip::HipQueries queries{c.q.data() + first_row * width, rows, c.shape.num_heads, c.shape.head_dim,
                                c.first_position + first_row};
  const hip::HipKv kv{c.keys.data(), c.values.data(), c.first_position + first_row + rows,
                      c.shape.num_kv_heads, c.shape.head_dim};
  std::vector<float> sparse(size_t(rows * width));
  hip::block_sparse_attention(config, hip::estimate_hip_mask(config, queries, kv), queries, kv,
                              sparse.data());
  std::copy(sparse.begin(), sparse.begin() + sparse_rows * width, out + first_row * width);
  for (int64_t row = first_row + sparse_rows; row < first_row + rows; ++row) dense_row(c, row, out);
}

// A case within one prefill chunk: the rows up to the first multiple of block_q (absolute) dense, then whole
// blocks sparse, the last one dense too when the pass seeds generation, a partial last one dense; a pass of
// fewer than two blocks all sparse, its blocks counted from its first row.
std::vector<float> reference_prefill(const PrefillCase& c, const hip::HipConfig& config,
                                     bool seeds_generation) {
  std::vector<float> out(c.q.size());
  if (c.n < 2 * config.block_q) {
    reference_segment(c, config, 0, c.n, c.n, out.data());
    return out;
  }
  const int64_t lead = std::min(c.n, (config.block_q - c.first_position % config.block_q) % config.block_q);
  if (lead > 0) reference_segment(c, config, 0, lead, 0, out.data());
  const int64_t rest = c.n - lead;
  const int64_t sparse_rows = (seeds_generation ? rest - 1 : rest) / config.block_q * config.block_q;
  if (rest > 0) reference_segment(c, config, lead, rest, sparse_rows, out.data());
  return out;
}

// The logits of `prompt` prefilled into a fresh cache of `model`.
std::vector<float> prefill_logits(Model& model, const std::vector<int32_t>& prompt, LogitsMode mode) {
  KvCache cache(model.kv_pool(), int64_t(prompt.size()));
  return model.forward(cache, prompt, mode);
}

}  // namespace

// Query blocks (at multiples of 64 in absolute positions) past the sink and window select chunks; the rows
// before the first block (3000: 8) and after the last whole one attend densely, and so does the last whole
// block when the pass seeds generation; without, a pass of whole blocks from an aligned position is all
// sparse. Passes shorter than two blocks (64 at 2048, 100 at 3005) are sparse throughout.
TEST(hip_prefill_attention_matches_the_reference_per_query_block) {
  auto backend = cpu_backend();
  const hip::HipConfig config = small_config(16);  // 16 sink + 64 window + 128 selected keys
  const PrefillCase cases[] = {
      make_case({8, 2, 32, 0}, 3000, 200, 61), make_case({8, 2, 32, 0}, 100, 300, 62),
      make_case({4, 4, 32, 0}, 2048, 64, 63),  make_case({8, 2, 32, 0}, 1024, 256, 69),
      make_case({8, 2, 32, 0}, 1000, 256, 72), make_case({8, 2, 32, 0}, 3005, 100, 73)};
  for (const PrefillCase& c : cases) {
    for (const bool seeds : {true, false}) {
      const double error =
          relative_l2(backend_prefill(*backend, c, config, seeds), reference_prefill(c, config, seeds));
      check_error_at_most("prefill at " + std::to_string(c.first_position) + " of " + std::to_string(c.n) +
                              (seeds ? ", seeding" : ""),
                          error, 1e-5);
    }
  }
}

// A pass across prefill chunks of 256 positions (1000 + 300 rows: chunk ends at 1024 and 1280) is cut there,
// and each chunk's last query block attends densely: rows [0, 24) (a partial block ending a chunk: dense),
// [24, 280) (sparse but its last block), [280, 300) (a partial block: dense).
TEST(hip_prefill_cuts_a_pass_where_its_prefill_chunks_end) {
  auto backend = cpu_backend();
  hip::HipConfig config = small_config(16);
  config.prefill_chunk_tokens = 256;
  const PrefillCase c = make_case({8, 2, 32, 0}, 1000, 300, 71);
  std::vector<float> expected(c.q.size());
  reference_segment(c, config, 0, 24, 0, expected.data());
  reference_segment(c, config, 24, 256, 192, expected.data());
  reference_segment(c, config, 280, 20, 0, expected.data());
  for (const bool seeds : {true, false}) {
    check_error_at_most("pass across prefill chunks",
                        relative_l2(backend_prefill(*backend, c, config, seeds), expected), 1e-5);
  }
}

// A context prefilled without logits in chunks of whole query blocks holds the K/V of one pass over it (no
// chunk's last block attends densely but the one that seeds generation): the next logits agree.
TEST(model_hip_prefill_in_chunks_of_whole_blocks_equals_one_pass) {
  auto model = hip_model(cpu_backend(), AttentionMode::HIP, small_config(16));
  std::mt19937_64 rng(70);
  const std::vector<int32_t> context = random_tokens(rng, 640);
  KvCache one_pass(model->kv_pool(), 641);
  model->forward(one_pass, context, LogitsMode::NONE);
  KvCache chunked(model->kv_pool(), 641);
  for (size_t first = 0; first < context.size(); first += 128) {
    model->forward(chunked, {context.begin() + long(first), context.begin() + long(first) + 128},
                   LogitsMode::NONE);
  }
  const auto expected = model->forward(one_pass, {7}, LogitsMode::LAST);
  const auto actual = model->forward(chunked, {7}, LogitsMode::LAST);
  check_error_at_most("next logits", relative_l2(actual, expected), 1e-6);
}

// With budgets that keep every candidate chunk, a HiP prefill attends every key once: dense prefill's logits
// at every position, over several chunks of the CPU backend (256 tokens each).
TEST(model_hip_prefill_equals_dense_when_every_key_is_kept) {
  auto dense = hip_model(cpu_backend(), AttentionMode::DENSE, small_config(128));
  auto sparse = hip_model(cpu_backend(), AttentionMode::HIP, small_config(128));
  std::mt19937_64 rng(64);
  const std::vector<int32_t> prompt = random_tokens(rng, 900);
  const auto expected = prefill_logits(*dense, prompt, LogitsMode::ALL);
  const auto actual = prefill_logits(*sparse, prompt, LogitsMode::ALL);
  check_error_at_most("logits", relative_l2(actual, expected), 1e-5);
}

// With 128 selected keys of ~1500 on random weights (diffuse attention, HiP's worst case), the last
// position's logits after a HiP prefill stay close to dense prefill's: the last query block, which seeds
// generation, attends densely.
TEST(model_hip_prefill_tracks_dense_on_diffuse_attention) {
  auto dense = hip_model(cpu_backend(), AttentionMode::DENSE, small_config(16));
  auto sparse = hip_model(cpu_backend(), AttentionMode::HIP, small_config(16));
  std::mt19937_64 rng(65);
  const std::vector<int32_t> prompt = random_tokens(rng, 1500);
  const auto expected = prefill_logits(*dense, prompt, LogitsMode::LAST);
  const auto actual = prefill_logits(*sparse, prompt, LogitsMode::LAST);
  const double error = relative_l2(actual, expected);
  std::printf(
      "  hip model prefill (1500 tokens, 208 keys attended per query): last logits rel L2 %.4f, top-1 %s\n",
      error, argmax(actual) == argmax(expected) ? "agrees" : "differs");
  check_error_at_most("logits", error, 0.35);
}

// The CUDA backend's HiP prefill (mask and block-sparse kernels, dense tail) against the CPU backend on
// bf16-exact keys, values and queries at the Qwen2.5-7B head geometry and the default config.
TEST(cuda_parity_hip_prefill_attention) {
  std::unique_ptr<Backend> cuda = cuda_backend_or_skip("cuda_parity_hip_prefill_attention");
  if (!cuda) return;
  auto cpu = cpu_backend();
  hip::HipConfig config;
  // 9000 + 333 rows cross the chunk end at 9216; 2500 rows, two of them; 100 rows at 9005: a short pass,
  // sparse in a whole block and a partial one.
  config.prefill_chunk_tokens = 1024;
  const PrefillCase cases[] = {make_case({28, 4, 128, 0}, 9000, 333, 66),
                               make_case({28, 4, 128, 0}, 0, 2500, 67),
                               make_case({28, 4, 128, 0}, 9005, 100, 74)};
  for (const PrefillCase& c : cases) {
    const double error =
        relative_l2(backend_prefill(*cuda, c, config, true), backend_prefill(*cpu, c, config, true));
    std::printf("  cuda hip prefill at %lld of %lld: rel L2 vs cpu %.2e\n", (long long)c.first_position,
                (long long)c.n, error);
    check_error_at_most("cuda hip prefill", error, 1.5e-2);
  }
}

// Whole HiP prefills on the GPU against the CPU backend: the last position's logits.
TEST(cuda_parity_hip_model_prefill) {
  std::unique_ptr<Backend> cuda = cuda_backend_or_skip("cuda_parity_hip_model_prefill");
  if (!cuda) return;
  auto cpu_model = hip_model(cpu_backend(), AttentionMode::HIP, small_config(16));
  auto cuda_model = hip_model(std::move(cuda), AttentionMode::HIP, small_config(16));
  std::mt19937_64 rng(68);
  const std::vector<int32_t> prompt = random_tokens(rng, 3000);
  const auto expected = prefill_logits(*cpu_model, prompt, LogitsMode::LAST);
  const auto actual = prefill_logits(*cuda_model, prompt, LogitsMode::LAST);
  const double error = relative_l2(actual, expected);
  std::printf("  cuda hip model prefill vs cpu (3000 tokens): last logits rel L2 %.4f\n", error);
  check_error_at_most("hip prefill logits", error, 0.15);
}

// A HiP config the CUDA prefill mask kernels cannot run (128 scoring rows a stage, at most 64) is refused
// when the attention is set, naming the layer, the field and the way out.
TEST(cuda_hip_refuses_a_config_its_kernels_cannot_run) {
  std::unique_ptr<Backend> cuda = cuda_backend_or_skip("cuda_hip_refuses_a_config_its_kernels_cannot_run");
  if (!cuda) return;
  auto model = Model::synthetic(hip_geometry(), SyntheticWeights{}, std::move(cuda));
  AttentionOptions options;
  options.mode = AttentionMode::HIP;
  options.hip.base = small_config(16);
  options.hip.base.block_q = 128;
  try {
    model->set_attention(options);
    fail(__FILE__, __LINE__, "expected an error");
  } catch (const EngineError& error) {
    const std::string message = error.what();
    CHECK(message.find("layer 0") != std::string::npos);
    CHECK(message.find("query_stride must be <= 64, got 128") != std::string::npos);
    CHECK(message.find("HIPCODE_HIP") != std::string::npos);
  }
}
