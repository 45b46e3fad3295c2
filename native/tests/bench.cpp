// The native benchmarks: the CPU linear kernel in GFLOP/s at model-like shapes (decode and prefill, bf16
// weights), and how fast a snapshot's K/V chunks are read and checked (Qwen2.5-7B rows, from the page cache).
#include "tests/bench.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/snapshot.h"
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

// 2.3 GB of random bf16 K/V (40,000 positions of 28 layers, 4 KV heads of 128) saved in $TMPDIR (default
// /tmp; a tmpfs such as /dev/shm keeps the disk out), then read back with a sink that touches each chunk: the
// median of 3 reads after one.
void bench_snapshot_read() {
  const SnapshotShape shape{DType::BF16, 28, 4, 128};
  const int64_t tokens = 40000;
  const char* folder = std::getenv("TMPDIR");
  const std::string path = std::string(folder ? folder : "/tmp") + "/hipcode-bench-snapshot";
  SnapshotHeader header{"bench", shape, 576, std::vector<int32_t>(size_t(tokens), 1)};
  std::mt19937_64 rng(1);
  snapshot_save(
      path, header,
      [&](int64_t, int64_t count, void* host) {
        auto* words = static_cast<uint64_t*>(host);
        for (int64_t i = 0; i < count * shape.token_bytes() / 8; ++i) words[i] = rng();
      },
      nullptr);
  std::vector<double> seconds;
  uint64_t touched = 0;
  for (int run = 0; run < 4; ++run) {
    const auto start = std::chrono::steady_clock::now();
    SnapshotReader reader(path, SnapshotExpectation{"bench", shape, tokens, 2});
    reader.read_kv([&](int64_t, int64_t, const void* host) { touched += *static_cast<const uint8_t*>(host); },
                   nullptr, tokens);
    if (run > 0)
      seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  ::unlink(path.c_str());
  std::sort(seconds.begin(), seconds.end());
  const double gigabytes = double(tokens * shape.token_bytes()) / 1e9;
  std::printf("snapshot read %.2f GB from %s: %.3f s, %.2f GB/s (checksum byte sum %llu)\n", gigabytes,
              path.c_str(), seconds[1], gigabytes / seconds[1], (unsigned long long)touched);
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
  bench_snapshot_read();
  return 0;
}

}  // namespace hipcode::test
