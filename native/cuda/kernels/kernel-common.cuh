// Helpers shared by the CUDA kernels of native/cuda/kernels: argument checks that throw
// std::runtime_error naming the argument, the post-launch check, bf16 vector loads and warp/block
// reductions. Included only by .cu files of this folder (not part of the launcher API).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

namespace hipcode::cuda {

// Throws std::runtime_error("<op>: <message>") when `cond` is false. Every launcher validates the
// sizes it cannot handle with this before launching anything.
#define HIPCODE_REQUIRE(cond, op, message)                                     \
  do {                                                                         \
    if (!(cond)) throw std::runtime_error(std::string(op) + ": " + (message)); \
  } while (0)

// Checks the launch that just happened (bad configuration, too much shared memory...).
inline void check_launch(const char* op) {
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) {
    throw std::runtime_error(std::string(op) + ": kernel launch failed: " + cudaGetErrorString(err));
  }
}

inline void check_cuda(cudaError_t err, const char* op, const char* what) {
  if (err != cudaSuccess) {
    throw std::runtime_error(std::string(op) + ": " + what + ": " + cudaGetErrorString(err));
  }
}

inline bool is_aligned(const void* p, size_t bytes) {
  return (reinterpret_cast<uintptr_t>(p) % bytes) == 0;
}

__host__ __device__ inline int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

// Number of SMs of the current device (cached per device).
inline int device_sm_count() {
  static int cached[64] = {0};
  int dev = 0;
  cudaGetDevice(&dev);
  if (dev < 0 || dev >= 64) return 132;
  if (cached[dev] == 0) {
    int sms = 0;
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
    cached[dev] = sms > 0 ? sms : 132;
  }
  return cached[dev];
}

// 8 bf16 values moved as one 16-byte access.
struct alignas(16) bf16x8 {
  __nv_bfloat162 v[4];
};

__device__ __forceinline__ void bf16x8_to_float(const bf16x8& in, float* out) {
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    float2 f = __bfloat1622float2(in.v[i]);
    out[2 * i] = f.x;
    out[2 * i + 1] = f.y;
  }
}

__device__ __forceinline__ bf16x8 float_to_bf16x8(const float* in) {
  bf16x8 r;
#pragma unroll
  for (int i = 0; i < 4; ++i) r.v[i] = __floats2bfloat162_rn(in[2 * i], in[2 * i + 1]);
  return r;
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Inclusive prefix sum of `v` over the lanes of a full warp.
template <typename T>
__device__ __forceinline__ T warp_inclusive_scan(T v) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const T n = __shfl_up_sync(0xffffffffu, v, o);
    if (lane >= o) v += n;
  }
  return v;
}

// Sum over the whole block (blockDim.x a multiple of 32, at most 1024). `scratch` holds 32 floats.
// Every thread gets the result.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < n_warps ? scratch[lane] : 0.f;
  return warp_sum(v);
}

// Max over the whole block, same contract as block_sum.
__device__ __forceinline__ float block_max(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < n_warps ? scratch[lane] : -INFINITY;
  return warp_max(v);
}

// ---- Programmatic dependent launch (Hopper and newer)
// A kernel launched with launch_dependent() may start while the kernel before it on the stream is still
// running. It must call pdl_wait() before it reads anything that kernel (or any earlier one) wrote and before
// it writes anything they read: until then it may only read constant data such as weights. Every thread that
// goes on past pdl_wait() sees all earlier kernels complete. pdl_launch_dependents() lets the next kernel
// start early. Both are no-ops when the kernel was launched normally or the device predates sm_90.
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__device__ __forceinline__ void pdl_launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// compute(device) for the current device, run once per device (ordinals below 64) and kept in `cache` (0
// means not yet: compute must not return 0); `unknown` when the current device cannot be read.
template <typename Compute>
int cached_per_device(int (&cache)[64], int unknown, Compute compute) {
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64) {
    cudaGetLastError();
    return unknown;
  }
  if (cache[dev] == 0) cache[dev] = compute(dev);
  return cache[dev];
}

// Whether launch_dependent() asks for programmatic dependent launch: on devices of compute capability 9.0
// and newer, unless HIPCODE_PDL=0 (cached per device).
inline bool pdl_enabled() {
  static int cached[64] = {0};  // 1 on, 2 off
  return cached_per_device(cached, 2, [](int dev) {
           int major = 0;
           cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
           const char* flag = std::getenv("HIPCODE_PDL");
           const bool off = flag && std::strcmp(flag, "0") == 0;
           return major >= 9 && !off ? 1 : 2;
         }) == 1;
}

// kernel<<<grid, block, smem, stream>>>(args...), as a programmatic dependent launch when pdl_enabled(): the
// kernel must follow the pdl_wait() contract above.
template <typename... Params, typename... Args>
void launch_dependent(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                      Args&&... args) {
  cudaLaunchAttribute attribute{};
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  config.attrs = &attribute;
  config.numAttrs = pdl_enabled() ? 1 : 0;
  cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
}

}  // namespace hipcode::cuda
