// The CPU backend: f32 activations, weights read in place from the mapped files, multithreaded kernels, the
// KV cache in f32, bf16 or fp8 rows.
#pragma once

#include <cstddef>
#include <memory>

#include "core/backend.h"

namespace hipcode::cpu {

// `threads` = 0 uses every hardware thread; the KV cache keeps its rows as `kv_dtype` (F32, BF16 or
// FP8_E4M3).
std::unique_ptr<Backend> create_cpu_backend(size_t threads, DType kv_dtype = DType::F32);

}  // namespace hipcode::cpu
