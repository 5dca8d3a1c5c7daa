// AVX2 SiLU-gated product for the MLP: gate = silu(gate) * up, with the vectorised exp.
#include <cmath>

#include "ops/cpu/kernels.h"
#include "ops/cpu/simd_avx2.h"

namespace tandem::ops::cpu::avx2 {

TANDEM_AVX2 void silu_mul(float* gate, const float* up, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.f);
  const __m256 sign = _mm256_set1_ps(-0.f);
  int64_t i = 0;
  // ~20 vector ops per 8 elements: compute-bound (exp + divide) for cache-resident rows.
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 e = exp(_mm256_xor_ps(g, sign));
    const __m256 s = _mm256_div_ps(g, _mm256_add_ps(one, e));
    _mm256_storeu_ps(gate + i, _mm256_mul_ps(s, _mm256_loadu_ps(up + i)));
  }
  for (; i < n; i++) {
    const float g = gate[i];
    gate[i] = g / (1.f + std::exp(-g)) * up[i];
  }
}

}  // namespace tandem::ops::cpu::avx2
