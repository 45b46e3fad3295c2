// Element-wise dtype conversions with a grid-stride loop, round-to-nearest-even into bf16.
#include "kernels/convert.cuh"
#include "kernels/kernel-common.cuh"

namespace hipcode::cuda {

namespace {

__device__ __forceinline__ float to_float(float v) {
  return v;
}
__device__ __forceinline__ float to_float(__half v) {
  return __half2float(v);
}
__device__ __forceinline__ float to_float(__nv_bfloat16 v) {
  return __bfloat162float(v);
}

template <typename T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

}  // namespace

template <typename In, typename Out>
static __global__ void convert_kernel(const In* __restrict__ in, Out* __restrict__ out, int64_t n) {
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
    out[i] = from_float<Out>(to_float(in[i]));
  }
}

template <typename In, typename Out>
static void launch_convert(const In* in, Out* out, int64_t n, cudaStream_t stream, const char* op) {
  HIPCODE_REQUIRE(n >= 0, op, "n must be >= 0, got " + std::to_string(n));
  if (n == 0) return;
  const int threads = 256;
  const int64_t max_blocks = (int64_t)device_sm_count() * 16;
  int64_t blocks = ceil_div(n, threads);
  if (blocks > max_blocks) blocks = max_blocks;
  convert_kernel<In, Out><<<(unsigned)blocks, threads, 0, stream>>>(in, out, n);
  check_launch(op);
}

void convert_f32_to_bf16(const float* in, __nv_bfloat16* out, int64_t n, cudaStream_t stream) {
  launch_convert(in, out, n, stream, "convert_f32_to_bf16");
}

void convert_f16_to_bf16(const __half* in, __nv_bfloat16* out, int64_t n, cudaStream_t stream) {
  launch_convert(in, out, n, stream, "convert_f16_to_bf16");
}

void convert_bf16_to_f32(const __nv_bfloat16* in, float* out, int64_t n, cudaStream_t stream) {
  launch_convert(in, out, n, stream, "convert_bf16_to_f32");
}

}  // namespace hipcode::cuda
