// CPU linear kernel: y = x · Wᵀ + b with W used in place in its stored dtype (bf16, f16 or f32).
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "core/thread-pool.h"

namespace hipcode::cpu {

// y [n, out] = x [n, in] · weight [out, in]ᵀ + bias [out] (bias may be null). Rows of the weight are widened
// to f32 a block at a time into a per-thread buffer and reused for every token of the batch.
void linear_forward(ThreadPool& pool, const float* x, int64_t n, const Tensor& weight, const float* bias,
                    float* y);

}  // namespace hipcode::cpu
