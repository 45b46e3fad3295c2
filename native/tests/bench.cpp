// The native benchmarks: the CPU linear kernel in GFLOP/s at model-like shapes (decode and prefill, bf16
// weights), and how fast a snapshot's K/V chunks are saved and read back with their checks (Qwen2.5-7B rows).
#include "tests/bench.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// 2.3 GB of random bf16 K/V (40,000 positions of 28 layers, 4 KV heads of 128) saved in $TMPDIR (default
// /tmp; a tmpfs such as /dev/shm keeps the disk out) three times, its chunks copied from a random block, then
// read back 4 times with a sink that touches each chunk: the median save and the median of the last 3 reads.
void bench_snapshot() {
  const SnapshotShape shape{DType::BF16, 28, 4, 128};
  const int64_t tokens = 40000;
  const char* folder = std::getenv("TMPDIR");
  const std::string path = std::string(folder ? folder : "/tmp") + "/hipcode-bench-snapshot";
  const SnapshotHeader header{"bench", shape, 576, std::vector<int32_t>(size_t(tokens), 1)};
  std::mt19937_64 rng(1);
  std::vector<uint64_t> block(size_t(header.chunk_tokens * shape.token_bytes() / 8));
  for (uint64_t& word : block) word = rng();
  std::vector<double> saves;
  for (int run = 0; run < 3; ++run) {
    const auto start = std::chrono::steady_clock::now();
    snapshot_save(
        path, header,
        [&](int64_t, int64_t count, void* host) {
          std::memcpy(host, block.data(), size_t(count * shape.token_bytes()));
        },
        nullptr);
    saves.push_back(seconds_since(start));
  }
  std::vector<double> reads;
  uint64_t touched = 0;
  for (int run = 0; run < 4; ++run) {
    const auto start = std::chrono::steady_clock::now();
    SnapshotReader reader(path, SnapshotExpectation{"bench", shape, tokens, 2});
    reader.read_kv([&](int64_t, int64_t, const void* host) { touched += *static_cast<const uint8_t*>(host); },
                   nullptr, tokens);
    if (run > 0) reads.push_back(seconds_since(start));
  }
  ::unlink(path.c_str());
  const double gigabytes = double(tokens * shape.token_bytes()) / 1e9;
  std::printf("snapshot save %.2f GB to %s: %.3f s, %.2f GB/s\n", gigabytes, path.c_str(), median(saves),
              gigabytes / median(saves));
  std::printf("snapshot read %.2f GB from %s: %.3f s, %.2f GB/s (first bytes summed: %llu)\n", gigabytes,
              path.c_str(), median(reads), gigabytes / median(reads), (unsigned long long)touched);
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
  bench_snapshot();
  return 0;
}

}  // namespace hipcode::test
