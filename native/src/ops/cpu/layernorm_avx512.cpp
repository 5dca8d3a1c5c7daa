// AVX-512 mean-centred LayerNorm without bias: two passes for mean and variance, as ref does.
#include <cmath>

#include "ops/cpu/kernels.h"
#include "ops/cpu/simd_avx512.h"

namespace tandem::ops::cpu::avx512 {

TANDEM_AVX512 void layernorm(const float* x, const float* weight, float* y, int64_t m, int64_t n, float eps) {
  const int64_t full = n & ~int64_t(15);
  const __mmask16 tail = tail_mask(n - full);
  for (int64_t r = 0; r < m; r++) {
    const float* xi = x + r * n;
    float* yi = y + r * n;
    // Three streaming passes over one row (L1/L2-resident): memory/load-bound.
    __m512 s = _mm512_setzero_ps();
    for (int64_t c = 0; c < full; c += 16) s = _mm512_add_ps(s, _mm512_loadu_ps(xi + c));
    if (tail) s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(tail, xi + full));
    const float mean = _mm512_reduce_add_ps(s) / float(n);

    const __m512 mv = _mm512_set1_ps(mean);
    s = _mm512_setzero_ps();
    for (int64_t c = 0; c < full; c += 16) {
      const __m512 d = _mm512_sub_ps(_mm512_loadu_ps(xi + c), mv);
      s = _mm512_fmadd_ps(d, d, s);
    }
    if (tail) {
      const __m512 d = _mm512_maskz_sub_ps(tail, _mm512_maskz_loadu_ps(tail, xi + full), mv);
      s = _mm512_fmadd_ps(d, d, s);
    }
    const float var = _mm512_reduce_add_ps(s) / float(n);
    const __m512 iv = _mm512_set1_ps(1.f / std::sqrt(var + eps));

    for (int64_t c = 0; c < full; c += 16) {
      const __m512 d = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(xi + c), mv), iv);
      _mm512_storeu_ps(yi + c, _mm512_mul_ps(_mm512_loadu_ps(weight + c), d));
    }
    if (tail) {
      const __m512 d = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, xi + full), mv), iv);
      _mm512_mask_storeu_ps(yi + full, tail, _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, weight + full), d));
    }
  }
}

}  // namespace tandem::ops::cpu::avx512
