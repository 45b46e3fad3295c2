// Matrix-vector products for one token (decode): y = W·x (+ bias) with bf16 weights streamed at memory speed,
// where cuBLAS's GEMM leaves bandwidth unused at n = 1.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace hipcode::cuda {

// How a row's result is written.
enum class GemvOutput {
  BF16,     // y (bf16) = W·x + bias
  F32,      // y (f32) = W·x + bias
  F32_ADD,  // y (f32) += W·x + bias (a block's output into the residual stream)
};

// Whether gemv can take this shape: in a multiple of 8 and 16-byte aligned weights and input.
bool gemv_supported(const __nv_bfloat16* x, const __nv_bfloat16* w, int in);

// One warp per output row, 16-byte loads with several in flight per lane, f32 accumulation.
void gemv(const __nv_bfloat16* x,  // [in]
          const __nv_bfloat16* w,  // [rows, in]
          const float* bias,       // [rows] or nullptr
          void* y,                 // [rows], bf16 or f32 as `output` says
          int rows, int in, GemvOutput output, cudaStream_t stream);

}  // namespace hipcode::cuda
