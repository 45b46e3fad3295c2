// Random bf16 tensors made on the GPU (synthetic weights for benchmarks), identical to the CPU backend's
// values.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace hipcode::cuda {

// out[i] = bf16(offset + scale * uniform_at(seed, i)), uniform_at from core/random.h.
void random_uniform(__nv_bfloat16* out,  // [count]
                    int64_t count, uint64_t seed, float scale, float offset, cudaStream_t stream);

}  // namespace hipcode::cuda
