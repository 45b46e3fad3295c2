// Dtype names and sizes, and the bulk conversion loop the backends use to widen weights to f32.
#include "core/dtype.h"

namespace hipcode {

size_t dtype_size(DType dtype) {
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
  const auto* halves = static_cast<const uint16_t*>(src);
  if (dtype == DType::BF16) {
    for (size_t i = 0; i < count; ++i) dst[i] = bf16_to_f32(halves[i]);
    return;
  }
  for (size_t i = 0; i < count; ++i) dst[i] = f16_to_f32(halves[i]);
}

}  // namespace hipcode
