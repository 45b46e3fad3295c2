// Random bf16 fill: a grid-stride loop evaluating the counter-based generator of core/random.h per element.
#include "core/random.h"
#include "kernels/kernel-common.cuh"
#include "kernels/random.cuh"

namespace hipcode::cuda {

static __global__ void random_uniform_kernel(__nv_bfloat16* __restrict__ out, int64_t count, uint64_t seed,
                                             float scale, float offset) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += stride) {
    out[i] = __float2bfloat16(offset + scale * uniform_at(seed, uint64_t(i)));
  }
}

void random_uniform(__nv_bfloat16* out, int64_t count, uint64_t seed, float scale, float offset,
                    cudaStream_t stream) {
  HIPCODE_REQUIRE(count >= 0, "random_uniform", "count must be >= 0, got " + std::to_string(count));
  if (count == 0) return;
  const int threads = 256;
  const auto blocks = unsigned(std::min<int64_t>(ceil_div(count, threads), int64_t(device_sm_count()) * 16));
  random_uniform_kernel<<<blocks, threads, 0, stream>>>(out, count, seed, scale, offset);
  check_launch("random_uniform");
}

}  // namespace hipcode::cuda
