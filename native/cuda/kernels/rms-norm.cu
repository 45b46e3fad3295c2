// RMS normalisation kernels: one block per row for the hidden-size forms (16-byte accesses when the
// row length is a multiple of 8), one warp per head vector for the per-head form.
#include "kernels/kernel-common.cuh"
#include "kernels/rms-norm.cuh"

namespace hipcode::cuda {

template <bool kVec>
static __global__ void rms_norm_kernel(const __nv_bfloat16* __restrict__ x,
                                       const __nv_bfloat16* __restrict__ w, __nv_bfloat16* __restrict__ out,
                                       int hidden, float eps) {
  __shared__ float scratch[32];
  pdl_wait();
  pdl_launch_dependents();
  const int64_t row = blockIdx.x;
  const __nv_bfloat16* xr = x + row * hidden;
  __nv_bfloat16* yr = out + row * hidden;
  float ss = 0.f;
  if (kVec) {
    const bf16x8* xv = reinterpret_cast<const bf16x8*>(xr);
    for (int i = threadIdx.x; i < hidden / 8; i += blockDim.x) {
      float f[8];
      bf16x8_to_float(xv[i], f);
#pragma unroll
      for (int j = 0; j < 8; ++j) ss += f[j] * f[j];
    }
  } else {
    for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
      const float f = __bfloat162float(xr[i]);
      ss += f * f;
    }
  }
  const float inv = rsqrtf(block_sum(ss, scratch) / (float)hidden + eps);
  if (kVec) {
    const bf16x8* xv = reinterpret_cast<const bf16x8*>(xr);
    const bf16x8* wv = reinterpret_cast<const bf16x8*>(w);
    bf16x8* yv = reinterpret_cast<bf16x8*>(yr);
    for (int i = threadIdx.x; i < hidden / 8; i += blockDim.x) {
      float f[8], g[8];
      bf16x8_to_float(xv[i], f);
      bf16x8_to_float(wv[i], g);
#pragma unroll
      for (int j = 0; j < 8; ++j) f[j] = f[j] * inv * g[j];
      yv[i] = float_to_bf16x8(f);
    }
  } else {
    for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
      yr[i] = __float2bfloat16(__bfloat162float(xr[i]) * inv * __bfloat162float(w[i]));
    }
  }
}

template <bool kVec>
static __global__ void add_rms_norm_kernel(float* __restrict__ residual, const __nv_bfloat16* __restrict__ x,
                                           const __nv_bfloat16* __restrict__ w,
                                           __nv_bfloat16* __restrict__ out, int hidden, float eps) {
  __shared__ float scratch[32];
  pdl_wait();
  pdl_launch_dependents();
  const int64_t row = blockIdx.x;
  float* rr = residual + row * hidden;
  const __nv_bfloat16* xr = x ? x + row * hidden : nullptr;
  __nv_bfloat16* yr = out + row * hidden;
  float ss = 0.f;
  if (kVec) {
    for (int i = threadIdx.x; i < hidden / 8; i += blockDim.x) {
      float4* r4 = reinterpret_cast<float4*>(rr + 8 * i);
      float4 a = r4[0], b = r4[1];
      if (xr) {
        float f[8];
        bf16x8_to_float(reinterpret_cast<const bf16x8*>(xr)[i], f);
        a.x += f[0], a.y += f[1], a.z += f[2], a.w += f[3];
        b.x += f[4], b.y += f[5], b.z += f[6], b.w += f[7];
        r4[0] = a;
        r4[1] = b;
      }
      ss += a.x * a.x + a.y * a.y + a.z * a.z + a.w * a.w + b.x * b.x + b.y * b.y + b.z * b.z + b.w * b.w;
    }
  } else {
    for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
      float v = rr[i];
      if (xr) {
        v += __bfloat162float(xr[i]);
        rr[i] = v;
      }
      ss += v * v;
    }
  }
  const float inv = rsqrtf(block_sum(ss, scratch) / (float)hidden + eps);
  // Each thread re-reads exactly the residual elements it wrote above, so no barrier is needed.
  if (kVec) {
    for (int i = threadIdx.x; i < hidden / 8; i += blockDim.x) {
      const float4* r4 = reinterpret_cast<const float4*>(rr + 8 * i);
      const float4 a = r4[0], b = r4[1];
      float g[8];
      bf16x8_to_float(reinterpret_cast<const bf16x8*>(w)[i], g);
      float f[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
#pragma unroll
      for (int j = 0; j < 8; ++j) f[j] = f[j] * inv * g[j];
      reinterpret_cast<bf16x8*>(yr)[i] = float_to_bf16x8(f);
    }
  } else {
    for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
      yr[i] = __float2bfloat16(rr[i] * inv * __bfloat162float(w[i]));
    }
  }
}

// One warp per head vector; `rows` = n * n_heads vectors of length head_dim.
static __global__ void rms_norm_heads_kernel(__nv_bfloat16* __restrict__ x,
                                             const __nv_bfloat16* __restrict__ w, int64_t rows, int head_dim,
                                             float eps) {
  pdl_wait();
  pdl_launch_dependents();
  const int64_t row = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (row >= rows) return;
  __nv_bfloat16* xr = x + row * head_dim;
  float v[32];  // head_dim <= 1024 -> at most 32 values per lane
  float ss = 0.f;
#pragma unroll
  for (int j = 0; j < 32; ++j) {
    const int i = lane + 32 * j;
    v[j] = i < head_dim ? __bfloat162float(xr[i]) : 0.f;
    ss += v[j] * v[j];
  }
  const float inv = rsqrtf(warp_sum(ss) / (float)head_dim + eps);
#pragma unroll
  for (int j = 0; j < 32; ++j) {
    const int i = lane + 32 * j;
    if (i < head_dim) xr[i] = __float2bfloat16(v[j] * inv * __bfloat162float(w[i]));
  }
}

static int row_threads(int hidden, bool vec) {
  const int work = vec ? hidden / 8 : hidden;
  if (work >= 512) return 512;
  return work <= 32 ? 32 : ((work + 31) / 32) * 32;
}

static void check_sizes(const char* op, int n, int hidden, float eps) {
  HIPCODE_REQUIRE(n >= 0, op, "n must be >= 0, got " + std::to_string(n));
  HIPCODE_REQUIRE(hidden > 0, op, "hidden must be > 0, got " + std::to_string(hidden));
  HIPCODE_REQUIRE(eps >= 0.f, op, "eps must be >= 0");
}

void rms_norm(const __nv_bfloat16* x, const __nv_bfloat16* w, __nv_bfloat16* out, int n, int hidden,
              float eps, cudaStream_t stream) {
  check_sizes("rms_norm", n, hidden, eps);
  if (n == 0) return;
  const bool vec = hidden % 8 == 0 && is_aligned(x, 16) && is_aligned(w, 16) && is_aligned(out, 16);
  const int threads = row_threads(hidden, vec);
  if (vec) {
    launch_dependent(rms_norm_kernel<true>, dim3(n), dim3(threads), 0, stream, x, w, out, hidden, eps);
  } else {
    launch_dependent(rms_norm_kernel<false>, dim3(n), dim3(threads), 0, stream, x, w, out, hidden, eps);
  }
  check_launch("rms_norm");
}

void add_rms_norm(float* residual, const __nv_bfloat16* x, const __nv_bfloat16* w, __nv_bfloat16* out, int n,
                  int hidden, float eps, cudaStream_t stream) {
  check_sizes("add_rms_norm", n, hidden, eps);
  if (n == 0) return;
  const bool vec = hidden % 8 == 0 && is_aligned(residual, 16) && (!x || is_aligned(x, 16)) &&
                   is_aligned(w, 16) && is_aligned(out, 16);
  const int threads = row_threads(hidden, vec);
  if (vec) {
    launch_dependent(add_rms_norm_kernel<true>, dim3(n), dim3(threads), 0, stream, residual, x, w, out,
                     hidden, eps);
  } else {
    launch_dependent(add_rms_norm_kernel<false>, dim3(n), dim3(threads), 0, stream, residual, x, w, out,
                     hidden, eps);
  }
  check_launch("add_rms_norm");
}

void rms_norm_heads(__nv_bfloat16* x, const __nv_bfloat16* w, int n, int n_heads, int head_dim, float eps,
                    cudaStream_t stream) {
  HIPCODE_REQUIRE(n >= 0, "rms_norm_heads", "n must be >= 0, got " + std::to_string(n));
  HIPCODE_REQUIRE(n_heads > 0, "rms_norm_heads", "n_heads must be > 0, got " + std::to_string(n_heads));
  HIPCODE_REQUIRE(head_dim > 0 && head_dim <= 1024, "rms_norm_heads",
                  "head_dim must be in [1, 1024], got " + std::to_string(head_dim));
  if (n == 0) return;
  const int64_t rows = (int64_t)n * n_heads;
  const int warps = 8;
  launch_dependent(rms_norm_heads_kernel, dim3((unsigned)ceil_div(rows, warps)), dim3(warps * 32), 0, stream,
                   x, w, rows, head_dim, eps);
  check_launch("rms_norm_heads");
}

}  // namespace hipcode::cuda
