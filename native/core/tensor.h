// Tensor: a non-owning view of host memory with a dtype and a row-major shape.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace hipcode {

struct Tensor {
  const void* data = nullptr;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;

  int64_t elements() const {
    int64_t count = 1;
    for (int64_t dim : shape) count *= dim;
    return count;
  }
  int64_t rows() const { return shape.empty() ? 1 : shape.front(); }
  int64_t cols() const { return shape.empty() ? 1 : shape.back(); }
};

// "[256, 64]"
std::string shape_to_string(const std::vector<int64_t>& shape);

}  // namespace hipcode
