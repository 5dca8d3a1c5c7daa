#include <gtest/gtest.h>

#include "ops/ops.h"

using namespace tandem::ops;

TEST(OpsRef, Bf16RoundTripIsExactForRepresentableValues) {
  for (float v : {0.f, 1.f, -2.5f, 0.15625f, 65536.f}) EXPECT_EQ(bf16_to_f32(f32_to_bf16(v)), v);
}

TEST(OpsRef, F16DecodesKnownValues) {
  EXPECT_EQ(f16_to_f32(0x3c00), 1.f);
  EXPECT_EQ(f16_to_f32(0xc000), -2.f);
  EXPECT_EQ(f16_to_f32(0x0001), 5.9604645e-08f);  // smallest subnormal
}
