// Dtype names and sizes, the bulk conversion loop the backends use to widen weights to f32, fp8 e4m3, and the
// KV row forms.
#include "core/dtype.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"

namespace hipcode {

namespace {

constexpr float kE4m3Max = 448.0f;

}  // namespace

size_t dtype_size(DType dtype) {
  if (dtype == DType::FP8_E4M3) return 1;
  return dtype == DType::F32 ? 4 : 2;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::BF16:
      return "bf16";
    case DType::F16:
      return "f16";
    case DType::F32:
      return "f32";
    case DType::FP8_E4M3:
      return "fp8-e4m3";
  }
  return "?";
}

bool parse_dtype(const std::string& name, DType* dtype) {
  if (name == "bf16")
    *dtype = DType::BF16;
  else if (name == "f16")
    *dtype = DType::F16;
  else if (name == "f32")
    *dtype = DType::F32;
  else
    return false;
  return true;
}

void convert_to_f32(const void* src, DType dtype, size_t count, float* dst) {
  if (dtype == DType::F32) {
    std::memcpy(dst, src, count * sizeof(float));
    return;
  }
  if (dtype == DType::FP8_E4M3) {
    const auto* bytes = static_cast<const uint8_t*>(src);
    for (size_t i = 0; i < count; ++i) dst[i] = e4m3_to_f32(bytes[i]);
    return;
  }
  const auto* halves = static_cast<const uint16_t*>(src);
  if (dtype == DType::BF16) {
    for (size_t i = 0; i < count; ++i) dst[i] = bf16_to_f32(halves[i]);
    return;
  }
  for (size_t i = 0; i < count; ++i) dst[i] = f16_to_f32(halves[i]);
}

uint8_t f32_to_e4m3(float value) {
  const uint8_t sign = std::signbit(value) ? 0x80 : 0x00;
  const float magnitude = std::fabs(value);
  if (std::isnan(value)) return uint8_t(sign | 0x7f);
  if (magnitude >= kE4m3Max) return uint8_t(sign | 0x7e);
  if (magnitude < std::ldexp(1.0f, -6)) {
    // Zero and subnormals: multiples of 2^-9 (rounding up to 8 of them gives the smallest normal, code 0x08).
    return uint8_t(sign | int(std::nearbyint(std::ldexp(magnitude, 9))));
  }
  int exponent = 0;
  std::frexp(magnitude, &exponent);  // magnitude = f * 2^exponent, f in [0.5, 1)
  exponent -= 1;                     // magnitude = (1 + m) * 2^exponent, m in [0, 1)
  int mantissa = int(std::nearbyint(std::ldexp(magnitude, 3 - exponent))) - 8;  // ties to even
  if (mantissa == 8) {
    mantissa = 0;
    exponent += 1;
  }
  const int biased = exponent + 7;
  if (biased > 15 || (biased == 15 && mantissa == 7)) return uint8_t(sign | 0x7e);
  return uint8_t(sign | (biased << 3) | mantissa);
}

float e4m3_to_f32(uint8_t bits) {
  const int biased = (bits >> 3) & 0xf;
  const int mantissa = bits & 0x7;
  float magnitude;
  if (biased == 15 && mantissa == 7) {
    magnitude = std::numeric_limits<float>::quiet_NaN();
  } else if (biased == 0) {
    magnitude = std::ldexp(float(mantissa), -9);
  } else {
    magnitude = std::ldexp(float(8 + mantissa), biased - 10);
  }
  return (bits & 0x80) ? -magnitude : magnitude;
}

size_t kv_row_bytes(DType dtype, int64_t head_dim) {
  return size_t(head_dim) * dtype_size(dtype) + (dtype == DType::FP8_E4M3 ? sizeof(float) : 0);
}

float e4m3_row_scale(float largest) {
  if (!(largest > 0)) return 1.0f;
  // At least the smallest normal float: a row of tiny values must not divide by a zero scale.
  const float ratio = std::max(largest / kE4m3Max, std::numeric_limits<float>::min());
  uint32_t bits = f32_to_bits(ratio);
  if ((bits & 0x7fffffu) != 0 && (bits & 0x7f800000u) != 0x7f800000u) bits = (bits & 0x7f800000u) + 0x800000u;
  return f32_from_bits(bits);
}

void encode_kv_row(const float* x, int64_t head_dim, DType dtype, uint8_t* row) {
  switch (dtype) {
    case DType::F32:
      std::memcpy(row, x, size_t(head_dim) * sizeof(float));
      return;
    case DType::BF16:
      for (int64_t i = 0; i < head_dim; ++i) {
        const uint16_t half = f32_to_bf16(x[i]);
        std::memcpy(row + 2 * i, &half, sizeof half);
      }
      return;
    case DType::F16:
      break;
    case DType::FP8_E4M3: {
      float largest = 0;
      for (int64_t i = 0; i < head_dim; ++i) largest = std::max(largest, std::fabs(x[i]));
      const float scale = e4m3_row_scale(largest);
      for (int64_t i = 0; i < head_dim; ++i) row[i] = f32_to_e4m3(x[i] / scale);
      std::memcpy(row + head_dim, &scale, sizeof scale);
      return;
    }
  }
  throw EngineError(ErrorCode::INTERNAL, "KV rows are kept as f32, bf16 or fp8-e4m3, not f16");
}

void decode_kv_row(const uint8_t* row, int64_t head_dim, DType dtype, float* x) {
  if (dtype != DType::FP8_E4M3) {
    convert_to_f32(row, dtype, size_t(head_dim), x);
    return;
  }
  float scale;
  std::memcpy(&scale, row + head_dim, sizeof scale);
  for (int64_t i = 0; i < head_dim; ++i) x[i] = e4m3_to_f32(row[i]) * scale;
}

}  // namespace hipcode
