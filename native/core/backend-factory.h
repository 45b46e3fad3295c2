// Creates the backend a model spec asks for, or explains why it cannot.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "core/backend.h"

namespace hipcode {

struct BackendChoice {
  std::string name;    // "cpu" | "cuda"
  int device = 0;      // CUDA ordinal
  size_t threads = 0;  // CPU workers, 0 = all hardware threads
};

// Throws E_BACKEND_UNAVAILABLE with the reason (no CUDA in this build, no GPU/driver, no cuBLAS, ...).
std::unique_ptr<Backend> create_backend(const BackendChoice& choice);

}  // namespace hipcode
