#include "io/dtype.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace patchlm {
namespace {

TEST(DType, NamesAndSizesRoundTrip) {
  for (DType d : {DType::F64, DType::F32, DType::F16, DType::BF16, DType::I64, DType::I32, DType::I16, DType::I8,
                  DType::U8, DType::BOOL}) {
    EXPECT_EQ(parse_dtype(dtype_name(d)), d);
  }
  EXPECT_EQ(dtype_size(DType::BF16), 2u);
  EXPECT_FALSE(parse_dtype("f32").has_value());  // names are case-sensitive, as in safetensors
}

TEST(DType, HalfToFloatEdgeCases) {
  EXPECT_EQ(half_to_float(0x3C00), 1.0f);
  EXPECT_EQ(half_to_float(0xC000), -2.0f);
  EXPECT_EQ(half_to_float(0x7BFF), 65504.0f);                 // largest normal
  EXPECT_EQ(half_to_float(0x0400), std::ldexp(1.0f, -14));    // smallest normal
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));    // smallest subnormal
  EXPECT_EQ(half_to_float(0x03FF), std::ldexp(1023.0f, -24)); // largest subnormal
  EXPECT_TRUE(std::signbit(half_to_float(0x8000)));
  EXPECT_EQ(half_to_float(0x7C00), std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(half_to_float(0x7E00)));
  // Exhaustive: every finite half converts to the value its fields describe.
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    std::uint32_t e = (h >> 10) & 0x1F, m = h & 0x3FF;
    if (e == 0x1F) continue;
    float want = e == 0 ? std::ldexp(static_cast<float>(m), -24) : std::ldexp(1.0f + m / 1024.0f, static_cast<int>(e) - 15);
    if (h & 0x8000) want = -want;
    ASSERT_EQ(half_to_float(static_cast<std::uint16_t>(h)), want) << h;
  }
  EXPECT_EQ(bf16_to_float(0x3F80), 1.0f);
}

}  // namespace
}  // namespace patchlm
