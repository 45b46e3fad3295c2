// Token embedding lookup: one block per token copies a table row, 16 bytes per thread when the row
// is 16-byte aligned, element by element otherwise.
#include "kernels/embedding.cuh"
#include "kernels/kernel-common.cuh"

namespace hipcode::cuda {

template <bool kVec>
static __global__ void embedding_kernel(const __nv_bfloat16* __restrict__ table,
                                        const int32_t* __restrict__ ids, __nv_bfloat16* __restrict__ out,
                                        int vocab, int hidden) {
  const int64_t row = blockIdx.x;
  const int id = ids[row];
  const bool valid = id >= 0 && id < vocab;
  __nv_bfloat16* dst = out + row * hidden;
  if (kVec) {
    const int n_vec = hidden / 8;
    const bf16x8* src = reinterpret_cast<const bf16x8*>(table + (int64_t)(valid ? id : 0) * hidden);
    bf16x8* d = reinterpret_cast<bf16x8*>(dst);
    for (int i = threadIdx.x; i < n_vec; i += blockDim.x) {
      bf16x8 v;
      if (valid) {
        v = src[i];
      } else {
        float z[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        v = float_to_bf16x8(z);
      }
      d[i] = v;
    }
  } else {
    const __nv_bfloat16* src = table + (int64_t)(valid ? id : 0) * hidden;
    for (int i = threadIdx.x; i < hidden; i += blockDim.x) dst[i] = valid ? src[i] : __float2bfloat16(0.f);
  }
}

void embedding(const __nv_bfloat16* table, const int32_t* ids, __nv_bfloat16* out, int n, int vocab,
               int hidden, cudaStream_t stream) {
  HIPCODE_REQUIRE(n >= 0, "embedding", "n must be >= 0, got " + std::to_string(n));
  HIPCODE_REQUIRE(vocab > 0, "embedding", "vocab must be > 0, got " + std::to_string(vocab));
  HIPCODE_REQUIRE(hidden > 0, "embedding", "hidden must be > 0, got " + std::to_string(hidden));
  if (n == 0) return;
  const bool vec = hidden % 8 == 0 && is_aligned(table, 16) && is_aligned(out, 16);
  const int threads = vec ? (hidden / 8 >= 256 ? 256 : ((hidden / 8 + 31) / 32) * 32) : 256;
  if (vec) {
    embedding_kernel<true><<<n, threads, 0, stream>>>(table, ids, out, vocab, hidden);
  } else {
    embedding_kernel<false><<<n, threads, 0, stream>>>(table, ids, out, vocab, hidden);
  }
  check_launch("embedding");
}

}  // namespace hipcode::cuda
