// Element-wise dtype conversions: f32/f16 -> bf16 (weights as stored in safetensors) and
// bf16 -> f32 (logits, the f32 residual stream).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace hipcode::cuda {

void convert_f32_to_bf16(const float* in,     // [n]
                         __nv_bfloat16* out,  // [n]
                         int64_t n, cudaStream_t stream);

void convert_f16_to_bf16(const __half* in,    // [n]
                         __nv_bfloat16* out,  // [n]
                         int64_t n, cudaStream_t stream);

void convert_bf16_to_f32(const __nv_bfloat16* in,  // [n]
                         float* out,               // [n]
                         int64_t n, cudaStream_t stream);

}  // namespace hipcode::cuda
