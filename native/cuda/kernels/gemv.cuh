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

// One weight matrix of a GEMV launch: its rows of W·x (+ bias) go to y.
struct GemvSegment {
  const __nv_bfloat16* w;  // [rows, in]
  const float* bias;       // [rows] or nullptr
  void* y;                 // [rows], bf16 or f32 as the output mode says
  int rows;
};
constexpr int kGemvMaxSegments = 3;

// One warp (or, for long rows, four) per output row, 16-byte loads with several in flight per lane, f32
// accumulation. Up to kGemvMaxSegments matrices reading the same x run as one launch (q/k/v, gate/up).
void gemv(const __nv_bfloat16* x,  // [in]
          const GemvSegment* segments, int count, int in, GemvOutput output, cudaStream_t stream);

// A single matrix: y [rows] = w [rows, in] · x [in] (+ bias).
inline void gemv(const __nv_bfloat16* x, const __nv_bfloat16* w, const float* bias, void* y, int rows, int in,
                 GemvOutput output, cudaStream_t stream) {
  const GemvSegment segment{w, bias, y, rows};
  gemv(x, &segment, 1, in, output, stream);
}

}  // namespace hipcode::cuda
