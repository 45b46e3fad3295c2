// Rotary position embedding (Hugging Face rotate_half convention) applied in place to q and k.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace hipcode::cuda {

// For every token t and head, pairs (i, i + head_dim/2), i < head_dim/2, are rotated by
//   angle = (float)positions[t] * inv_freq[i]            (f32, then precise cosf/sinf)
//   c = cos(angle) * attention_scale, s = sin(angle) * attention_scale   (yarn's mscale; 1 otherwise)
//   x0' = x0 * c - x1 * s,  x1' = x1 * c + x0 * s       (f32 math, one rounding to bf16)
// k may be null (n_kv_heads is then ignored). head_dim must be even.
void rope(__nv_bfloat16* q,          // [n, n_heads, head_dim], in place
          __nv_bfloat16* k,          // [n, n_kv_heads, head_dim], in place, or nullptr
          const int32_t* positions,  // [n]
          const float* inv_freq,     // [head_dim / 2]
          float attention_scale, int n, int n_heads, int n_kv_heads, int head_dim, cudaStream_t stream);

}  // namespace hipcode::cuda
