// Measures the CPU linear kernel in GFLOP/s at model-like shapes (decode and prefill, bf16 weights).
#include "tests/bench.h"

#include <chrono>
#include <cstdio>

#include "core/thread-pool.h"
#include "cpu/linear.h"
#include "tests/helpers.h"

namespace hipcode::test {
namespace {

void bench(ThreadPool& pool, int64_t n, int64_t in, int64_t out, DType dtype) {
  std::mt19937_64 rng(1);
  const std::vector<float> x = random_floats(rng, size_t(n * in), 1.0f);
  const RandomTensor weight = random_tensor(rng, size_t(out * in), dtype, 1.0);
  std::vector<float> y(size_t(n * out));
  const Tensor view{weight.bytes.data(), dtype, {out, in}};
  cpu::linear_forward(pool, x.data(), n, view, nullptr, y.data());  // warm-up
  int repeats = 0;
  const auto start = std::chrono::steady_clock::now();
  double seconds = 0;
  while (seconds < 1.0) {
    cpu::linear_forward(pool, x.data(), n, view, nullptr, y.data());
    ++repeats;
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  const double gflops = 2.0 * double(n) * double(in) * double(out) * repeats / seconds / 1e9;
  std::printf("linear %-4s n=%-4lld in=%-5lld out=%-5lld threads=%zu: %7.2f GFLOP/s, %8.3f ms\n",
              dtype_name(dtype), (long long)n, (long long)in, (long long)out, pool.size(), gflops,
              seconds / repeats * 1e3);
}

}  // namespace

int run_benchmarks() {
  ThreadPool pool(0);
  for (DType dtype : {DType::BF16, DType::F16, DType::F32}) {
    bench(pool, 1, 896, 4864, dtype);
    bench(pool, 64, 896, 4864, dtype);
  }
  bench(pool, 1, 3584, 3584, DType::BF16);
  bench(pool, 128, 3584, 3584, DType::BF16);
  return 0;
}

}  // namespace hipcode::test
