// KV cache row forms on the CPU backend: a model whose cache keeps bf16 or fp8 (e4m3 with a scale per row)
// rows against the same model keeping f32 rows, and fp8 against bf16: prefill and decode logits (the fidelity
// the forms cost, printed), a snapshot round trip that keeps the form, and the CUDA backend refusing a form
// it does not keep.
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

using namespace hipcode;
using namespace hipcode::test;

namespace {

std::shared_ptr<Model> model_keeping(const std::string& kv_dtype) {
  SyntheticWeights weights;
  weights.seed = 21;
  BackendChoice choice{"cpu", 0, 2};
  choice.kv_dtype = kv_dtype;
  return Model::synthetic(small_decode_geometry(1024), weights, create_backend(choice));
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

TEST(kv_dtype_is_checked_and_the_cuda_backend_refuses_fp8) {
  CHECK_THROWS_CODE(model_keeping("f16"), ErrorCode::INVALID_ARGUMENT);
  CHECK_THROWS_CODE(model_keeping("fp8"), ErrorCode::INVALID_ARGUMENT);
  BackendChoice cuda{"cuda", 0, 0};
  cuda.kv_dtype = "fp8-e4m3";
  try {
    create_backend(cuda);
    fail(__FILE__, __LINE__, "the CUDA backend took fp8 rows");
  } catch (const EngineError& error) {
    CHECK(error.code() == ErrorCode::INVALID_ARGUMENT);
    CHECK(std::string(error.what()).find("spec.kvDtype") != std::string::npos);
  }
}

TEST(kv_dtype_fp8_snapshot_round_trip_keeps_the_rows) {
  const auto model = model_keeping("fp8-e4m3");
  const std::vector<int32_t> prompt = random_ids(150, model->geometry().vocab_size, 6);
  Session saved(model, {300, 0});
  saved.forward(prompt, LogitsMode::NONE);
  char folder[] = "/tmp/hipcode-kv-dtype-XXXXXX";
  const std::string path = std::string(::mkdtemp(folder)) + "/fp8.kv";
  saved.save_snapshot(path, "m", 150);
  Session loaded(model, {300, 0});
  CHECK(loaded.load_snapshot(path, "m", -1) == prompt);
  CHECK(loaded.forward({9}, LogitsMode::LAST) == saved.forward({9}, LogitsMode::LAST));
  Session other(model_keeping("f32"), {300, 0});
  CHECK_THROWS_CODE(other.load_snapshot(path, "m", -1), ErrorCode::SNAPSHOT);  // another K/V shape
  ::unlink(path.c_str());
  ::rmdir(folder);
}
