// OpProfiler: events from a free list, collected in batches so profiling does not sync after every op.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "cuda/op-profiler.h"

namespace hipcode::cuda {
namespace {

constexpr size_t kCollectEvery = 4096;

}  // namespace

OpProfiler::OpProfiler() {
  const char* flag = std::getenv("HIPCODE_PROFILE");
  enabled_ = flag && std::strcmp(flag, "0") != 0 && flag[0] != '\0';
}

OpProfiler::~OpProfiler() {
  if (!enabled_) return;
  collect();
  double total = 0;
  for (const auto& [op, t] : totals_) total += t.ms;
  std::fprintf(stderr, "hipcode profile (GPU time per op, HIPCODE_PROFILE):\n");
  for (const auto& [op, t] : totals_) {
    std::fprintf(stderr, "  %-16s %10.3f ms %6.1f%% %8ld calls %9.2f us/call\n", op.c_str(), t.ms,
                 total > 0 ? 100 * t.ms / total : 0, t.calls, 1000 * t.ms / double(t.calls));
  }
  for (cudaEvent_t event : free_events_) cudaEventDestroy(event);
}

cudaEvent_t OpProfiler::take_event() {
  if (free_events_.empty()) {
    cudaEvent_t event = nullptr;
    cudaEventCreate(&event);
    return event;
  }
  cudaEvent_t event = free_events_.back();
  free_events_.pop_back();
  return event;
}

void OpProfiler::begin(const char* op, cudaStream_t stream) {
  if (pending_.size() >= kCollectEvery) collect();
  Pending pending{op, take_event(), take_event()};
  cudaEventRecord(pending.start, stream);
  pending_.push_back(pending);
}

void OpProfiler::end(cudaStream_t stream) {
  cudaEventRecord(pending_.back().stop, stream);
}

void OpProfiler::collect() {
  if (pending_.empty()) return;
  cudaEventSynchronize(pending_.back().stop);
  for (const Pending& pending : pending_) {
    float ms = 0;
    cudaEventElapsedTime(&ms, pending.start, pending.stop);
    Total& total = totals_[pending.op];
    total.ms += ms;
    total.calls += 1;
    free_events_.push_back(pending.start);
    free_events_.push_back(pending.stop);
  }
  pending_.clear();
}

}  // namespace hipcode::cuda
