// AVX2 mean-centred LayerNorm without bias (Cohere2): two passes for mean and variance, as ref
// does, so the result does not suffer from E[x²] - E[x]² cancellation.
#include <cmath>

#include "ops/cpu/kernels.h"
#include "ops/cpu/simd_avx2.h"

namespace tandem::ops::cpu::avx2 {

TANDEM_AVX2 void layernorm(const float* x, const float* weight, float* y, int64_t m, int64_t n, float eps) {
  for (int64_t r = 0; r < m; r++) {
    const float* xi = x + r * n;
    float* yi = y + r * n;
    // Three streaming passes over one row (L1/L2-resident): memory/load-bound.
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    int64_t c = 0;
    for (; c + 16 <= n; c += 16) {
      s0 = _mm256_add_ps(s0, _mm256_loadu_ps(xi + c));
      s1 = _mm256_add_ps(s1, _mm256_loadu_ps(xi + c + 8));
    }
    for (; c + 8 <= n; c += 8) s0 = _mm256_add_ps(s0, _mm256_loadu_ps(xi + c));
    float sum = hsum(_mm256_add_ps(s0, s1));
    for (; c < n; c++) sum += xi[c];
    const float mean = sum / float(n);

    const __m256 mv = _mm256_set1_ps(mean);
    s0 = _mm256_setzero_ps(), s1 = s0;
    for (c = 0; c + 16 <= n; c += 16) {
      const __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(xi + c), mv);
      const __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(xi + c + 8), mv);
      s0 = _mm256_fmadd_ps(d0, d0, s0);
      s1 = _mm256_fmadd_ps(d1, d1, s1);
    }
    for (; c + 8 <= n; c += 8) {
      const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(xi + c), mv);
      s0 = _mm256_fmadd_ps(d, d, s0);
    }
    float var = hsum(_mm256_add_ps(s0, s1));
    for (; c < n; c++) var += (xi[c] - mean) * (xi[c] - mean);
    var /= float(n);
    const float inv = 1.f / std::sqrt(var + eps);

    const __m256 iv = _mm256_set1_ps(inv);
    for (c = 0; c + 8 <= n; c += 8) {
      const __m256 d = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(xi + c), mv), iv);
      _mm256_storeu_ps(yi + c, _mm256_mul_ps(_mm256_loadu_ps(weight + c), d));
    }
    for (; c < n; c++) yi[c] = weight[c] * ((xi[c] - mean) * inv);
  }
}

}  // namespace tandem::ops::cpu::avx2
