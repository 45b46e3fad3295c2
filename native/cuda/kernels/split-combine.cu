// Merges split-K attention partials (see split-combine.cuh): one block per row.
#include <string>

#include "kernels/kernel-common.cuh"
#include "kernels/split-combine.cuh"

namespace hipcode::cuda {

namespace {

// The splits' weights exp2(m_s - M) go to shared memory once; then each thread sums its dimensions over the
// splits with independent loads in flight (a serial walk over the splits would wait on L2 latency once per
// split).
__global__ void split_combine_kernel(const float* __restrict__ part_o, const float* __restrict__ part_ml,
                                     __nv_bfloat16* __restrict__ out, int n_splits, int head_dim) {
  extern __shared__ float weights[];  // [n_splits]
  __shared__ float scratch[32];
  pdl_wait();
  pdl_launch_dependents();
  const int64_t row = blockIdx.x;
  const float* ml = part_ml + row * n_splits * 2;
  float m_local = -INFINITY;
  for (int s = threadIdx.x; s < n_splits; s += blockDim.x) m_local = fmaxf(m_local, ml[2 * s]);
  const float M = block_max(m_local, scratch);
  float l_local = 0.f;
  for (int s = threadIdx.x; s < n_splits; s += blockDim.x) {
    const float m = ml[2 * s];
    const float f = m == -INFINITY ? 0.f : exp2f(m - M);
    weights[s] = f;
    l_local += ml[2 * s + 1] * f;
  }
  const float L = block_sum(l_local, scratch);  // its barriers also publish `weights`
  const float* row_o = part_o + row * n_splits * head_dim;
  for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
    float acc = 0.f;
#pragma unroll 8
    for (int s = 0; s < n_splits; ++s) acc += row_o[(int64_t)s * head_dim + d] * weights[s];
    out[row * head_dim + d] = __float2bfloat16(L > 0.f ? acc / L : 0.f);
  }
}

}  // namespace

void split_combine(const float* part_o, const float* part_ml, __nv_bfloat16* out, int64_t rows, int n_splits,
                   int head_dim, cudaStream_t stream, const char* op) {
  HIPCODE_REQUIRE(rows >= 0 && rows <= INT_MAX, op,
                  "split_combine: rows out of range: " + std::to_string(rows));
  HIPCODE_REQUIRE(n_splits >= 1 && head_dim >= 1 && head_dim <= 1024, op,
                  "split_combine: n_splits must be >= 1 and head_dim in [1, 1024]");
  if (rows == 0) return;
  launch_dependent(split_combine_kernel, dim3((unsigned)rows), dim3((unsigned)head_dim),
                   n_splits * sizeof(float), stream, part_o, part_ml, out, n_splits, head_dim);
  check_launch(op);
}

}  // namespace hipcode::cuda
