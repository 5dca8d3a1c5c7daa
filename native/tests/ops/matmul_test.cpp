// Every matmul variant against ops::ref::matmul: odd shapes, all weight dtypes, with and without
// a thread pool, plus k-block boundaries and thread-count determinism.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <memory>

#include "ops/ops.h"
#include "test_util.h"
#include "util/status.h"
#include "util/thread_pool.h"

using namespace tandem;
using namespace tandem::ops;
using namespace tandem::ops::testing;

namespace {

// A weight matrix in one stored dtype, built from random values.
struct Weights {
  DType dtype;
  int64_t rows, cols;
  std::vector<float> f32;
  std::vector<uint16_t> u16;
  WeightView view() const {
    return WeightView{dtype == DType::F32 ? static_cast<const void*>(f32.data()) : static_cast<const void*>(u16.data()),
                      dtype, rows, cols};
  }
};

// Random f16 bit patterns: mostly normal values in about [2^-6, 2), with some zeros and
// subnormals so the conversion's special cases are exercised too.
uint16_t random_f16(std::mt19937& rng) {
  uint32_t r = rng();
  uint16_t sign = uint16_t((r & 1u) << 15);
  uint16_t mant = uint16_t((r >> 1) & 0x3ffu);
  uint32_t pick = (r >> 11) % 16;
  uint16_t exp = pick == 0 ? 0 : uint16_t(9 + (r >> 16) % 7);  // 1/16 are zero or subnormal
  return uint16_t(sign | (exp << 10) | mant);
}

Weights make_weights(DType dt, int64_t rows, int64_t cols, uint32_t seed) {
  Weights w{dt, rows, cols, {}, {}};
  size_t n = size_t(rows * cols);
  if (dt == DType::F32) {
    w.f32 = random_floats(n, seed);
  } else if (dt == DType::BF16) {
    auto f = random_floats(n, seed);
    w.u16.resize(n);
    for (size_t i = 0; i < n; i++) w.u16[i] = f32_to_bf16(f[i]);
  } else {
    std::mt19937 rng(seed);
    w.u16.resize(n);
    for (auto& v : w.u16) v = random_f16(rng);
  }
  return w;
}

// Sets (or with nullptr unsets) an environment variable for a scope, restoring it after.
class EnvVar {
 public:
  EnvVar(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    if (value) setenv(name, value, 1);
    else unsetenv(name);
  }
  ~EnvVar() {
    if (had_) setenv(name_, old_.c_str(), 1);
    else unsetenv(name_);
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

const char* dtype_name(DType dt) { return dt == DType::F32 ? "f32" : dt == DType::BF16 ? "bf16" : "f16"; }

class MatmulVariant : public ::testing::TestWithParam<const char*> {};

// Runs every (m, rows, cols) combination of odd sizes for one variant and dtype, serial and on
// pools of 2 and 3 threads, against the scalar reference.
void check_shapes(const char* isa, DType dt, const std::vector<int64_t>& ms, const std::vector<int64_t>& rows_list,
                  const std::vector<int64_t>& cols_list, double tol) {
  ThreadPool pool2(2), pool3(3);
  uint32_t seed = 1;
  for (int64_t m : ms)
    for (int64_t rows : rows_list)
      for (int64_t cols : cols_list) {
        Weights w = make_weights(dt, rows, cols, seed++);
        auto x = random_floats(size_t(m * cols), seed++);
        std::vector<float> want(size_t(m * rows));
        ref::matmul(x.data(), m, w.view(), want.data());
        for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &pool2, &pool3}) {
          std::vector<float> got(size_t(m * rows), NAN);
          {
            IsaScope scope(isa);
            matmul(x.data(), m, w.view(), got.data(), pool);
          }
          double err = normalised_error(got, want);
          ASSERT_LE(err, tol) << isa << " " << dtype_name(dt) << " m=" << m << " rows=" << rows << " cols=" << cols
                              << " threads=" << (pool ? pool->size() : 1);
        }
      }
}

}  // namespace

TEST_P(MatmulVariant, MatchesReferenceOnOddShapesForEveryDtype) {
  IsaScope probe(GetParam());
  TANDEM_REQUIRE_ISA(probe, GetParam());
  const std::vector<int64_t> ms = {1, 2, 3, 4, 7, 17};
  const std::vector<int64_t> rows = {1, 2, 3, 7, 17, 63, 65};
  const std::vector<int64_t> cols = {1, 2, 3, 7, 8, 15, 16, 17, 63, 65, 127, 257};
  for (DType dt : {DType::F32, DType::BF16, DType::F16}) check_shapes(GetParam(), dt, ms, rows, cols, 1e-5);
}

TEST_P(MatmulVariant, MatchesReferenceForPrefillSizedM) {
  IsaScope probe(GetParam());
  TANDEM_REQUIRE_ISA(probe, GetParam());
  for (DType dt : {DType::F32, DType::BF16, DType::F16}) check_shapes(GetParam(), dt, {64, 65}, {127, 257}, {63, 129}, 1e-5);
}

TEST_P(MatmulVariant, MatchesReferenceAcrossKBlocks) {
  // cols past the 2048 (f32) / 4096 (bf16, f16) k-block size: partial sums of several blocks
  // are added into y, including a short last block.
  IsaScope probe(GetParam());
  TANDEM_REQUIRE_ISA(probe, GetParam());
  for (DType dt : {DType::F32, DType::BF16, DType::F16}) check_shapes(GetParam(), dt, {1, 5}, {19}, {2048, 2053, 4096, 4100, 8200}, 2e-5);
}

TEST_P(MatmulVariant, ResultDoesNotDependOnThreadCount) {
  // Each output is summed in the same order whatever the split, so runs are reproducible.
  IsaScope scope(GetParam());
  TANDEM_REQUIRE_ISA(scope, GetParam());
  Weights w = make_weights(DType::BF16, 301, 1100, 7);
  auto x = random_floats(size_t(9 * 1100), 8);
  std::vector<float> serial(9 * 301), threaded(9 * 301);
  matmul(x.data(), 9, w.view(), serial.data(), nullptr);
  for (int threads : {2, 3, 5}) {
    ThreadPool pool(threads);
    matmul(x.data(), 9, w.view(), threaded.data(), &pool);
    EXPECT_EQ(0, std::memcmp(serial.data(), threaded.data(), serial.size() * sizeof(float))) << "threads=" << threads;
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, MatmulVariant, ::testing::Values("scalar", "avx2", "avx512"),
                         [](const ::testing::TestParamInfo<const char*>& p) { return std::string(p.param); });

TEST(Matmul, EmptyInputsAreNoOpsAndZeroColsGiveZeros) {
  std::vector<float> w(4, 1.f), x(4, 1.f), y(4, 7.f);
  matmul(x.data(), 0, WeightView{w.data(), DType::F32, 2, 2}, y.data(), nullptr);
  EXPECT_EQ(y[0], 7.f);
  matmul(x.data(), 2, WeightView{w.data(), DType::F32, 2, 0}, y.data(), nullptr);
  EXPECT_EQ(y, std::vector<float>(4, 0.f));
}

TEST(Matmul, RejectsBadArgumentsWithAClearError) {
  std::vector<float> w(4, 1.f), x(4, 1.f), y(4);
  try {
    matmul(x.data(), 1, WeightView{w.data(), DType(9), 2, 2}, y.data(), nullptr);
    FAIL() << "expected an error for an unknown dtype";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), TANDEM_STATUS_INVALID_ARGUMENT);
    EXPECT_NE(std::string(e.what()).find("dtype"), std::string::npos) << e.what();
  }
  EXPECT_THROW(matmul(x.data(), 1, WeightView{nullptr, DType::F32, 2, 2}, y.data(), nullptr), Error);
  EXPECT_THROW(matmul(x.data(), -1, WeightView{w.data(), DType::F32, 2, 2}, y.data(), nullptr), Error);
}

TEST(Dispatch, PicksAVariantAndForcingUnknownNamesFails) {
  std::string isa = active_isa();
  EXPECT_TRUE(isa == "scalar" || isa == "avx2" || isa == "avx512") << isa;
  EXPECT_FALSE(force_isa("sse9"));
  EXPECT_FALSE(force_isa(nullptr));
  EXPECT_EQ(std::string(active_isa()), isa);
  ASSERT_TRUE(force_isa("scalar"));
  EXPECT_STREQ(active_isa(), "scalar");
  ASSERT_TRUE(force_isa("auto"));
  EXPECT_EQ(std::string(active_isa()), isa);
}

TEST(Dispatch, PrefersTheWidestSupportedVariant) {
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl");
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  EnvVar isa("TANDEM_ISA", nullptr);
  ASSERT_TRUE(force_isa("auto"));
  EXPECT_STREQ(active_isa(), avx512 ? "avx512" : avx2 ? "avx2" : "scalar");
}

TEST(Dispatch, TandemIsaOverridesTheAutomaticChoice) {
  {
    EnvVar isa("TANDEM_ISA", "scalar");
    ASSERT_TRUE(force_isa("auto"));
    EXPECT_STREQ(active_isa(), "scalar");
  }
  {
    EnvVar isa("TANDEM_ISA", "avx9");  // unknown: refused, the current choice stays
    EXPECT_FALSE(force_isa("auto"));
    EXPECT_STREQ(active_isa(), "scalar");
  }
  ASSERT_TRUE(force_isa("auto"));
}

TEST_P(MatmulVariant, HandlesUnalignedWeightsAndInputs) {
  // safetensors data offsets only guarantee element alignment, so views start anywhere.
  IsaScope scope(GetParam());
  TANDEM_REQUIRE_ISA(scope, GetParam());
  const int64_t m = 3, rows = 21, cols = 37;
  for (DType dt : {DType::F32, DType::BF16, DType::F16}) {
    Weights w = make_weights(dt, rows, cols, 21);
    std::vector<float> f32_shifted(w.f32.size() + 1);
    std::vector<uint16_t> u16_shifted(w.u16.size() + 1);
    std::copy(w.f32.begin(), w.f32.end(), f32_shifted.begin() + 1);
    std::copy(w.u16.begin(), w.u16.end(), u16_shifted.begin() + 1);
    WeightView view = w.view();
    view.data = dt == DType::F32 ? static_cast<const void*>(f32_shifted.data() + 1) : u16_shifted.data() + 1;
    auto x = random_floats(size_t(m * cols) + 1, 22);
    std::vector<float> want(size_t(m * rows)), got(size_t(m * rows) + 1);
    ref::matmul(x.data() + 1, m, w.view(), want.data());
    ThreadPool pool(2);
    matmul(x.data() + 1, m, view, got.data() + 1, &pool);
    EXPECT_LE(normalised_error(std::vector<float>(got.begin() + 1, got.end()), want), 1e-5) << dtype_name(dt);
  }
}

TEST_P(MatmulVariant, EachRowIsBitwiseIndependentOfTheBatch) {
  // Batch invariance: a request's logits must not change with what else is batched with it, so
  // row i of an m-row matmul must equal the same row computed alone (m = 1), bit for bit,
  // whatever tile grouping or thread split the batch size leads to.
  IsaScope scope(GetParam());
  TANDEM_REQUIRE_ISA(scope, GetParam());
  ThreadPool pool(3);
  for (DType dt : {DType::F32, DType::BF16, DType::F16}) {
    for (int64_t cols : {37, 4100}) {
      const int64_t m = 11, rows = 45;
      Weights w = make_weights(dt, rows, cols, 31);
      auto x = random_floats(size_t(m * cols), 32);
      std::vector<float> batched(static_cast<size_t>(m * rows)), alone(static_cast<size_t>(rows));
      matmul(x.data(), m, w.view(), batched.data(), &pool);
      for (int64_t i = 0; i < m; i++) {
        matmul(x.data() + i * cols, 1, w.view(), alone.data(), i % 2 ? &pool : nullptr);
        ASSERT_EQ(0, std::memcmp(alone.data(), batched.data() + i * rows, size_t(rows) * sizeof(float)))
            << dtype_name(dt) << " cols=" << cols << " row " << i;
      }
    }
  }
}
