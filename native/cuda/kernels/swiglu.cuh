// SwiGLU activation of the fused gate/up projection: out = silu(gate) * up.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

namespace hipcode::cuda {

// gate_up rows hold the gate half first, then the up half. f32 math, one rounding to bf16:
//   out[t, i] = gate[t, i] / (1 + exp(-gate[t, i])) * up[t, i]
void swiglu(const __nv_bfloat16* gate_up,  // [n, 2 * inter]
            __nv_bfloat16* out,            // [n, inter]
            int n, int inter, cudaStream_t stream);

}  // namespace hipcode::cuda
