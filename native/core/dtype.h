// Storage dtypes of weights (bf16, f16, f32) and of the KV cache (those, and fp8 e4m3 rows with a scale), and
// exact scalar conversions between them and f32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace hipcode {

// FP8_E4M3 is for KV rows only (weights never parse as it).
enum class DType { BF16, F16, F32, FP8_E4M3 };

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);
// Parses "bf16" | "f16" | "f32"; returns false for anything else.
bool parse_dtype(const std::string& name, DType* dtype);

inline float f32_from_bits(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

inline uint32_t f32_to_bits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

inline float bf16_to_f32(uint16_t bits) {
  return f32_from_bits(uint32_t{bits} << 16);
}

// Round to nearest even; NaN stays a quiet NaN.
inline uint16_t f32_to_bf16(float value) {
  uint32_t bits = f32_to_bits(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x0040u);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

// Branch-free IEEE half -> float, exact for normals, subnormals, zeros, infinities and NaNs: the half's
// exponent and mantissa are placed into a float and rebased by a multiply (normals, inf, NaN) or by a
// subtraction of a magic constant (subnormals); a bit mask picks the right one, so loops over it vectorise
// (even with plain SSE2, which has no unsigned compare or blend).
inline float f16_to_f32(uint16_t half) {
  const uint32_t word = uint32_t{half} << 16;
  const uint32_t sign = word & 0x80000000u;
  const uint32_t magnitude2 = word + word;  // exponent and mantissa, sign shifted out
  const float normal = f32_from_bits((magnitude2 >> 4) + (0xe0u << 23)) * f32_from_bits(0x7800000u);
  const float subnormal = f32_from_bits((magnitude2 >> 17) | (126u << 23)) - 0.5f;
  const uint32_t subnormal_mask = 0u - uint32_t(int32_t(half & 0x7fff) < 0x0400);
  const uint32_t bits = (f32_to_bits(subnormal) & subnormal_mask) | (f32_to_bits(normal) & ~subnormal_mask);
  return f32_from_bits(sign | bits);
}

// Converts `count` values of `dtype` starting at `src` to f32.
void convert_to_f32(const void* src, DType dtype, size_t count, float* dst);

// fp8 e4m3 in its "fn" form (no infinities; ±448 at most, codes 0x7f and 0xff are NaN): round to nearest
// even, saturating at ±448; NaN stays NaN.
uint8_t f32_to_e4m3(float value);
float e4m3_to_f32(uint8_t bits);

// Bytes of one [head_dim] K or V row kept as `dtype`: its values and, for fp8, the row's f32 scale after
// them.
size_t kv_row_bytes(DType dtype, int64_t head_dim);
// The scale of an fp8 row whose largest magnitude is `largest`: the least power of two s with largest / s
// <= 448 (at least the smallest normal float; 1 for a zero row). A power of two makes every e4m3 value times
// the scale exact in bf16 and in f32 (for rows whose largest magnitude is above about 1e-35), so a GPU copy
// of the rows in bf16 holds what the rows hold.
float e4m3_row_scale(float largest);
// row = x [head_dim] kept as `dtype`; fp8 keeps e4m3(x / scale) with scale = e4m3_row_scale(max |x|).
void encode_kv_row(const float* x, int64_t head_dim, DType dtype, uint8_t* row);
// x [head_dim] = the values a row kept as `dtype` holds.
void decode_kv_row(const uint8_t* row, int64_t head_dim, DType dtype, float* x);

}  // namespace hipcode
