// AVX-512 SiLU-gated product for the MLP: gate = silu(gate) * up (masked tail).
#include "ops/cpu/kernels.h"
#include "ops/cpu/simd_avx512.h"

namespace tandem::ops::cpu::avx512 {

namespace {

TANDEM_AVX512_INLINE __m512 silu_times(__m512 g, __m512 u) {
  const __m512 e = exp(_mm512_sub_ps(_mm512_setzero_ps(), g));
  return _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.f), e)), u);
}

}  // namespace

TANDEM_AVX512 void silu_mul(float* gate, const float* up, int64_t n) {
  int64_t i = 0;
  // ~20 vector ops per 16 elements: compute-bound (exp + divide) for cache-resident rows.
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(gate + i, silu_times(_mm512_loadu_ps(gate + i), _mm512_loadu_ps(up + i)));
  if (i < n) {
    const __mmask16 mk = tail_mask(n - i);
    _mm512_mask_storeu_ps(gate + i, mk, silu_times(_mm512_maskz_loadu_ps(mk, gate + i), _mm512_maskz_loadu_ps(mk, up + i)));
  }
}

}  // namespace tandem::ops::cpu::avx512
