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
};

// Binds the device and loads cuBLASLt; throws E_BACKEND_UNAVAILABLE when either fails.
std::unique_ptr<Backend> create_cuda_backend(const CudaBackendOptions& options);

}  // namespace hipcode::cuda
