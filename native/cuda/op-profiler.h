// Per-op GPU time of the CUDA backend, for performance work: with HIPCODE_PROFILE=1 every op is bracketed by
// CUDA events and the totals per op go to stderr when the backend is destroyed. Off, it costs one branch per
// op.
#pragma once

#include <cuda_runtime.h>

#include <map>
#include <string>
#include <vector>

namespace hipcode::cuda {

class OpProfiler {
 public:
  OpProfiler();
  OpProfiler(const OpProfiler&) = delete;
  OpProfiler& operator=(const OpProfiler&) = delete;
  ~OpProfiler();

  bool enabled() const { return enabled_; }
  // Brackets the work `op` enqueues on `stream` between begin and end.
  void begin(const char* op, cudaStream_t stream);
  void end(cudaStream_t stream);

 private:
  struct Pending {
    const char* op;
    cudaEvent_t start, stop;
  };
  struct Total {
    double ms = 0;
    long calls = 0;
  };
  cudaEvent_t take_event();
  // Adds the finished pending pairs to the totals (synchronizes on the last event).
  void collect();

  bool enabled_ = false;
  std::vector<cudaEvent_t> free_events_;
  std::vector<Pending> pending_;
  std::map<std::string, Total> totals_;
};

}  // namespace hipcode::cuda
