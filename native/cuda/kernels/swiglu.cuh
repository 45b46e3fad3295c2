// SwiGLU activation of the fused gate/up projection: out = silu(gate) * up.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

namespace hipcode::cuda {

// Row t of gate and up starts at t * in_stride (a fused gate_up buffer [n, 2 * inter] passes up = gate +
// inter and in_stride = 2 * inter; separate [n, inter] buffers pass in_stride = inter). f32 math, one
// rounding:
//   out[t, i] = gate[t, i] / (1 + exp(-gate[t, i])) * up[t, i]
void swiglu(const __nv_bfloat16* gate,  // [n, in_stride]
            const __nv_bfloat16* up,    // [n, in_stride]
            int64_t in_stride,
            __nv_bfloat16* out,  // [n, inter]
            int n, int inter, cudaStream_t stream);

}  // namespace hipcode::cuda
