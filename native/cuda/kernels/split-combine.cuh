// Split-K attention: merging the partial results of the pieces a key range was cut into. A partial of one
// (row, split) is an unnormalised f32 accumulator [head_dim] and (max, sum) in the log2 domain; a row is one
// (query token, q head) pair, rows in the order of the output [n_q, n_heads, head_dim].
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>

namespace hipcode::cuda {

// Bytes of the partials of `rows` rows cut into `n_splits` pieces: part_o [rows, n_splits, head_dim] then
// part_ml [rows, n_splits, 2].
inline size_t split_partials_bytes(int64_t rows, int head_dim, int n_splits) {
  return (size_t)rows * (size_t)n_splits * ((size_t)head_dim + 2) * sizeof(float);
}

// out[row] = sum_s exp2(m_s - M) acc_s / sum_s exp2(m_s - M) l_s over the splits s of each row (M = max_s
// m_s; a split with m_s = -inf holds no key and counts for nothing; a row with no key at all gets zeros).
// Launched with programmatic dependent launch (it waits for the kernel that wrote the partials).
void split_combine(const float* part_o, const float* part_ml, __nv_bfloat16* out, int64_t rows, int n_splits,
                   int head_dim, cudaStream_t stream, const char* op);

}  // namespace hipcode::cuda
