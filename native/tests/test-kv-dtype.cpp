// KV cache row forms: on the CPU backend a model whose cache keeps bf16 or fp8 (e4m3 with a scale per row)
// rows against the same model keeping f32 rows, and fp8 against bf16: prefill and decode logits (the fidelity
// the forms cost, printed), a snapshot round trip that keeps the form. On the CUDA backend: fp8 rows against
// the CPU's fp8 rows and against its own bf16 rows (dense and HiP), snapshots moved between the two backends
// in both directions (the rows' host form is the CPU's), and the form it does not keep (f32) refused.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "core/backend-factory.h"
#include "core/error.h"
#include "core/model.h"
#include "core/session.h"
#include "tests/backend-helpers.h"
#include "tests/check.h"
#include "tests/hip-helpers.h"

using namespace hipcode;
using namespace hipcode::test;

namespace {

std::shared_ptr<Model> model_keeping(const std::string& kv_dtype, const std::string& backend = "cpu",
                                     AttentionMode mode = AttentionMode::DENSE) {
  SyntheticWeights weights;
  weights.seed = 21;
  BackendChoice choice{backend, 0, size_t(backend == "cpu" ? 2 : 0)};
  choice.kv_dtype = kv_dtype;
  auto model = Model::synthetic(small_decode_geometry(1024), weights, create_backend(choice));
  AttentionOptions options;
  options.mode = mode;
  options.hip.base = small_config(4);
  model->set_attention(options);
  return model;
}

struct Fidelity {
  double prefill_rel_l2 = 0;  // last logits after the prompt
  double decode_rel_l2 = 0;   // worst over the teacher-forced steps
  int top1_agreement = 0;
};

// `kept` against `reference` over a 600-token prompt and 16 decode steps fed the reference's greedy tokens.
Fidelity measure(const std::shared_ptr<Model>& kept, const std::shared_ptr<Model>& reference) {
  const std::vector<int32_t> prompt = random_ids(600, reference->geometry().vocab_size, 5);
  Session a(kept, {700, 0});
  Session b(reference, {700, 0});
  Fidelity f;
  std::vector<float> actual = a.forward(prompt, LogitsMode::LAST);
  std::vector<float> expected = b.forward(prompt, LogitsMode::LAST);
  f.prefill_rel_l2 = relative_l2(actual, expected);
  for (int step = 0; step < 16; ++step) {
    const auto next = int32_t(std::max_element(expected.begin(), expected.end()) - expected.begin());
    if (std::max_element(actual.begin(), actual.end()) - actual.begin() == next) ++f.top1_agreement;
    actual = a.forward({next}, LogitsMode::LAST);
    expected = b.forward({next}, LogitsMode::LAST);
    f.decode_rel_l2 = std::max(f.decode_rel_l2, relative_l2(actual, expected));
  }
  return f;
}

}  // namespace

TEST(kv_dtype_bf16_and_fp8_rows_track_f32) {
  const auto reference = model_keeping("f32");
  for (const char* form : {"bf16", "fp8-e4m3"}) {
    const auto kept = model_keeping(form);
    CHECK(std::string(dtype_name(kept->backend().kv_dtype())) == form);
    const Fidelity f = measure(kept, reference);
    std::printf(
        "  kv %s vs f32 (600-token prompt, 16 steps): prefill logits rel L2 %.2e, decode worst %.2e, "
        "greedy top-1 %d/16\n",
        form, f.prefill_rel_l2, f.decode_rel_l2, f.top1_agreement);
    const bool fp8 = std::string(form) == "fp8-e4m3";
    CHECK(f.prefill_rel_l2 > 0);  // the form rounds: the comparison sees it
    CHECK_NEAR(f.prefill_rel_l2, 0.0, fp8 ? 0.05 : 0.01);
    CHECK_NEAR(f.decode_rel_l2, 0.0, fp8 ? 0.05 : 0.01);
  }
}

// What the GPU would trade: fp8 rows against bf16 rows (the CUDA backend's form).
TEST(kv_dtype_fp8_rows_track_bf16) {
  const Fidelity f = measure(model_keeping("fp8-e4m3"), model_keeping("bf16"));
  std::printf(
      "  kv fp8-e4m3 vs bf16 (600-token prompt, 16 steps): prefill logits rel L2 %.2e, decode worst %.2e, "
      "greedy top-1 %d/16\n",
      f.prefill_rel_l2, f.decode_rel_l2, f.top1_agreement);
  CHECK(f.prefill_rel_l2 > 0);
  CHECK_NEAR(f.prefill_rel_l2, 0.0, 0.05);
  CHECK_NEAR(f.decode_rel_l2, 0.0, 0.05);
}

TEST(kv_dtype_is_checked_and_the_cuda_backend_refuses_f32) {
  CHECK_THROWS_CODE(model_keeping("f16"), ErrorCode::INVALID_ARGUMENT);
  CHECK_THROWS_CODE(model_keeping("fp8"), ErrorCode::INVALID_ARGUMENT);
  BackendChoice cuda{"cuda", 0, 0};
  cuda.kv_dtype = "f32";
  try {
    create_backend(cuda);
    fail(__FILE__, __LINE__, "the CUDA backend took f32 rows");
  } catch (const EngineError& error) {
    CHECK(error.code() == ErrorCode::INVALID_ARGUMENT);
    CHECK(std::string(error.what()) ==
          "spec.kvDtype: the cuda backend keeps the KV cache as 'auto', 'bf16', 'fp8-e4m3'; got 'f32'");
  }
}

void print_fidelity(const char* what, const Fidelity& f) {
  std::printf(
      "  %s (600-token prompt, 16 steps): prefill logits rel L2 %.2e, decode worst %.2e, greedy top-1 "
      "%d/16\n",
      what, f.prefill_rel_l2, f.decode_rel_l2, f.top1_agreement);
}

// The GPU's fp8 rows track the CPU's (the CPU encodes f32 keys, the GPU bf16 ones: a few rows round to the
// neighbouring e4m3 value) and cost against the GPU's bf16 rows what they cost on the CPU.
TEST(cuda_fp8_rows_track_the_cpu_and_bf16_rows) {
  if (!cuda_backend_or_skip("cuda_fp8_rows_track_the_cpu_and_bf16_rows")) return;
  const auto cuda_fp8 = model_keeping("fp8-e4m3", "cuda");
  CHECK(cuda_fp8->backend().kv_dtype() == DType::FP8_E4M3);
  const Fidelity against_cpu = measure(cuda_fp8, model_keeping("fp8-e4m3", "cpu"));
  print_fidelity("cuda fp8 vs cpu fp8", against_cpu);
  CHECK_NEAR(against_cpu.prefill_rel_l2, 0.0, 3e-2);
  CHECK_NEAR(against_cpu.decode_rel_l2, 0.0, 3e-2);
  const Fidelity against_bf16 = measure(cuda_fp8, model_keeping("bf16", "cuda"));
  print_fidelity("cuda fp8 vs cuda bf16", against_bf16);
  CHECK(against_bf16.prefill_rel_l2 > 0);
  CHECK_NEAR(against_bf16.prefill_rel_l2, 0.0, 0.05);
  CHECK_NEAR(against_bf16.decode_rel_l2, 0.0, 0.05);
  const Fidelity hip = measure(model_keeping("fp8-e4m3", "cuda", AttentionMode::HIP),
                               model_keeping("bf16", "cuda", AttentionMode::HIP));
  print_fidelity("cuda hip fp8 vs cuda hip bf16", hip);
  CHECK(hip.prefill_rel_l2 > 0);
  CHECK_NEAR(hip.prefill_rel_l2, 0.0, 0.05);
  CHECK_NEAR(hip.decode_rel_l2, 0.0, 0.1);
}

// Saves `prompt`'s context from `from` and loads it into a session of `to`: the tokens come back, and the
// next logits of `to` after the load track those of `from` within `tolerance` (0: equal).
void check_snapshot_moves(const std::shared_ptr<Model>& from, const std::shared_ptr<Model>& to,
                          double tolerance, const char* what) {
  const std::vector<int32_t> prompt = random_ids(150, from->geometry().vocab_size, 6);
  Session saved(from, {300, 0});
  saved.forward(prompt, LogitsMode::NONE);
  char folder[] = "/tmp/hipcode-kv-dtype-XXXXXX";
  const std::string path = std::string(::mkdtemp(folder)) + "/fp8.kv";
  saved.save_snapshot(path, "m", 150);
  Session loaded(to, {300, 0});
  CHECK(loaded.load_snapshot(path, "m", -1) == prompt);
  const std::vector<float> expected = saved.forward({9}, LogitsMode::LAST);
  const std::vector<float> actual = loaded.forward({9}, LogitsMode::LAST);
  const double error = relative_l2(actual, expected);
  std::printf("  snapshot %s: next logits rel L2 %.2e\n", what, error);
  if (tolerance == 0) {
    CHECK(actual == expected);
  } else {
    CHECK_NEAR(error, 0.0, tolerance);
  }
  ::unlink(path.c_str());
  ::rmdir(folder);
}

TEST(kv_dtype_fp8_snapshot_round_trip_keeps_the_rows) {
  const auto model = model_keeping("fp8-e4m3");
  check_snapshot_moves(model, model, 0, "cpu fp8 -> cpu fp8");
  Session saved(model, {300, 0});
  saved.forward(random_ids(150, model->geometry().vocab_size, 6), LogitsMode::NONE);
  char folder[] = "/tmp/hipcode-kv-dtype-XXXXXX";
  const std::string path = std::string(::mkdtemp(folder)) + "/fp8.kv";
  saved.save_snapshot(path, "m", 150);
  Session other(model_keeping("f32"), {300, 0});
  CHECK_THROWS_CODE(other.load_snapshot(path, "m", -1), ErrorCode::SNAPSHOT);  // another K/V shape
  ::unlink(path.c_str());
  ::rmdir(folder);
}

TEST(cuda_fp8_snapshots_move_between_backends) {
  if (!cuda_backend_or_skip("cuda_fp8_snapshots_move_between_backends")) return;
  const auto cuda = model_keeping("fp8-e4m3", "cuda");
  const auto cpu = model_keeping("fp8-e4m3", "cpu");
  check_snapshot_moves(cuda, cuda, 0, "cuda fp8 -> cuda fp8");
  // Rows in the wrong places (values or scales) would change the logits far beyond the backends' 1e-2.
  check_snapshot_moves(cuda, cpu, 1.5e-2, "cuda fp8 -> cpu fp8");
  check_snapshot_moves(cpu, cuda, 1.5e-2, "cpu fp8 -> cuda fp8");
}

// fp8 rows on CUDA read 8 values at a time: a model whose head_dim is not a multiple of 8 is refused when it
// loads, naming the setting and what to keep instead.
TEST(cuda_fp8_rows_refuse_a_head_dim_not_a_multiple_of_8) {
  if (!cuda_backend_or_skip("cuda_fp8_rows_refuse_a_head_dim_not_a_multiple_of_8")) return;
  ModelGeometry g = small_decode_geometry(1024);
  g.head_dim = 20;
  BackendChoice choice{"cuda", 0, 0};
  choice.kv_dtype = "fp8-e4m3";
  try {
    Model::synthetic(g, SyntheticWeights{}, create_backend(choice));
    fail(__FILE__, __LINE__, "a head_dim of 20 was taken with fp8 rows");
  } catch (const EngineError& error) {
    CHECK(error.code() == ErrorCode::INVALID_ARGUMENT);
    CHECK(std::string(error.what())
              .find("spec.kvDtype: fp8-e4m3 rows on the CUDA backend need a head_dim that "
                    "is a multiple of 8, this model's is 20") != std::string::npos);
  }
}
