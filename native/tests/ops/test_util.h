// Helpers shared by the ops tests: seeded random data, the normalised error used to compare a
// fast variant with ops::ref, and an RAII guard that forces a kernel variant for one test.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "ops/ops.h"

namespace tandem::ops::testing {

inline std::vector<float> random_floats(size_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// max|a-b| / max(1, max|ref|): absolute error for small outputs, relative for large ones.
inline double normalised_error(const std::vector<float>& got, const std::vector<float>& ref) {
  EXPECT_EQ(got.size(), ref.size());
  double max_diff = 0, max_ref = 1;
  for (size_t i = 0; i < ref.size() && i < got.size(); i++) {
    double d = std::fabs(double(got[i]) - double(ref[i]));
    if (std::isnan(got[i]) != std::isnan(ref[i])) d = INFINITY;
    if (!std::isnan(d)) max_diff = std::max(max_diff, d);
    if (std::isfinite(ref[i])) max_ref = std::max(max_ref, double(std::fabs(ref[i])));
  }
  return max_diff / max_ref;
}

// Forces a kernel variant for the current scope and restores the automatic choice after.
class IsaScope {
 public:
  explicit IsaScope(const std::string& name) : ok_(force_isa(name.c_str())) {}
  ~IsaScope() { force_isa("auto"); }
  bool ok() const { return ok_; }

 private:
  bool ok_;
};

inline const char* const kIsas[] = {"scalar", "avx2", "avx512"};

}  // namespace tandem::ops::testing

// Skips the test with a message when this CPU cannot run the variant.
#define TANDEM_REQUIRE_ISA(scope, name)                                                    \
  do {                                                                                     \
    if (!(scope).ok()) GTEST_SKIP() << "this CPU does not support the " << (name) << " kernels"; \
  } while (0)
