// GEMV for decode: each warp reduces weight rows against x (a grid of the CTAs the GPU holds at once walks
// the rows). Lanes stride over the row in 16-byte chunks,
// issuing kUnroll independent loads before using any (and the next run's before reducing this one), so every
// SM keeps enough bytes in flight to saturate HBM. Launched as a programmatic dependent launch, the first
// weight loads overlap the end of the kernel before.
#include <algorithm>

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

// Loads the kUnroll chunks of a weight row that a lane reduces from `base` on (those before `chunks`).
// Weights are read once per token: they stream past the caches.
template <int kSplit>
__device__ __forceinline__ void load_weight_run(const bf16x8* w_row, int base, int chunks, bf16x8* wv) {
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) {
    const int c = base + 32 * kSplit * u;
    if (c >= chunks) continue;
    const uint4 raw = __ldcs(reinterpret_cast<const uint4*>(w_row + c));
    wv[u] = *reinterpret_cast<const bf16x8*>(&raw);
  }
}

// kSplit warps share a row, each taking every kSplit-th run of chunks; long rows (down_proj) split so that
// each warp's share of a row stays short (fewer loads of it left in flight at its end).
struct GemvSegments {
  GemvSegment segment[kGemvMaxSegments];
  int count;
};

template <GemvOutput kOutput, int kSplit>
__global__ void __launch_bounds__(kWarps * 32)
    gemv_kernel(const __nv_bfloat16* __restrict__ x, GemvSegments segments, int total_rows, int chunks) {
  constexpr int kRowsPerBlock = kWarps / kSplit;
  __shared__ float partial[kWarps];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int slice = warp % kSplit;
  const int block_rows = (total_rows + kRowsPerBlock - 1) / kRowsPerBlock;
  const bf16x8* x_chunks = reinterpret_cast<const bf16x8*>(x);
  constexpr int kStride = 32 * kSplit * kUnroll;
  bool waited = false;
  // A grid of the CTAs the GPU holds at once walks the rows, so no wave is left part full.
  for (int block_row = blockIdx.x; block_row < block_rows; block_row += gridDim.x) {
    const int global_row = block_row * kRowsPerBlock + warp / kSplit;
    const bool active = global_row < total_rows;
    int row = active ? global_row : 0;
    int index = 0;
    while (index + 1 < segments.count && row >= segments.segment[index].rows)
      row -= segments.segment[index++].rows;
    const GemvSegment& segment = segments.segment[index];
    const bf16x8* w_row = reinterpret_cast<const bf16x8*>(segment.w) + int64_t(row) * chunks;
    int base = slice * 32 + lane;
    bf16x8 wv[kUnroll];
    load_weight_run<kSplit>(w_row, base, active ? chunks : 0, wv);
    if (!waited) {
      // The weights do not depend on earlier kernels: the first run streams in while they finish.
      pdl_wait();
      pdl_launch_dependents();
      waited = true;
    }
    float acc = 0.f;
    for (; active && base < chunks; base += kStride) {
      bf16x8 xv[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int c = base + 32 * kSplit * u;
        if (c < chunks) xv[u] = x_chunks[c];
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        if (base + 32 * kSplit * u < chunks) acc += dot8(wv[u], xv[u]);
      }
      load_weight_run<kSplit>(w_row, base + kStride, chunks, wv);
    }
    acc = warp_sum(acc);
    if (kSplit > 1) {
      if (lane == 0) partial[warp] = acc;
      __syncthreads();
      if (slice == 0 && lane == 0) {
        for (int other = 1; other < kSplit; ++other) acc += partial[warp + other];
      }
      __syncthreads();  // partial is written again by the next row
      if (slice != 0) continue;
    }
    if (lane != 0 || !active) continue;
    if (segment.bias) acc += segment.bias[row];
    if constexpr (kOutput == GemvOutput::BF16) {
      static_cast<__nv_bfloat16*>(segment.y)[row] = __float2bfloat16(acc);
    } else if constexpr (kOutput == GemvOutput::F32) {
      static_cast<float*>(segment.y)[row] = acc;
    } else {
      static_cast<float*>(segment.y)[row] += acc;
    }
  }
}

// CTAs of `kernel` the GPU holds at once (cached per device and kernel: one cache per instantiation).
template <auto kernel>
int resident_ctas() {
  static int cache[64] = {};
  return cached_per_device(cache, 132, [&](int) {
    int per_sm = 0;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kWarps * 32, 0) != cudaSuccess) {
      cudaGetLastError();
      per_sm = 1;
    }
    return std::max(per_sm, 1) * device_sm_count();
  });
}

template <GemvOutput kOutput>
void launch_gemv(const __nv_bfloat16* x, const GemvSegments& segments, int total_rows, int chunks,
                 cudaStream_t stream) {
  // Rows of 1024+ chunks (8K+ elements) take 4 warps each. (More chunks per lane in flight was measured
  // slower: the extra registers cost more occupancy than they win.)
  if (chunks >= 1024) {
    const int64_t ctas =
        std::min<int64_t>(ceil_div(total_rows, kWarps / 4), resident_ctas<gemv_kernel<kOutput, 4>>());
    launch_dependent(gemv_kernel<kOutput, 4>, dim3(unsigned(ctas)), dim3(kWarps * 32), 0, stream, x, segments,
                     total_rows, chunks);
  } else {
    const int64_t ctas =
        std::min<int64_t>(ceil_div(total_rows, kWarps), resident_ctas<gemv_kernel<kOutput, 1>>());
    launch_dependent(gemv_kernel<kOutput, 1>, dim3(unsigned(ctas)), dim3(kWarps * 32), 0, stream, x, segments,
                     total_rows, chunks);
  }
}

}  // namespace

bool gemv_supported(const __nv_bfloat16* x, const __nv_bfloat16* w, int in) {
  return in % 8 == 0 && is_aligned(x, 16) && is_aligned(w, 16);
}

void gemv(const __nv_bfloat16* x, const GemvSegment* segments, int count, int in, GemvOutput output,
          cudaStream_t stream) {
  HIPCODE_REQUIRE(
      count >= 1 && count <= kGemvMaxSegments, "gemv",
      "count must be in [1, " + std::to_string(kGemvMaxSegments) + "], got " + std::to_string(count));
  GemvSegments packed{};
  packed.count = count;
  int total_rows = 0;
  for (int i = 0; i < count; ++i) {
    HIPCODE_REQUIRE(segments[i].rows > 0, "gemv",
                    "rows must be > 0, got " + std::to_string(segments[i].rows));
    HIPCODE_REQUIRE(gemv_supported(x, segments[i].w, in), "gemv",
                    "in must be a multiple of 8 with 16-byte aligned x and w, got in=" + std::to_string(in));
    packed.segment[i] = segments[i];
    total_rows += segments[i].rows;
  }
  const int chunks = in / 8;
  switch (output) {
    case GemvOutput::BF16:
      launch_gemv<GemvOutput::BF16>(x, packed, total_rows, chunks, stream);
      break;
    case GemvOutput::F32:
      launch_gemv<GemvOutput::F32>(x, packed, total_rows, chunks, stream);
      break;
    case GemvOutput::F32_ADD:
      launch_gemv<GemvOutput::F32_ADD>(x, packed, total_rows, chunks, stream);
      break;
  }
  check_launch("gemv");
}

}  // namespace hipcode::cuda
