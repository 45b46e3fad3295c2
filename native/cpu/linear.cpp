// The CPU linear kernel: threads split the output rows into blocks; each block of weight rows is converted
// to f32 once and multiplied with every token by register-tiled dot products the compiler vectorises.
#include "cpu/linear.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace hipcode::cpu {
namespace {

// The hot loops get AVX-512 / AVX2 clones picked at load time, so portable builds still use wide vectors.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define HIPCODE_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define HIPCODE_VECTOR_CLONES
#endif

constexpr int64_t kLanes = 8;                // independent accumulators per dot product
constexpr int64_t kBlockFloats = 32 * 1024;  // converted weight block: 128 KiB, stays in L2
constexpr int64_t kMaxRowsPerBlock = 64;
constexpr int64_t kTileTokens = 4;
constexpr int64_t kTileRows = 2;

// y[t * y_stride + r] = dot(x row t, w row r) for a TOKENS x ROWS tile.
template <int64_t TOKENS, int64_t ROWS>
void dot_tile(const float* __restrict x, int64_t x_stride, const float* __restrict w, int64_t w_stride,
              int64_t in, float* __restrict y, int64_t y_stride) {
  float acc[TOKENS][ROWS][kLanes] = {};
  const int64_t vector_end = in - in % kLanes;
  for (int64_t k = 0; k < vector_end; k += kLanes) {
    for (int64_t t = 0; t < TOKENS; ++t) {
      for (int64_t r = 0; r < ROWS; ++r) {
        for (int64_t j = 0; j < kLanes; ++j)
          acc[t][r][j] += x[t * x_stride + k + j] * w[r * w_stride + k + j];
      }
    }
  }
  for (int64_t t = 0; t < TOKENS; ++t) {
    for (int64_t r = 0; r < ROWS; ++r) {
      float sum = 0;
      for (int64_t j = 0; j < kLanes; ++j) sum += acc[t][r][j];
      for (int64_t k = vector_end; k < in; ++k) sum += x[t * x_stride + k] * w[r * w_stride + k];
      y[t * y_stride + r] = sum;
    }
  }
}

// dst [count] f32 = src [count] in its storage dtype.
HIPCODE_VECTOR_CLONES void widen(const void* src, DType dtype, int64_t count, float* __restrict dst) {
  const auto* halves = static_cast<const uint16_t*>(src);
  if (dtype == DType::BF16) {
    for (int64_t i = 0; i < count; ++i) dst[i] = bf16_to_f32(halves[i]);
  } else if (dtype == DType::F16) {
    for (int64_t i = 0; i < count; ++i) dst[i] = f16_to_f32(halves[i]);
  } else {
    std::memcpy(dst, src, size_t(count) * sizeof(float));
  }
}

// All tokens against `rows` converted weight rows; writes y columns [0, rows) (y already offset).
HIPCODE_VECTOR_CLONES void multiply_block(const float* x, int64_t n, const float* w, int64_t rows, int64_t in,
                                          float* y, int64_t out) {
  int64_t t = 0;
  for (; t + kTileTokens <= n; t += kTileTokens) {
    int64_t r = 0;
    for (; r + kTileRows <= rows; r += kTileRows) {
      dot_tile<kTileTokens, kTileRows>(x + t * in, in, w + r * in, in, in, y + t * out + r, out);
    }
    for (; r < rows; ++r) dot_tile<kTileTokens, 1>(x + t * in, in, w + r * in, in, in, y + t * out + r, out);
  }
  for (; t < n; ++t) {
    int64_t r = 0;
    for (; r + 4 <= rows; r += 4) dot_tile<1, 4>(x + t * in, in, w + r * in, in, in, y + t * out + r, out);
    for (; r < rows; ++r) dot_tile<1, 1>(x + t * in, in, w + r * in, in, in, y + t * out + r, out);
  }
}

int64_t rows_per_block(int64_t in, int64_t out, size_t threads) {
  int64_t rows = std::clamp<int64_t>(kBlockFloats / std::max<int64_t>(in, 1), kTileRows, kMaxRowsPerBlock);
  rows -= rows % kTileRows;
  // Enough blocks that every thread gets several, for balance.
  const auto min_blocks = int64_t(threads) * 4;
  while (rows > kTileRows && (out + rows - 1) / rows < min_blocks) rows -= kTileRows;
  return rows;
}

}  // namespace

void linear_forward(ThreadPool& pool, const float* x, int64_t n, const Tensor& weight, const float* bias,
                    float* y) {
  const int64_t out = weight.rows();
  const int64_t in = weight.cols();
  const int64_t block_rows = rows_per_block(in, out, pool.size());
  const int64_t blocks = (out + block_rows - 1) / block_rows;
  const size_t element_size = dtype_size(weight.dtype);
  pool.parallel_for(size_t(blocks), [&](size_t block) {
    thread_local std::vector<float> converted;  // [block_rows, in]
    const int64_t first_row = int64_t(block) * block_rows;
    const int64_t rows = std::min(block_rows, out - first_row);
    converted.resize(size_t(rows * in));
    const auto* source = static_cast<const uint8_t*>(weight.data) + size_t(first_row * in) * element_size;
    widen(source, weight.dtype, rows * in, converted.data());
    multiply_block(x, n, converted.data(), rows, in, y + first_row, out);
    if (bias == nullptr) return;
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t r = 0; r < rows; ++r) y[t * out + first_row + r] += bias[first_row + r];
    }
  });
}

}  // namespace hipcode::cpu
