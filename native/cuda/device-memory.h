// Device memory helpers of the CUDA backend: CUDA errors as engine errors, a size-keyed pool for activations,
// host arrays mirrored on the device, and pinned staging arrays at fixed addresses for captured steps.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/error.h"

namespace hipcode::cuda {

// Throws E_OUT_OF_MEMORY for allocation failures (saying what to change), else E_INTERNAL naming the call.
[[noreturn]] void fail(cudaError_t error, const std::string& what);

inline void check(cudaError_t error, const char* what) {
  if (error != cudaSuccess) fail(error, what);
}

// Device memory reused by exact size: every layer allocates the same activation shapes, and cudaMalloc
// per op would dominate a decode step. Single-stream use makes reuse after release safe. An allocation that
// finds no memory frees the cached blocks and retries, except blocks handed out while pinning: a recorded
// step graph keeps their addresses.
class DevicePool {
 public:
  DevicePool() = default;
  DevicePool(const DevicePool&) = delete;
  DevicePool& operator=(const DevicePool&) = delete;
  ~DevicePool() {
    for (auto& [bytes, blocks] : free_) {
      for (void* block : blocks) cudaFree(block);
    }
  }

  void* take(size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto& blocks = free_[bytes];
    if (!blocks.empty()) {
      void* block = blocks.back();
      blocks.pop_back();
      if (pinning_) pinned_.insert(block);
      return block;
    }
    void* block = nullptr;
    cudaError_t error = cudaMalloc(&block, bytes);
    if (error == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      release_cached_locked();
      error = cudaMalloc(&block, bytes);
    }
    if (error != cudaSuccess) {
      cudaGetLastError();
      fail(error, "allocating " + std::to_string(bytes) + " bytes of activations");
    }
    if (pinning_) pinned_.insert(block);
    return block;
  }

  // While on, the blocks taken are never freed before the pool (a step graph is being recorded).
  void set_pinning(bool on) {
    std::lock_guard<std::mutex> lock(mutex_);
    pinning_ = on;
  }

  void give(void* block, size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    free_[bytes].push_back(block);
  }

 private:
  void release_cached_locked() {
    for (auto& [bytes, blocks] : free_) {
      std::vector<void*> kept;
      for (void* block : blocks) {
        if (pinned_.count(block)) {
          kept.push_back(block);
        } else {
          cudaFree(block);
        }
      }
      blocks = std::move(kept);
    }
  }

  std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  std::unordered_set<void*> pinned_;
  bool pinning_ = false;
};

// A device buffer taken from the pool and given back on destruction.
class PooledBuffer {
 public:
  PooledBuffer(DevicePool& pool, size_t bytes) : pool_(pool), bytes_(std::max<size_t>(bytes, 16)) {
    data_ = pool_.take(bytes_);
  }
  PooledBuffer(const PooledBuffer&) = delete;
  PooledBuffer& operator=(const PooledBuffer&) = delete;
  ~PooledBuffer() { pool_.give(data_, bytes_); }
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }

 private:
  DevicePool& pool_;
  size_t bytes_;
  void* data_;
};

// A small host array mirrored in device memory, uploaded only when its contents change.
template <typename T>
class DeviceMirror {
 public:
  DeviceMirror() = default;
  DeviceMirror(const DeviceMirror&) = delete;
  DeviceMirror& operator=(const DeviceMirror&) = delete;
  ~DeviceMirror() { cudaFree(device_); }

  const T* upload(const std::vector<T>& host, cudaStream_t stream) {
    if (host == host_ && device_) return device_;
    if (host.size() > capacity_) {
      cudaFree(device_);
      device_ = nullptr;
      capacity_ = std::max<size_t>(host.size(), 2 * capacity_);
      check(cudaMalloc(&device_, capacity_ * sizeof(T)), "allocating a device index buffer");
    }
    host_ = host;
    // The copy reads host_, which stays unchanged until the next upload, after which the stream is synced.
    check(cudaMemcpyAsync(device_, host_.data(), host_.size() * sizeof(T), cudaMemcpyHostToDevice, stream),
          "uploading indices");
    check(cudaStreamSynchronize(stream), "uploading indices");
    return device_;
  }

 private:
  std::vector<T> host_;
  T* device_ = nullptr;
  size_t capacity_ = 0;
};

// One int32 the GPU writes (a sampled token) and the host reads back through pinned memory.
class DeviceToken {
 public:
  DeviceToken() = default;
  DeviceToken(const DeviceToken&) = delete;
  DeviceToken& operator=(const DeviceToken&) = delete;
  ~DeviceToken() {
    cudaFree(device_);
    cudaFreeHost(host_);
  }

  int32_t* device() {
    if (!device_) {
      check(cudaMalloc(&device_, sizeof(int32_t)), "allocating the sampled token");
      check(cudaMallocHost(&host_, sizeof(int32_t)), "allocating the sampled token");
    }
    return device_;
  }

  // Waits for the stream and returns the value.
  int32_t fetch(cudaStream_t stream) {
    check(cudaMemcpyAsync(host_, device(), sizeof(int32_t), cudaMemcpyDeviceToHost, stream),
          "reading the token");
    check(cudaStreamSynchronize(stream), "reading the token");
    return *host_;
  }

 private:
  int32_t* device_ = nullptr;
  int32_t* host_ = nullptr;
};

// A device array at a fixed address filled from pinned host memory: a captured step's copy node reads the
// staging buffer, so rewriting the staging buffer before each replay feeds the graph new inputs.
template <typename T>
class StagedArray {
 public:
  StagedArray() = default;
  StagedArray(const StagedArray&) = delete;
  StagedArray& operator=(const StagedArray&) = delete;
  ~StagedArray() {
    cudaFreeHost(host_);
    cudaFree(device_);
  }

  // Writes `values` (padded with `fill` up to the capacity, fixed by the first call) into the staging buffer;
  // with `enqueue`, also records the copy of the whole capacity to the device on `stream`, once until
  // rearm().
  const T* stage(const std::vector<T>& values, size_t capacity, T fill, bool enqueue, cudaStream_t stream) {
    if (!device_) {
      capacity_ = std::max(capacity, values.size());
      check(cudaMallocHost(&host_, capacity_ * sizeof(T)), "allocating pinned step inputs");
      check(cudaMalloc(&device_, capacity_ * sizeof(T)), "allocating step inputs");
    }
    if (values.size() > capacity_) {
      throw EngineError(ErrorCode::INTERNAL, "a captured step input outgrew its capacity (" +
                                                 std::to_string(values.size()) + " > " +
                                                 std::to_string(capacity_) + ")");
    }
    std::copy(values.begin(), values.end(), host_);
    std::fill(host_ + values.size(), host_ + capacity_, fill);
    if (enqueue && !enqueued_) {
      check(cudaMemcpyAsync(device_, host_, capacity_ * sizeof(T), cudaMemcpyHostToDevice, stream),
            "staging step inputs");
      enqueued_ = true;
    }
    return device_;
  }

  // Lets the next enqueueing stage() record its copy again (a new capture).
  void rearm() { enqueued_ = false; }

  size_t capacity() const { return capacity_; }

 private:
  T* host_ = nullptr;
  T* device_ = nullptr;
  size_t capacity_ = 0;
  bool enqueued_ = false;
};

}  // namespace hipcode::cuda
