// GEMV for decode: each warp reduces one weight row against x. Lanes stride over the row in 16-byte chunks,
// issuing kUnroll independent loads before using any, so every SM keeps enough bytes in flight to saturate
// HBM.
#include "kernels/gemv.cuh"
#include "kernels/kernel-common.cuh"

namespace hipcode::cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kUnroll = 8;

__device__ __forceinline__ float dot8(const bf16x8& a, const bf16x8& b) {
  float fa[8], fb[8];
  bf16x8_to_float(a, fa);
  bf16x8_to_float(b, fb);
  float sum = 0.f;
#pragma unroll
  for (int i = 0; i < 8; ++i) sum = fmaf(fa[i], fb[i], sum);
  return sum;
}

// kSplit warps share a row, each taking every kSplit-th run of chunks; long rows (down_proj) split so that
// the grid has enough CTAs for an even last wave.
struct GemvSegments {
  GemvSegment segment[kGemvMaxSegments];
  int count;
};

// x_normed [in] = bf16(gamma * residual / rms(residual)), by the whole block.
__device__ void normalise_into(const GemvNorm& norm, int in, __nv_bfloat16* x_normed) {
  __shared__ float scratch[32];
  float squares = 0.f;
  for (int i = threadIdx.x; i < in; i += blockDim.x) squares += norm.residual[i] * norm.residual[i];
  const float inverse_rms = rsqrtf(block_sum(squares, scratch) / float(in) + norm.eps);
  for (int i = threadIdx.x; i < in; i += blockDim.x) {
    x_normed[i] = __float2bfloat16(norm.residual[i] * inverse_rms * norm.gamma[i]);
  }
  __syncthreads();
}

template <GemvOutput kOutput, int kSplit, bool kNorm>
__global__ void __launch_bounds__(kWarps * 32)
    gemv_kernel(const __nv_bfloat16* __restrict__ x, GemvSegments segments, int total_rows, int chunks,
                GemvNorm norm) {
  constexpr int kRowsPerBlock = kWarps / kSplit;
  __shared__ float partial[kWarps];
  extern __shared__ __align__(16) __nv_bfloat16 x_normed[];  // [in] with kNorm
  if constexpr (kNorm) {
    normalise_into(norm, chunks * 8, x_normed);
    x = x_normed;
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int global_row = blockIdx.x * kRowsPerBlock + warp / kSplit;
  const int slice = warp % kSplit;
  const bool active = global_row < total_rows;
  int row = active ? global_row : 0;
  int index = 0;
  while (index + 1 < segments.count && row >= segments.segment[index].rows)
    row -= segments.segment[index++].rows;
  const GemvSegment& segment = segments.segment[index];
  const bf16x8* w_row = reinterpret_cast<const bf16x8*>(segment.w) + int64_t(row) * chunks;
  const bf16x8* x_chunks = reinterpret_cast<const bf16x8*>(x);
  float acc = 0.f;
  for (int base = slice * 32 + lane; active && base < chunks; base += 32 * kSplit * kUnroll) {
    bf16x8 wv[kUnroll], xv[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int c = base + 32 * kSplit * u;
      if (c >= chunks) continue;
      // Weights are read once per token: stream them past the caches.
      const uint4 raw = __ldcs(reinterpret_cast<const uint4*>(w_row + c));
      wv[u] = *reinterpret_cast<const bf16x8*>(&raw);
      xv[u] = x_chunks[c];
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (base + 32 * kSplit * u < chunks) acc += dot8(wv[u], xv[u]);
    }
  }
  acc = warp_sum(acc);
  if (kSplit > 1) {
    if (lane == 0) partial[warp] = acc;
    __syncthreads();
    if (slice != 0 || lane != 0) return;
    for (int other = 1; other < kSplit; ++other) acc += partial[warp + other];
  } else if (lane != 0) {
    return;
  }
  if (!active) return;
  if (segment.bias) acc += segment.bias[row];
  if constexpr (kOutput == GemvOutput::BF16) {
    static_cast<__nv_bfloat16*>(segment.y)[row] = __float2bfloat16(acc);
  } else if constexpr (kOutput == GemvOutput::F32) {
    static_cast<float*>(segment.y)[row] = acc;
  } else {
    static_cast<float*>(segment.y)[row] += acc;
  }
}

template <GemvOutput kOutput, bool kNorm>
void launch_gemv(const __nv_bfloat16* x, const GemvSegments& segments, int total_rows, int chunks,
                 const GemvNorm& norm, cudaStream_t stream) {
  const size_t smem = kNorm ? size_t(chunks) * 8 * sizeof(__nv_bfloat16) : 0;
  // With one warp per row, few rows would leave the last wave of blocks half empty: then four warps share
  // each row, and the grid has four times the blocks.
  if (ceil_div(total_rows, kWarps) < 8 * int64_t(device_sm_count())) {
    gemv_kernel<kOutput, 4, kNorm><<<unsigned(ceil_div(total_rows, kWarps / 4)), kWarps * 32, smem, stream>>>(
        x, segments, total_rows, chunks, norm);
  } else {
    gemv_kernel<kOutput, 1, kNorm><<<unsigned(ceil_div(total_rows, kWarps)), kWarps * 32, smem, stream>>>(
        x, segments, total_rows, chunks, norm);
  }
}

template <GemvOutput kOutput>
void launch_gemv(const __nv_bfloat16* x, const GemvSegments& segments, int total_rows, int chunks,
                 const GemvNorm* norm, cudaStream_t stream) {
  if (norm) {
    launch_gemv<kOutput, true>(x, segments, total_rows, chunks, *norm, stream);
  } else {
    launch_gemv<kOutput, false>(x, segments, total_rows, chunks, GemvNorm{}, stream);
  }
}

}  // namespace

bool gemv_supported(const __nv_bfloat16* x, const __nv_bfloat16* w, int in) {
  return in % 8 == 0 && is_aligned(x, 16) && is_aligned(w, 16);
}

bool gemv_norm_supported(int in) {
  return in % 8 == 0 && size_t(in) * sizeof(__nv_bfloat16) <= 48 * 1024;
}

void gemv(const __nv_bfloat16* x, const GemvSegment* segments, int count, int in, GemvOutput output,
          cudaStream_t stream, const GemvNorm* norm) {
  HIPCODE_REQUIRE(
      count >= 1 && count <= kGemvMaxSegments, "gemv",
      "count must be in [1, " + std::to_string(kGemvMaxSegments) + "], got " + std::to_string(count));
  GemvSegments packed{};
  packed.count = count;
  int total_rows = 0;
  for (int i = 0; i < count; ++i) {
    HIPCODE_REQUIRE(segments[i].rows > 0, "gemv",
                    "rows must be > 0, got " + std::to_string(segments[i].rows));
    HIPCODE_REQUIRE(gemv_supported(norm ? segments[i].w : x, segments[i].w, in), "gemv",
                    "in must be a multiple of 8 with 16-byte aligned x and w, got in=" + std::to_string(in));
    packed.segment[i] = segments[i];
    total_rows += segments[i].rows;
  }
  HIPCODE_REQUIRE(!norm || gemv_norm_supported(in), "gemv",
                  "in too large for a fused norm: " + std::to_string(in));
  const int chunks = in / 8;
  switch (output) {
    case GemvOutput::BF16:
      launch_gemv<GemvOutput::BF16>(x, packed, total_rows, chunks, norm, stream);
      break;
    case GemvOutput::F32:
      launch_gemv<GemvOutput::F32>(x, packed, total_rows, chunks, norm, stream);
      break;
    case GemvOutput::F32_ADD:
      launch_gemv<GemvOutput::F32_ADD>(x, packed, total_rows, chunks, norm, stream);
      break;
  }
  check_launch("gemv");
}

}  // namespace hipcode::cuda
