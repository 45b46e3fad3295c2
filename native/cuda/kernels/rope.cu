// Rotary position embedding: one block per token; the block computes the token's cos/sin table in
// shared memory once and then rotates every (head, pair) of q and k with it.
#include "kernels/kernel-common.cuh"
#include "kernels/rope.cuh"

namespace hipcode::cuda {

static __global__ void rope_kernel(__nv_bfloat16* __restrict__ q, __nv_bfloat16* __restrict__ k,
                                   const int32_t* __restrict__ positions, const float* __restrict__ inv_freq,
                                   float attention_scale, int n_heads, int n_kv_heads, int head_dim) {
  extern __shared__ float cs[];  // [2][half]: cos then sin
  pdl_wait();
  pdl_launch_dependents();
  const int half = head_dim / 2;
  const int64_t t = blockIdx.x;
  const float pos = (float)positions[t];
  for (int i = threadIdx.x; i < half; i += blockDim.x) {
    float s, c;
    sincosf(pos * inv_freq[i], &s, &c);
    cs[i] = c * attention_scale;
    cs[half + i] = s * attention_scale;
  }
  __syncthreads();
  const int q_pairs = n_heads * half;
  const int total = q_pairs + (k ? n_kv_heads * half : 0);
  for (int p = threadIdx.x; p < total; p += blockDim.x) {
    __nv_bfloat16* base;
    int j;
    if (p < q_pairs) {
      base = q + (t * n_heads + p / half) * head_dim;
      j = p % half;
    } else {
      const int pk = p - q_pairs;
      base = k + (t * n_kv_heads + pk / half) * head_dim;
      j = pk % half;
    }
    const float x0 = __bfloat162float(base[j]), x1 = __bfloat162float(base[j + half]);
    const float c = cs[j], s = cs[half + j];
    base[j] = __float2bfloat16(x0 * c - x1 * s);
    base[j + half] = __float2bfloat16(x1 * c + x0 * s);
  }
}

void rope(__nv_bfloat16* q, __nv_bfloat16* k, const int32_t* positions, const float* inv_freq,
          float attention_scale, int n, int n_heads, int n_kv_heads, int head_dim, cudaStream_t stream) {
  HIPCODE_REQUIRE(n >= 0, "rope", "n must be >= 0, got " + std::to_string(n));
  HIPCODE_REQUIRE(n_heads > 0, "rope", "n_heads must be > 0, got " + std::to_string(n_heads));
  HIPCODE_REQUIRE(!k || n_kv_heads > 0, "rope", "n_kv_heads must be > 0, got " + std::to_string(n_kv_heads));
  HIPCODE_REQUIRE(head_dim > 0 && head_dim % 2 == 0 && head_dim <= 4096, "rope",
                  "head_dim must be even and in [2, 4096], got " + std::to_string(head_dim));
  if (n == 0) return;
  const int pairs = (n_heads + (k ? n_kv_heads : 0)) * (head_dim / 2);
  const int threads = pairs >= 256 ? 256 : ((pairs + 31) / 32) * 32;
  launch_dependent(rope_kernel, dim3(n), dim3(threads), head_dim * sizeof(float), stream, q, k, positions,
                   inv_freq, attention_scale, n_heads, n_kv_heads, head_dim);
  check_launch("rope");
}

}  // namespace hipcode::cuda
