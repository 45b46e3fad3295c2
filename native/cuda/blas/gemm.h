// Linear layers through cuBLASLt (loaded at run time): y[n, out] = x[n, in] . W[out, in]^T (+ bias),
// bf16 inputs, f32 accumulation, bf16 or f32 output.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <string>

namespace hipcode::cuda::blas {

// Owns the cuBLASLt handle, a 32 MiB workspace and the per-shape algorithm cache. One context per
// device; calls on one context must not run concurrently on different streams (shared workspace).
struct GemmContext;

// Returns nullptr and fills *reason when cuBLASLt cannot be loaded or initialised.
GemmContext* gemm_init(std::string* reason);
void gemm_free(GemmContext* ctx);
// "libcublasLt <path> version <n>", for logs.
std::string gemm_describe(const GemmContext* ctx);

// bias (may be null) is added through the cuBLASLt epilogue. Throws std::runtime_error naming the
// argument on bad sizes, or with the cuBLAS status when no algorithm runs.
void gemm_bf16(GemmContext* ctx,
               const __nv_bfloat16* x,     // [n, in]
               const __nv_bfloat16* w,     // [out, in]
               const __nv_bfloat16* bias,  // [out] or nullptr
               __nv_bfloat16* y,           // [n, out]
               int n, int in, int out, cudaStream_t stream);

// Same with an f32 output (lm_head logits); the bias, if any, is f32.
void gemm_bf16_f32out(GemmContext* ctx,
                      const __nv_bfloat16* x,  // [n, in]
                      const __nv_bfloat16* w,  // [out, in]
                      const float* bias,       // [out] or nullptr
                      float* y,                // [n, out]
                      int n, int in, int out, cudaStream_t stream);

// Accumulates into an f32 y (the residual stream): y += x . W^T (+ bias), with the f32 bias, if any, fused.
void gemm_bf16_f32acc(GemmContext* ctx,
                      const __nv_bfloat16* x,  // [n, in]
                      const __nv_bfloat16* w,  // [out, in]
                      const float* bias,       // [out] or nullptr
                      float* y,                // [n, out], read and written
                      int n, int in, int out, cudaStream_t stream);

}  // namespace hipcode::cuda::blas
