// bf16 / f16 / fp8 e4m3 conversion: every f16 bit pattern against the textbook decoder, bf16 rounding and
// specials, e4m3 against hand-computed codes, and the KV row forms.
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

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

TEST(e4m3_hand_computed_values_and_rounding) {
  CHECK(f32_to_e4m3(0.0f) == 0x00 && f32_to_e4m3(-0.0f) == 0x80);
  CHECK(f32_to_e4m3(1.0f) == 0x38 && f32_to_e4m3(-1.0f) == 0xb8);  // exponent 7 (bias 7), mantissa 0
  CHECK(f32_to_e4m3(1.0625f) == 0x38);                             // halfway 1 and 1.125: to even (1)
  CHECK(f32_to_e4m3(1.1875f) == 0x3a);                             // halfway 1.125 and 1.25: to even
  CHECK(f32_to_e4m3(448.0f) == 0x7e && f32_to_e4m3(1000.0f) == 0x7e && f32_to_e4m3(-500.0f) == 0xfe);
  CHECK(f32_to_e4m3(std::ldexp(1.0f, -6)) == 0x08);    // smallest normal
  CHECK(f32_to_e4m3(std::ldexp(1.0f, -9)) == 0x01);    // smallest subnormal
  CHECK(f32_to_e4m3(std::ldexp(1.0f, -10)) == 0x00);   // halfway 0 and 2^-9: to even (0)
  CHECK(f32_to_e4m3(std::ldexp(3.0f, -10)) == 0x02);   // halfway 1 and 2 subnormal steps: 2
  CHECK(f32_to_e4m3(std::ldexp(15.5f, -10)) == 0x08);  // rounds up out of the subnormals
  CHECK(std::isnan(e4m3_to_f32(f32_to_e4m3(NAN))));
  CHECK(e4m3_to_f32(0x7e) == 448.0f && e4m3_to_f32(0x01) == std::ldexp(1.0f, -9));
  CHECK(e4m3_to_f32(0x3a) == 1.25f && e4m3_to_f32(0xc4) == -3.0f);  // 1.5 * 2^1
  CHECK(std::isnan(e4m3_to_f32(0x7f)) && std::isnan(e4m3_to_f32(0xff)));
  for (int code = 0; code < 256; ++code) {  // every finite code decodes to a value that encodes back to it
    if ((code & 0x7f) == 0x7f || code == 0x80) continue;
    CHECK(f32_to_e4m3(e4m3_to_f32(uint8_t(code))) == code);
  }
}

TEST(kv_rows_keep_values_within_their_form) {
  const float row[8] = {0.5f, -3.0f, 2.25f, 0.0f, 1e-3f, -0.75f, 7.0f, 3.3f};
  for (const DType dtype : {DType::F32, DType::BF16, DType::FP8_E4M3}) {
    std::vector<uint8_t> kept(kv_row_bytes(dtype, 8));
    float back[8];
    encode_kv_row(row, 8, dtype, kept.data());
    decode_kv_row(kept.data(), 8, dtype, back);
    // Relative rounding: f32 none, bf16 2^-9, fp8 (3 mantissa bits) 2^-4 of the row's largest value or
    // better.
    const float tolerance = dtype == DType::F32 ? 0.0f : dtype == DType::BF16 ? 7.0f / 512 : 7.0f / 16;
    for (int i = 0; i < 8; ++i) CHECK_NEAR(back[i], row[i], tolerance);
  }
  CHECK(kv_row_bytes(DType::FP8_E4M3, 128) == 132 && kv_row_bytes(DType::BF16, 128) == 256);
  uint8_t fp8[12];
  encode_kv_row(row, 8, DType::FP8_E4M3, fp8);
  float scale;
  std::memcpy(&scale, fp8 + 8, sizeof scale);
  CHECK(scale == 7.0f / 448.0f && fp8[6] == 0x7e);  // the largest value maps to 448
}

// Hand-computed: the scale is the least power of two s with max |x| / s <= 448.
TEST(fp8_row_scales_are_powers_of_two) {
  CHECK(e4m3_row_scale(7.0f) == std::ldexp(1.0f, -6));  // 7 / 448 = 2^-6 exactly
  CHECK(e4m3_row_scale(5.0f) == std::ldexp(1.0f, -6));  // 5 / 448 = 2^-6.48
  CHECK(e4m3_row_scale(7.5f) == std::ldexp(1.0f, -5));  // 7.5 / 448 = 2^-5.9
  CHECK(e4m3_row_scale(448.0f) == 1.0f && e4m3_row_scale(449.0f) == 2.0f);
  CHECK(e4m3_row_scale(0.0f) == 1.0f && e4m3_row_scale(1e-40f) == std::numeric_limits<float>::min());
  const float row[4] = {5.0f, -2.5f, 0.0f, 1.0f};
  uint8_t fp8[8];
  encode_kv_row(row, 4, DType::FP8_E4M3, fp8);
  CHECK(fp8[0] == 0x7a && fp8[1] == 0xf2);  // 5 / 2^-6 = 320 = 1.25 * 2^8; -160 = -1.25 * 2^7
  const float zeros[4] = {};
  float back[4] = {1, 1, 1, 1};
  encode_kv_row(zeros, 4, DType::FP8_E4M3, fp8);
  decode_kv_row(fp8, 4, DType::FP8_E4M3, back);
  CHECK(back[0] == 0.0f && back[3] == 0.0f);
  const float tiny[2] = {1e-40f, -3e-41f};  // subnormal: the scale stays a normal float, nothing turns NaN
  encode_kv_row(tiny, 2, DType::FP8_E4M3, fp8);
  decode_kv_row(fp8, 2, DType::FP8_E4M3, back);
  CHECK(std::isfinite(back[0]) && std::isfinite(back[1]) && std::fabs(back[0] - tiny[0]) < 1e-38f);
}
