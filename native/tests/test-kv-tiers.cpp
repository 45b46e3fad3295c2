// The CUDA KV cache with a pinned host tier: a context whose pages lie past the GPU budget (or all of whose
// pages lie in host memory) gives the same logits and greedy tokens, bit for bit, as the same context held in
// GPU memory only, with dense and with HiP attention, through prefill (which reads a GPU copy of each layer),
// decode (which reads host pages over the bus, HiP's stage 0 its first probes from a GPU cache that grows as
// the context does) and a fork that copies a shared page; with bf16 rows and with fp8 rows.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/model.h"
#include "core/session.h"
#include "tests/backend-helpers.h"
#include "tests/check.h"
#include "tests/hip-helpers.h"

using namespace hipcode;
using namespace hipcode::test;

namespace {

// 8192 positions: the pool is sized for two contexts of that, 256 pages of 64 tokens.
constexpr int64_t kMaxPosition = 8192;
// Crosses page 128, where the GPU tier ends when it holds 128 pages.
constexpr int64_t kContextTokens = 8300;
constexpr int kDecodeSteps = 20;  // past every mask refresh of the default schedule (16, 8, 4)
constexpr int kEarlySteps = 4;    // after the first piece: masks (and HiP probe caches) for a shorter context
constexpr int64_t kPieceTokens = 4096;

struct Outcome {
  std::vector<int32_t> early;         // [kEarlySteps] greedy tokens after the context's first piece
  std::vector<float> context_logits;  // [vocab] after the context
  std::vector<int32_t> greedy;        // [kDecodeSteps]
  std::vector<float> decode_logits;   // [vocab] after the greedy tokens
  std::vector<float> fork_logits;     // [vocab] of a fork after 30 more tokens
};

// K and V of one page, all layers: bf16 rows, or fp8 rows (per token: e4m3 values and an f32 scale per kv
// head, padded to 16 bytes).
int64_t page_bytes(const ModelGeometry& g, const std::string& kv_dtype) {
  const int64_t row = kv_dtype == "fp8-e4m3" ? (g.num_kv_heads * (g.head_dim + 4) + 15) / 16 * 16
                                             : g.num_kv_heads * g.head_dim * 2;
  return 2 * g.num_layers * 64 * row;
}

std::shared_ptr<Model> tiered_model(AttentionMode mode, uint64_t gpu_kv_budget, int64_t host_kv_budget,
                                    const std::string& kv_dtype = "bf16") {
  BackendChoice choice{"cuda", 0, 0};
  choice.gpu_kv_budget_bytes = gpu_kv_budget;
  choice.host_kv_budget_bytes = host_kv_budget;
  choice.kv_dtype = kv_dtype;
  SyntheticWeights weights;
  weights.seed = 21;
  auto model = Model::synthetic(small_decode_geometry(kMaxPosition), weights, create_backend(choice));
  AttentionOptions options;
  options.mode = mode;
  options.hip.base = small_config(4);
  model->set_attention(options);
  return model;
}

Outcome run_context(const std::shared_ptr<Model>& model) {
  const int64_t vocab = model->geometry().vocab_size;
  Outcome outcome;
  Session session(model, {kContextTokens + kEarlySteps + 128, 0});
  // Pieces the GPU-only cache runs as one chunk each too (a tiered cache's chunks are longer), so both run
  // the same GEMM shapes.
  const std::vector<int32_t> context = random_ids(kContextTokens, vocab, 1);
  for (int64_t at = 0; at < kContextTokens; at += kPieceTokens) {
    const int64_t end = std::min(at + kPieceTokens, kContextTokens);
    outcome.context_logits = session.forward({context.begin() + at, context.begin() + end}, LogitsMode::LAST);
    for (int step = 0; at == 0 && step < kEarlySteps; ++step) {
      outcome.early.push_back(session.step({context[size_t(end + step)]}, SamplingParams{}));
    }
  }
  int32_t token = 7;
  for (int step = 0; step < kDecodeSteps; ++step) {
    token = session.step({token}, SamplingParams{});
    outcome.greedy.push_back(token);
  }
  outcome.decode_logits = session.forward({token}, LogitsMode::LAST);
  Session fork(session, {kContextTokens + 128, 1});
  outcome.fork_logits = fork.forward(random_ids(30, vocab, 2), LogitsMode::LAST);
  return outcome;
}

void check_same_outcome(const std::string& what, const Outcome& actual, const Outcome& expected) {
  std::printf("  %s: context logits rel L2 %.2e, decode %.2e, fork %.2e, greedy %s\n", what.c_str(),
              relative_l2(actual.context_logits, expected.context_logits),
              relative_l2(actual.decode_logits, expected.decode_logits),
              relative_l2(actual.fork_logits, expected.fork_logits),
              actual.greedy == expected.greedy ? "equal" : "DIFFERENT");
  CHECK(actual.early == expected.early);
  CHECK(actual.context_logits == expected.context_logits);
  CHECK(actual.greedy == expected.greedy);
  CHECK(actual.decode_logits == expected.decode_logits);
  CHECK(actual.fork_logits == expected.fork_logits);
}

// The context's pages split between a GPU tier of 160 pages and the host tier.
void check_split(AttentionMode mode, const std::string& name, const std::string& kv_dtype, int64_t page,
                 const Outcome& in_gpu_memory) {
  const auto split = tiered_model(mode, uint64_t(160 * page), int64_t(1) << 30, kv_dtype);
  const KvStoreMemory split_memory = split->kv_pool()->store().memory();
  std::printf("  %s split: %.1f MiB GPU + %.1f MiB host\n", name.c_str(),
              double(split_memory.gpu_bytes) / (1 << 20), double(split_memory.host_bytes) / (1 << 20));
  CHECK(split_memory.gpu_bytes > 0 && split_memory.host_bytes > 0);
  CHECK(split_memory.gpu_bytes < uint64_t(kContextTokens / 64) * uint64_t(page));
  check_same_outcome(name + " split between GPU and host", run_context(split), in_gpu_memory);
}

// With fp8 rows (split = false) a host tier's pages come in steps of 2048 (a 2 MiB mapping granule over pages
// of 9216 bytes), more than the context holds: its pages all lie in host memory then.
void check_tiers(AttentionMode mode, const std::string& name, const std::string& kv_dtype = "bf16",
                 bool split_tiers = true) {
  const int64_t page = page_bytes(small_decode_geometry(kMaxPosition), kv_dtype);
  const Outcome in_gpu_memory = run_context(tiered_model(mode, 0, 0, kv_dtype));
  if (split_tiers) check_split(mode, name, kv_dtype, page, in_gpu_memory);

  const auto in_host = tiered_model(mode, uint64_t(page), int64_t(1) << 30, kv_dtype);
  const KvStoreMemory host_memory = in_host->kv_pool()->store().memory();
  CHECK(host_memory.gpu_bytes == 0 && host_memory.host_bytes >= uint64_t(2 * kMaxPosition / 64 * page));
  check_same_outcome(name + " all in host memory", run_context(in_host), in_gpu_memory);
}

}  // namespace

TEST(cuda_host_kv_tier_matches_gpu_memory_dense) {
  if (!cuda_backend_or_skip("cuda_host_kv_tier_matches_gpu_memory_dense")) return;
  check_tiers(AttentionMode::DENSE, "dense");
}

TEST(cuda_host_kv_tier_matches_gpu_memory_hip) {
  if (!cuda_backend_or_skip("cuda_host_kv_tier_matches_gpu_memory_hip")) return;
  check_tiers(AttentionMode::HIP, "hip");
}

TEST(cuda_host_kv_tier_matches_gpu_memory_fp8_rows) {
  if (!cuda_backend_or_skip("cuda_host_kv_tier_matches_gpu_memory_fp8_rows")) return;
  check_tiers(AttentionMode::DENSE, "fp8 dense", "fp8-e4m3", false);
  check_tiers(AttentionMode::HIP, "fp8 hip", "fp8-e4m3", false);
}

// A host budget smaller than a page leaves the GPU budget as the only limit, and filling it is
// a clear E_OUT_OF_MEMORY naming both settings.
TEST(cuda_kv_tiers_full_names_both_settings) {
  if (!cuda_backend_or_skip("cuda_kv_tiers_full_names_both_settings")) return;
  const int64_t page = page_bytes(small_decode_geometry(kMaxPosition), "bf16");
  const auto model = tiered_model(AttentionMode::DENSE, uint64_t(2 * page), page / 2);
  CHECK(model->kv_pool()->store().memory().host_bytes == 0);
  Session session(model, {1000, 0});
  try {
    session.forward(std::vector<int32_t>(200, 1), LogitsMode::NONE);
    CHECK(false);
  } catch (const EngineError& error) {
    CHECK(error.code() == ErrorCode::OUT_OF_MEMORY);
    const std::string message = error.what();
    CHECK(message.find("--gpu-kv-budget") != std::string::npos);
    CHECK(message.find("--host-kv-budget") != std::string::npos);
  }
}

// A HIPCODE_PROBE_CACHE_LEVELS outside 0-8 is refused when the backend is made, naming the variable, its
// range and the value.
TEST(cuda_probe_cache_levels_name_the_variable) {
  if (!cuda_backend_or_skip("cuda_probe_cache_levels_name_the_variable")) return;
  for (const char* value : {"9", "four", "-1"}) {
    const ScopedEnv levels("HIPCODE_PROBE_CACHE_LEVELS", value);
    std::string message;
    ErrorCode code = ErrorCode::INTERNAL;
    try {
      create_backend(BackendChoice{"cuda", 0, 0});
    } catch (const EngineError& error) {
      message = error.what();
      code = error.code();
    }
    CHECK(code == ErrorCode::INVALID_ARGUMENT);
    CHECK(message.find("HIPCODE_PROBE_CACHE_LEVELS must be an integer from 0 to 8, got '" +
                       std::string(value) + "'") != std::string::npos);
  }
}
