// Fallback attention: one warp per (query, head); each lane owns head_dim/32 dimensions, a key's
// score is a warp-wide dot product, and softmax is computed online in f32. Reads bf16 and fp8 caches.
#include <cmath>

#include "kernels/attention-common.cuh"
#include "kernels/attention-generic.cuh"
#include "kernels/kv-write.cuh"

namespace hipcode::cuda {

constexpr int kGenericMaxPerLane = 8;  // head_dim <= 256

static __global__ void attention_generic_kernel(const __nv_bfloat16* __restrict__ q, PagedKv cache,
                                                __nv_bfloat16* __restrict__ out, int n_q, int n_heads,
                                                int group, int pos0, int window, float scale, int page_shift,
                                                const int32_t* __restrict__ n_keys_dev) {
  const int64_t wid = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (wid >= (int64_t)n_q * n_heads) return;
  const int t = (int)(wid / n_heads), h = (int)(wid % n_heads), kvh = h / group;
  const int p0 = n_keys_dev ? *n_keys_dev - n_q : pos0;
  const int qpos = p0 + t;
  const int D = cache.head_dim;
  const __nv_bfloat16* qr = q + wid * D;
  float qv[kGenericMaxPerLane], acc[kGenericMaxPerLane];
#pragma unroll
  for (int j = 0; j < kGenericMaxPerLane; ++j) {
    const int d = lane + 32 * j;
    qv[j] = d < D ? __bfloat162float(qr[d]) * scale : 0.f;
    acc[j] = 0.f;
  }
  float m = -INFINITY, l = 0.f;
  const int k_lo = window > 0 ? max(0, qpos - window + 1) : 0;
  for (int key = k_lo; key <= qpos; ++key) {
    const int page = kv_page(cache, page_shift, key);
    const bool mapped = page >= 0;
    float dot = 0.f;
#pragma unroll
    for (int j = 0; j < kGenericMaxPerLane; ++j) {
      const int d = lane + 32 * j;
      if (d < D && mapped) dot += qv[j] * kv_value(cache, false, page, key, kvh, d);
    }
    const float s = warp_sum(dot);
    const float m_new = fmaxf(m, s);
    const float alpha = expf(m - m_new);
    const float p = expf(s - m_new);
    l = l * alpha + p;
    m = m_new;
#pragma unroll
    for (int j = 0; j < kGenericMaxPerLane; ++j) {
      const int d = lane + 32 * j;
      const float v = (d < D && mapped) ? kv_value(cache, true, page, key, kvh, d) : 0.f;
      acc[j] = acc[j] * alpha + p * v;
    }
  }
  const float inv = l > 0.f ? 1.f / l : 0.f;
  __nv_bfloat16* orow = out + wid * D;
#pragma unroll
  for (int j = 0; j < kGenericMaxPerLane; ++j) {
    const int d = lane + 32 * j;
    if (d < D) orow[d] = __float2bfloat16(acc[j] * inv);
  }
}

void attention_generic(const __nv_bfloat16* q, const PagedKv& cache, __nv_bfloat16* out, int n_q, int n_heads,
                       int pos0, int window, float scale, const int32_t* n_keys_dev, cudaStream_t stream) {
  const char* op = "attention_generic";
  check_paged_kv(cache, op);
  HIPCODE_REQUIRE(cache.head_dim <= 32 * kGenericMaxPerLane, op,
                  "cache.head_dim must be <= 256, got " + std::to_string(cache.head_dim));
  HIPCODE_REQUIRE(n_q >= 0, op, "n_q must be >= 0, got " + std::to_string(n_q));
  HIPCODE_REQUIRE(n_heads > 0 && n_heads % cache.n_kv_heads == 0, op,
                  "n_heads must be a positive multiple of cache.n_kv_heads, got " + std::to_string(n_heads));
  HIPCODE_REQUIRE(pos0 >= 0, op, "pos0 must be >= 0, got " + std::to_string(pos0));
  HIPCODE_REQUIRE(window >= 0, op, "window must be >= 0, got " + std::to_string(window));
  if (n_q == 0) return;
  const int64_t warps = (int64_t)n_q * n_heads;
  const int warps_per_block = 4;
  attention_generic_kernel<<<(unsigned)ceil_div(warps, warps_per_block), warps_per_block * 32, 0, stream>>>(
      q, cache, out, n_q, n_heads, n_heads / cache.n_kv_heads, pos0, window, scale,
      page_shift_of(cache.page_size), n_keys_dev);
  check_launch(op);
}

}  // namespace hipcode::cuda
