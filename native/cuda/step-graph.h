// Decode steps as CUDA graphs: the first one-token forward pass of a kind is captured while it runs; later
// ones replay it after refreshing the pinned staging buffers its copy nodes read (token id, position, RoPE
// frequencies, page table, key count, the HiP layers' masks), without walking the model at all.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <vector>

#include "core/backend.h"
#include "cuda/device-memory.h"
#include "kernels/hip-decode.cuh"

namespace hipcode::cuda {

enum class StepMode { EAGER, CAPTURING };

class StepGraph {
 public:
  // HIPCODE_CUDA_GRAPHS=0 runs every step eagerly (for debugging and profiling).
  explicit StepGraph(cudaStream_t stream);
  StepGraph(const StepGraph&) = delete;
  StepGraph& operator=(const StepGraph&) = delete;
  ~StepGraph();

  StepMode mode() const { return mode_; }
  int64_t replays() const { return replays_; }
  // Runs the recorded step of `variant` with new inputs (hip_layers: the session's record of each layer,
  // by layer index), copying its output to `host` if the recording read it to the host; false when none is
  // recorded.
  bool replay(int variant, const StepInputs& inputs, const std::vector<HipDecodeLayer>& hip_layers,
              float* host);
  // Where the output of the step that last ran lies on the device (its [count] floats).
  const float* device_output() const { return device_output_; }
  // Starts capturing a step of `variant` (unless graphs are off or failed before).
  void begin(int variant);
  // Finishes a capture: instantiates it, runs it once and delivers the output. With ok = false (an op threw)
  // the capture is discarded and graphs are not tried again.
  void end(bool ok);

  // The step's inputs, at fixed device addresses, recorded as copies from pinned staging (capturing only).
  const int32_t* ids(const std::vector<int32_t>& values);
  const int32_t* positions(const std::vector<int32_t>& values);
  const float* inv_freq(const std::vector<float>& values);
  // The page table padded with -1 to `capacity` entries, so the graph stays valid as it grows.
  const int32_t* page_table(const std::vector<int32_t>& values, size_t capacity);
  const int32_t* key_count(int32_t value);
  // Layer `layer`'s HiP decode record, in an array of `layers` records.
  const HipDecodeLayer* hip_layer(int64_t layer, const HipDecodeLayer& record, size_t layers);
  // The step's output: `count` floats at device `source` land in `host` at end().
  void read(const float* source, size_t count, float* host);
  // The step's output stays on the device at `source` (to be sampled there).
  void keep(const float* source);

 private:
  struct Recorded {
    cudaGraphExec_t exec = nullptr;
    const float* device_output = nullptr;
    size_t output_count = 0;  // floats copied to the host (0: the output stays on the device)
  };
  // Launches a recorded step, waits for it and copies its output to `host`.
  void run(const Recorded& recorded, float* host);

  cudaStream_t stream_;
  StepMode mode_ = StepMode::EAGER;
  bool disabled_ = false;
  int variant_ = 0;
  int64_t replays_ = 0;
  std::map<int, Recorded> graphs_;
  StagedArray<int32_t> ids_, positions_, page_table_, key_count_;
  StagedArray<float> inv_freq_;
  StagedArray<HipDecodeLayer> hip_layers_;
  std::vector<HipDecodeLayer> hip_layers_host_;  // what the capture staged so far
  float* output_ = nullptr;                      // pinned [output_capacity_]
  size_t output_capacity_ = 0;
  size_t output_count_ = 0;
  float* output_host_ = nullptr;
  const float* device_output_ = nullptr;
};

}  // namespace hipcode::cuda
