// Creates the backend a model spec asks for, or explains why it cannot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/backend.h"

namespace hipcode {

struct BackendChoice {
  std::string name;                  // "cpu" | "cuda"
  int device = 0;                    // CUDA ordinal
  size_t threads = 0;                // CPU workers, 0 = all hardware threads
  uint64_t gpu_kv_budget_bytes = 0;  // CUDA KV cache size, 0 = what the weights leave free
  // Pinned host memory behind the CUDA KV cache for contexts the GPU budget cannot hold; -1 = automatic (up
  // to half the available host memory), 0 = none.
  int64_t host_kv_budget_bytes = -1;
  std::string kv_dtype =
      "auto";  // how the KV cache keeps rows: "auto" (the backend's), "f32", "bf16", "fp8-e4m3"
};

// Throws E_BACKEND_UNAVAILABLE with the reason (no CUDA in this build, no GPU/driver, no cuBLAS, ...).
std::unique_ptr<Backend> create_backend(const BackendChoice& choice);

}  // namespace hipcode
