// StepGraph: stream capture in relaxed mode (the activation pool may still cudaMalloc while capturing), one
// executable graph per step variant, pinned staging for inputs and output.
#include <cstdlib>
#include <cstring>

#include "cuda/step-graph.h"

namespace hipcode::cuda {

StepGraph::~StepGraph() {
  for (auto& [variant, recorded] : graphs_) cudaGraphExecDestroy(recorded.exec);
  cudaFreeHost(output_);
}

StepGraph::StepGraph(cudaStream_t stream) : stream_(stream) {
  const char* flag = std::getenv("HIPCODE_CUDA_GRAPHS");
  disabled_ = flag && std::strcmp(flag, "0") == 0;
}

bool StepGraph::replay(int variant, const StepInputs& inputs, const std::vector<HipDecodeLayer>& hip_layers,
                       float* host) {
  const auto found = graphs_.find(variant);
  if (found == graphs_.end()) return false;
  ids_.stage({inputs.id}, 1, 0, false, stream_);
  positions_.stage({int32_t(inputs.position)}, 1, 0, false, stream_);
  key_count_.stage({int32_t(inputs.position + 1)}, 1, 0, false, stream_);
  inv_freq_.stage(inputs.freqs->inv_freq, inputs.freqs->inv_freq.size(), 0.0f, false, stream_);
  page_table_.stage(*inputs.page_table, page_table_.capacity(), -1, false, stream_);
  if (hip_layers_.capacity() > 0) hip_layers_.stage(hip_layers, hip_layers_.capacity(), {}, false, stream_);
  run(found->second, host);
  ++replays_;
  return true;
}

void StepGraph::run(const Recorded& recorded, float* host) {
  device_output_ = recorded.device_output;
  check(cudaGraphLaunch(recorded.exec, stream_), "launching the decode step graph");
  check(cudaStreamSynchronize(stream_), "running the decode step graph");
  if (recorded.output_count > 0) std::memcpy(host, output_, recorded.output_count * sizeof(float));
}

void StepGraph::begin(int variant) {
  if (disabled_) return;
  variant_ = variant;
  output_host_ = nullptr;
  output_count_ = 0;
  device_output_ = nullptr;
  for (StagedArray<int32_t>* array : {&ids_, &positions_, &page_table_, &key_count_}) array->rearm();
  inv_freq_.rearm();
  hip_layers_.rearm();
  hip_layers_host_.clear();
  check(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeRelaxed), "capturing a decode step");
  mode_ = StepMode::CAPTURING;
}

void StepGraph::end(bool ok) {
  if (mode_ != StepMode::CAPTURING) return;
  mode_ = StepMode::EAGER;
  cudaGraph_t graph = nullptr;
  const cudaError_t ended = cudaStreamEndCapture(stream_, &graph);
  if (!ok || ended != cudaSuccess) {
    if (graph) cudaGraphDestroy(graph);
    disabled_ = true;
    if (ok) check(ended, "capturing a decode step");
    return;
  }
  Recorded recorded;
  const cudaError_t instantiated = cudaGraphInstantiate(&recorded.exec, graph, 0);
  cudaGraphDestroy(graph);
  check(instantiated, "instantiating the decode step graph");
  recorded.output_count = output_host_ ? output_count_ : 0;
  recorded.device_output = device_output_;
  graphs_[variant_] = recorded;
  run(recorded, output_host_);
}

const int32_t* StepGraph::ids(const std::vector<int32_t>& values) {
  return ids_.stage(values, values.size(), 0, true, stream_);
}

const int32_t* StepGraph::positions(const std::vector<int32_t>& values) {
  return positions_.stage(values, values.size(), 0, true, stream_);
}

const float* StepGraph::inv_freq(const std::vector<float>& values) {
  return inv_freq_.stage(values, values.size(), 0.0f, true, stream_);
}

const int32_t* StepGraph::page_table(const std::vector<int32_t>& values, size_t capacity) {
  return page_table_.stage(values, capacity, -1, true, stream_);
}

const int32_t* StepGraph::key_count(int32_t value) {
  return key_count_.stage({value}, 1, 0, true, stream_);
}

const HipDecodeLayer* StepGraph::hip_layer(int64_t layer, const HipDecodeLayer& record, size_t layers) {
  if (hip_layers_host_.size() < layers) hip_layers_host_.resize(layers);
  hip_layers_host_.at(size_t(layer)) = record;
  return hip_layers_.stage(hip_layers_host_, layers, {}, true, stream_) + layer;
}

void StepGraph::read(const float* source, size_t count, float* host) {
  if (count > output_capacity_) {
    cudaFreeHost(output_);
    output_ = nullptr;
    check(cudaMallocHost(&output_, count * sizeof(float)), "allocating the pinned step output");
    output_capacity_ = count;
  }
  check(cudaMemcpyAsync(output_, source, count * sizeof(float), cudaMemcpyDeviceToHost, stream_),
        "reading the step output");
  output_count_ = count;
  output_host_ = host;
  device_output_ = source;
}

void StepGraph::keep(const float* source) {
  device_output_ = source;
}

}  // namespace hipcode::cuda
