// The CPU backend: f32 activations, weights read in place from the mapped files, multithreaded kernels.
#pragma once

#include <cstddef>
#include <memory>

#include "core/backend.h"

namespace hipcode::cpu {

// `threads` = 0 uses every hardware thread.
std::unique_ptr<Backend> create_cpu_backend(size_t threads);

}  // namespace hipcode::cpu
