// Host memory for bulk copies to and from a backend: plain memory, or memory the backend pinned so that its
// copies run at the bus's speed instead of through a driver's staging buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>

namespace hipcode {

class HostBuffer {
 public:
  using Release = void (*)(uint8_t* data);

  HostBuffer() = default;
  HostBuffer(uint8_t* data, size_t size, Release release) : data_(data), size_(size), release_(release) {}
  HostBuffer(HostBuffer&& other) noexcept { swap(other); }
  HostBuffer& operator=(HostBuffer&& other) noexcept {
    HostBuffer old(std::move(*this));
    swap(other);
    return *this;
  }
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;
  ~HostBuffer() {
    if (data_) release_(data_);
  }

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void swap(HostBuffer& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
    std::swap(release_, other.release_);
  }

  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  Release release_ = nullptr;
};

// Makes a buffer of at least `bytes`; throws E_OUT_OF_MEMORY.
using HostBufferMaker = std::function<HostBuffer(size_t bytes)>;

// Plain (pageable) host memory.
HostBuffer plain_host_buffer(size_t bytes);

}  // namespace hipcode
