// SwiGLU: a 2-D grid (row, column chunk); 8 elements per thread with 16-byte accesses when inter is a
// multiple of 8, one element per thread otherwise.
#include "kernels/kernel-common.cuh"
#include "kernels/swiglu.cuh"

namespace hipcode::cuda {

__device__ __forceinline__ float silu_mul(float g, float u) {
  return g / (1.f + expf(-g)) * u;
}

template <bool kVec>
static __global__ void swiglu_kernel(const __nv_bfloat16* __restrict__ gate,
                                     const __nv_bfloat16* __restrict__ up, int64_t in_stride,
                                     __nv_bfloat16* __restrict__ out, int inter) {
  pdl_wait();
  pdl_launch_dependents();
  const int64_t row = blockIdx.x;
  const __nv_bfloat16* g = gate + row * in_stride;
  const __nv_bfloat16* u = up + row * in_stride;
  __nv_bfloat16* o = out + row * inter;
  const int i = blockIdx.y * blockDim.x + threadIdx.x;
  if (kVec) {
    if (i >= inter / 8) return;
    float gf[8], uf[8];
    bf16x8_to_float(reinterpret_cast<const bf16x8*>(g)[i], gf);
    bf16x8_to_float(reinterpret_cast<const bf16x8*>(u)[i], uf);
#pragma unroll
    for (int j = 0; j < 8; ++j) gf[j] = silu_mul(gf[j], uf[j]);
    reinterpret_cast<bf16x8*>(o)[i] = float_to_bf16x8(gf);
  } else {
    if (i >= inter) return;
    o[i] = __float2bfloat16(silu_mul(__bfloat162float(g[i]), __bfloat162float(u[i])));
  }
}

void swiglu(const __nv_bfloat16* gate, const __nv_bfloat16* up, int64_t in_stride, __nv_bfloat16* out, int n,
            int inter, cudaStream_t stream) {
  HIPCODE_REQUIRE(n >= 0, "swiglu", "n must be >= 0, got " + std::to_string(n));
  HIPCODE_REQUIRE(inter > 0, "swiglu", "inter must be > 0, got " + std::to_string(inter));
  HIPCODE_REQUIRE(in_stride >= inter, "swiglu",
                  "in_stride must be >= inter, got " + std::to_string(in_stride));
  if (n == 0) return;
  const bool vec = inter % 8 == 0 && in_stride % 8 == 0 && is_aligned(gate, 16) && is_aligned(up, 16) &&
                   is_aligned(out, 16);
  const int threads = 128;
  const int work = vec ? inter / 8 : inter;
  const dim3 grid((unsigned)n, (unsigned)ceil_div(work, threads));
  if (vec) {
    launch_dependent(swiglu_kernel<true>, grid, dim3(threads), 0, stream, gate, up, in_stride, out, inter);
  } else {
    launch_dependent(swiglu_kernel<false>, grid, dim3(threads), 0, stream, gate, up, in_stride, out, inter);
  }
  check_launch("swiglu");
}

}  // namespace hipcode::cuda
