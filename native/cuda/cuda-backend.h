// The CUDA backend's factory. Plain C++ (no CUDA types), so the backend factory can include it in any build.
#pragma once

#include <cstdint>
#include <memory>

#include "core/backend.h"

namespace hipcode::cuda {

struct CudaBackendOptions {
  int device = 0;
  // Bytes of GPU memory the KV cache may take; 0 = what is free after the weights, less a reserve for
  // activations and workspaces.
  uint64_t kv_budget_bytes = 0;
  // Bytes of pinned host memory for KV pages beyond the GPU budget (mapped into the same address range, read
  // by the kernels over the bus); -1 = up to half the available host memory, 0 = no host tier.
  int64_t host_kv_budget_bytes = -1;
  // How the KV cache keeps rows: BF16, or FP8_E4M3 (e4m3 values with a power-of-two f32 scale per row).
  DType kv_dtype = DType::BF16;
};

// Binds the device and loads cuBLASLt; throws E_BACKEND_UNAVAILABLE when either fails.
std::unique_ptr<Backend> create_cuda_backend(const CudaBackendOptions& options);

}  // namespace hipcode::cuda
