// bulk_copy (see bulk-copy.cuh): every thread loads kUnroll 16-byte words before storing them, grid-strided.
#include <string>

#include "kernels/bulk-copy.cuh"
#include "kernels/kernel-common.cuh"

namespace hipcode::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kUnroll = 8;

__global__ void __launch_bounds__(kThreads)
    bulk_copy_kernel(uint4* __restrict__ dst, const uint4* __restrict__ src, size_t words) {
  const size_t stride = size_t(gridDim.x) * kThreads;
  for (size_t base = size_t(blockIdx.x) * kThreads + threadIdx.x; base < words; base += stride * kUnroll) {
    uint4 v[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const size_t i = base + u * stride;
      if (i < words) v[u] = src[i];
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const size_t i = base + u * stride;
      if (i < words) dst[i] = v[u];
    }
  }
}

}  // namespace

void bulk_copy(void* dst, const void* src, size_t bytes, cudaStream_t stream, int ctas) {
  const char* op = "bulk_copy";
  HIPCODE_REQUIRE(bytes % 16 == 0 && is_aligned(dst, 16) && is_aligned(src, 16), op,
                  "bytes must be a multiple of 16 and both pointers 16-byte aligned, got " +
                      std::to_string(bytes) + " bytes");
  HIPCODE_REQUIRE(ctas >= 1, op, "ctas must be >= 1, got " + std::to_string(ctas));
  if (bytes == 0) return;
  bulk_copy_kernel<<<ctas, kThreads, 0, stream>>>(static_cast<uint4*>(dst), static_cast<const uint4*>(src),
                                                  bytes / 16);
  check_launch(op);
}

}  // namespace hipcode::cuda
