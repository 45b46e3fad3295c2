// RMS normalisation: y = x / sqrt(mean(x^2) + eps) * w, with f32 math and one rounding to bf16.
// Three forms: plain rows, rows fused with the residual add, and per-head (Qwen3 q/k norm).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

namespace hipcode::cuda {

void rms_norm(const __nv_bfloat16* x,  // [n, hidden]
              const __nv_bfloat16* w,  // [hidden]
              __nv_bfloat16* out,      // [n, hidden]
              int n, int hidden, float eps, cudaStream_t stream);

// The residual stream is kept in f32 so that 28+ layers of adds do not accumulate bf16 rounding:
//   residual += x          (skipped when x is null: just normalise the residual, e.g. the final norm)
//   out = rms_norm(residual) * w
// The embedding output enters the stream through convert_bf16_to_f32.
void add_rms_norm(float* residual,         // [n, hidden], updated in place
                  const __nv_bfloat16* x,  // [n, hidden] or nullptr
                  const __nv_bfloat16* w,  // [hidden]
                  __nv_bfloat16* out,      // [n, hidden]
                  int n, int hidden, float eps, cudaStream_t stream);

// Per-head RMS norm in place (Qwen3 q_norm / k_norm): every head_dim vector is normalised on its own
// and multiplied by w. head_dim <= 1024.
void rms_norm_heads(__nv_bfloat16* x,        // [n, n_heads, head_dim], in place
                    const __nv_bfloat16* w,  // [head_dim]
                    int n, int n_heads, int head_dim, float eps, cudaStream_t stream);

}  // namespace hipcode::cuda
