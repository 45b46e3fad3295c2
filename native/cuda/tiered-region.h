// One range of device virtual addresses whose pieces live either in GPU memory or in pinned host memory (CUDA
// virtual memory management), so a kernel reads and writes both tiers through one pointer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace hipcode::cuda {

class TieredRegion {
 public:
  struct Piece {
    size_t bytes;  // a multiple of both tiers' granularity (each piece starts where the last one ends)
    bool host;     // pinned host memory, else GPU memory
  };

  // Maps the pieces back to back on `device`; throws E_OUT_OF_MEMORY naming `setting` when a tier is short,
  // E_BACKEND_UNAVAILABLE when the driver lacks virtual memory management.
  TieredRegion(int device, const std::vector<Piece>& pieces, const char* setting);
  TieredRegion(const TieredRegion&) = delete;
  TieredRegion& operator=(const TieredRegion&) = delete;
  ~TieredRegion();

  char* data() const { return reinterpret_cast<char*>(base_); }
  size_t bytes() const { return bytes_; }

  // The size every piece of that tier is a multiple of.
  static size_t granularity(int device, bool host);

 private:
  void unmap();
  size_t mapped_bytes() const;

  int device_;
  unsigned long long base_ = 0;  // CUdeviceptr
  size_t bytes_ = 0;
  std::vector<size_t> mapped_;  // sizes of the pieces mapped so far, in address order
};

}  // namespace hipcode::cuda
