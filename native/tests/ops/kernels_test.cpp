// Every non-matmul kernel variant against ops::ref on odd sizes (vector tails, masked tails).
#include <gtest/gtest.h>

#include <cmath>

#include "ops/ops.h"
#include "test_util.h"

using namespace tandem::ops;
using namespace tandem::ops::testing;

namespace {

const std::vector<int64_t> kSizes = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 63, 65, 127, 257, 1000, 4099};

class KernelVariant : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    scope_ = std::make_unique<IsaScope>(GetParam());
    if (!scope_->ok()) GTEST_SKIP() << "this CPU does not support the " << GetParam() << " kernels";
  }
  void TearDown() override { scope_.reset(); }
  std::unique_ptr<IsaScope> scope_;
};

std::vector<float> inv_freq_for(int64_t head_dim, float base) {
  std::vector<float> f(size_t(std::max<int64_t>(1, head_dim / 2)));
  for (int64_t i = 0; i < head_dim / 2; i++) f[size_t(i)] = std::pow(base, -2.f * float(i) / float(head_dim));
  return f;
}

}  // namespace

TEST_P(KernelVariant, DotMatchesReference) {
  for (int64_t n : kSizes) {
    auto a = random_floats(size_t(n), 1), b = random_floats(size_t(n), 2);
    std::vector<float> got = {dot(a.data(), b.data(), n)}, want = {ref::dot(a.data(), b.data(), n)};
    EXPECT_LE(normalised_error(got, want), 1e-5) << "n=" << n;
  }
  EXPECT_EQ(dot(nullptr, nullptr, 0), 0.f);
}

TEST_P(KernelVariant, AxpyScaleAddMatchReference) {
  for (int64_t n : kSizes) {
    auto x = random_floats(size_t(n), 3), y0 = random_floats(size_t(n), 4);
    auto got = y0, want = y0;
    axpy(0.37f, x.data(), got.data(), n);
    ref::axpy(0.37f, x.data(), want.data(), n);
    EXPECT_LE(normalised_error(got, want), 1e-6) << "axpy n=" << n;
    scale(got.data(), -1.7f, n);
    ref::scale(want.data(), -1.7f, n);
    EXPECT_LE(normalised_error(got, want), 1e-6) << "scale n=" << n;
    add(got.data(), x.data(), n);
    ref::add(want.data(), x.data(), n);
    EXPECT_LE(normalised_error(got, want), 1e-6) << "add n=" << n;
  }
}

TEST_P(KernelVariant, AxpyDoesNotWritePastTheEnd) {
  // The masked / scalar tails must leave the element after n alone.
  for (int64_t n : {1, 7, 17, 33}) {
    std::vector<float> x(size_t(n) + 1, 1.f), y(size_t(n) + 1, 0.f);
    y[size_t(n)] = 42.f;
    axpy(2.f, x.data(), y.data(), n);
    scale(y.data(), 3.f, n);
    add(y.data(), x.data(), n);
    EXPECT_EQ(y[size_t(n)], 42.f) << "n=" << n;
    EXPECT_EQ(y[size_t(n) - 1], 7.f) << "n=" << n;
  }
}

TEST_P(KernelVariant, SoftmaxMatchesReferenceAndSumsToOne) {
  for (int64_t n : kSizes) {
    auto x = random_floats(size_t(n), 5, -30.f, 30.f);
    auto got = x, want = x;
    softmax(got.data(), n);
    ref::softmax(want.data(), n);
    EXPECT_LE(normalised_error(got, want), 1e-6) << "n=" << n;
    double sum = 0;
    for (float v : got) sum += v;
    EXPECT_NEAR(sum, 1.0, 1e-5) << "n=" << n;
  }
}

TEST_P(KernelVariant, SoftmaxGivesMaskedScoresZeroWeight) {
  // Attention masks with -inf; very negative scores underflow to 0 rather than NaN.
  std::vector<float> x = {1.f, -INFINITY, 2.f, -1e30f, 0.5f, -INFINITY, 3.f, -200.f, 1.f, 1.f, -INFINITY, 0.f, 2.f, 2.f, 2.f, 2.f, -5.f};
  auto want = x;
  ref::softmax(want.data(), int64_t(want.size()));
  softmax(x.data(), int64_t(x.size()));
  EXPECT_LE(normalised_error(x, want), 1e-6);
  EXPECT_EQ(x[1], 0.f);
  EXPECT_EQ(x[3], 0.f);
  EXPECT_EQ(x[10], 0.f);
}

TEST_P(KernelVariant, SiluMulMatchesReferenceIncludingLargeInputs) {
  for (int64_t n : kSizes) {
    auto g = random_floats(size_t(n), 6, -20.f, 20.f), up = random_floats(size_t(n), 7, -3.f, 3.f);
    auto got = g, want = g;
    silu_mul(got.data(), up.data(), n);
    ref::silu_mul(want.data(), up.data(), n);
    EXPECT_LE(normalised_error(got, want), 1e-5) << "n=" << n;
  }
  std::vector<float> g = {-200.f, -90.f, -88.f, -10.f, 0.f, 10.f, 88.f, 90.f, 200.f, -0.5f, 0.5f, 1e-8f, -1e-8f, 3.f, -3.f, 40.f, -40.f};
  std::vector<float> up(g.size(), 1.5f);
  auto got = g, want = g;
  silu_mul(got.data(), up.data(), int64_t(g.size()));
  ref::silu_mul(want.data(), up.data(), int64_t(g.size()));
  EXPECT_LE(normalised_error(got, want), 1e-6);
  for (float v : got) EXPECT_TRUE(std::isfinite(v));
}

TEST_P(KernelVariant, LayernormMatchesReference) {
  for (int64_t n : kSizes) {
    for (int64_t m : {1, 3}) {
      auto x = random_floats(size_t(m * n), 8, -4.f, 6.f), w = random_floats(size_t(n), 9, 0.5f, 1.5f);
      std::vector<float> got(size_t(m * n)), want(size_t(m * n));
      layernorm(x.data(), w.data(), got.data(), m, n, 1e-5f);
      ref::layernorm(x.data(), w.data(), want.data(), m, n, 1e-5f);
      EXPECT_LE(normalised_error(got, want), 1e-5) << "m=" << m << " n=" << n;
    }
  }
}

TEST_P(KernelVariant, LayernormWorksInPlace) {
  auto x = random_floats(3 * 37, 10), w = random_floats(37, 11);
  std::vector<float> want(x.size());
  ref::layernorm(x.data(), w.data(), want.data(), 3, 37, 1e-6f);
  layernorm(x.data(), w.data(), x.data(), 3, 37, 1e-6f);
  EXPECT_LE(normalised_error(x, want), 1e-5);
}

TEST_P(KernelVariant, RopeMatchesReference) {
  for (int64_t head_dim : {2, 4, 6, 7, 8, 14, 16, 18, 30, 32, 34, 64, 66, 128, 130}) {
    auto inv_freq = inv_freq_for(head_dim, 50000.f);
    for (int64_t pos : {0, 1, 17, 4095, 131071}) {
      for (int64_t heads : {1, 3}) {
        auto x = random_floats(size_t(heads * head_dim), uint32_t(head_dim + pos));
        auto got = x, want = x;
        rope_interleaved(got.data(), heads, head_dim, pos, inv_freq.data());
        ref::rope_interleaved(want.data(), heads, head_dim, pos, inv_freq.data());
        EXPECT_LE(normalised_error(got, want), 1e-5) << "head_dim=" << head_dim << " pos=" << pos << " heads=" << heads;
      }
    }
  }
}

TEST_P(KernelVariant, RopeAtPositionZeroIsIdentity) {
  auto inv_freq = inv_freq_for(64, 10000.f);
  auto x = random_floats(4 * 64, 12);
  auto got = x;
  rope_interleaved(got.data(), 4, 64, 0, inv_freq.data());
  EXPECT_EQ(got, x);
}

INSTANTIATE_TEST_SUITE_P(Isa, KernelVariant, ::testing::Values("scalar", "avx2", "avx512"),
                         [](const ::testing::TestParamInfo<const char*>& p) { return std::string(p.param); });
