// The CPU linear kernel against a double-precision reference at awkward sizes, for every weight dtype.
#include "core/thread-pool.h"
#include "cpu/linear.h"
#include "tests/check.h"
#include "tests/helpers.h"

using namespace hipcode;
using namespace hipcode::test;

namespace {

void check_linear(ThreadPool& pool, int64_t n, int64_t in, int64_t out, DType dtype, bool with_bias) {
  std::mt19937_64 rng(uint64_t(n * 1000003 + in * 1009 + out));
  const std::vector<float> x = random_floats(rng, size_t(n * in), 1.0f);         // [n, in]
  const RandomTensor weight = random_tensor(rng, size_t(out * in), dtype, 1.0);  // [out, in]
  const std::vector<float> bias = random_floats(rng, size_t(out), 1.0f);         // [out]
  std::vector<float> y(size_t(n * out));                                         // [n, out]
  const Tensor view{weight.bytes.data(), dtype, {out, in}};
  cpu::linear_forward(pool, x.data(), n, view, with_bias ? bias.data() : nullptr, y.data());
  double worst = 0;
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t o = 0; o < out; ++o) {
      double expected = with_bias ? double(bias[o]) : 0.0;
      double magnitude = std::fabs(expected);
      for (int64_t k = 0; k < in; ++k) {
        expected += double(x[t * in + k]) * weight.values[o * in + k];
        magnitude += std::fabs(double(x[t * in + k]) * weight.values[o * in + k]);
      }
      worst = std::max(worst, std::fabs(double(y[t * out + o]) - expected) / (magnitude + 1e-30));
    }
  }
  CHECK_NEAR(worst, 0.0, 1e-6);
}

}  // namespace

TEST(linear_matches_double_reference) {
  ThreadPool pool(3);
  for (DType dtype : {DType::BF16, DType::F16, DType::F32}) {
    check_linear(pool, 7, 67, 131, dtype, true);
    check_linear(pool, 1, 67, 131, dtype, false);
    check_linear(pool, 9, 16, 5, dtype, true);
    check_linear(pool, 4, 1, 3, dtype, false);
    check_linear(pool, 13, 300, 2, dtype, true);
  }
}

TEST(linear_single_thread_equals_multi_thread) {
  std::mt19937_64 rng(3);
  const std::vector<float> x = random_floats(rng, 5 * 40, 1.0f);
  const RandomTensor weight = random_tensor(rng, 70 * 40, DType::BF16, 1.0);
  const Tensor view{weight.bytes.data(), DType::BF16, {70, 40}};
  std::vector<float> single(5 * 70), multi(5 * 70);
  ThreadPool one(1), four(4);
  cpu::linear_forward(one, x.data(), 5, view, nullptr, single.data());
  cpu::linear_forward(four, x.data(), 5, view, nullptr, multi.data());
  CHECK(single == multi);
}
