// bf16 / f16 conversion: every f16 bit pattern against the textbook decoder, bf16 rounding and specials.
#include <cmath>

#include "core/dtype.h"
#include "tests/check.h"
#include "tests/helpers.h"

using namespace hipcode;
using namespace hipcode::test;

TEST(f16_all_bit_patterns_match_reference) {
  int mismatches = 0;
  for (uint32_t bits = 0; bits <= 0xffff; ++bits) {
    const double expected = reference_f16(uint16_t(bits));
    const float actual = f16_to_f32(uint16_t(bits));
    const bool same = std::isnan(expected)
                          ? std::isnan(actual)
                          : double(actual) == expected && std::signbit(actual) == std::signbit(expected);
    if (!same) ++mismatches;
  }
  CHECK(mismatches == 0);
}

TEST(f16_edge_cases) {
  CHECK(f16_to_f32(0x3c00) == 1.0f);
  CHECK(f16_to_f32(0x0001) == std::ldexp(1.0f, -24));     // smallest subnormal
  CHECK(f16_to_f32(0x03ff) == std::ldexp(1023.0f, -24));  // largest subnormal
  CHECK(f16_to_f32(0x0400) == std::ldexp(1.0f, -14));     // smallest normal
  CHECK(f16_to_f32(0x7bff) == 65504.0f);
  CHECK(std::isinf(f16_to_f32(0x7c00)) && f16_to_f32(0x7c00) > 0);
  CHECK(std::isinf(f16_to_f32(0xfc00)) && f16_to_f32(0xfc00) < 0);
  CHECK(std::isnan(f16_to_f32(0x7e00)));
  CHECK(std::isnan(f16_to_f32(0x7c01)));
  CHECK(f16_to_f32(0x8000) == 0.0f && std::signbit(f16_to_f32(0x8000)));
  CHECK(f16_to_f32(0xc000) == -2.0f);
}

TEST(bf16_conversion_and_rounding) {
  CHECK(bf16_to_f32(0x3f80) == 1.0f);
  CHECK(bf16_to_f32(0xc000) == -2.0f);
  CHECK(std::isinf(bf16_to_f32(0x7f80)));
  CHECK(std::isnan(bf16_to_f32(0x7fc0)));
  CHECK(bf16_to_f32(0x0001) == std::ldexp(1.0f, -133));  // subnormal
  CHECK(f32_to_bf16(1.0f) == 0x3f80);
  CHECK(f32_to_bf16(f32_from_bits(0x3f808000)) == 0x3f80);  // tie rounds to even (down)
  CHECK(f32_to_bf16(f32_from_bits(0x3f818000)) == 0x3f82);  // tie rounds to even (up)
  CHECK(f32_to_bf16(f32_from_bits(0x3f808001)) == 0x3f81);  // above the tie rounds up
  CHECK(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
  CHECK(f32_to_bf16(INFINITY) == 0x7f80);
}

TEST(convert_to_f32_all_dtypes) {
  std::mt19937_64 rng(7);
  for (DType dtype : {DType::BF16, DType::F16, DType::F32}) {
    const RandomTensor tensor = random_tensor(rng, 37, dtype, 3.0);
    std::vector<float> out(37);
    convert_to_f32(tensor.bytes.data(), dtype, 37, out.data());
    for (size_t i = 0; i < out.size(); ++i) CHECK(double(out[i]) == tensor.values[i]);
  }
}
