// AVX-512 interleaved-pair RoPE: v*cs + swap_pairs(v)*sn per head, tables from rope_tables.
#include "ops/cpu/kernels.h"
#include "ops/cpu/simd_avx512.h"

namespace tandem::ops::cpu::avx512 {

TANDEM_AVX512 void rope_interleaved(float* x, int64_t n_heads, int64_t head_dim, int64_t pos, const float* inv_freq) {
  if (n_heads <= 0 || head_dim < 2) return;
  const float *cs, *sn;
  rope_tables(head_dim, pos, inv_freq, &cs, &sn);
  const int64_t pairs_end = head_dim & ~int64_t(1);  // an odd last element is left as is, like ref
  const int64_t full = pairs_end & ~int64_t(15);
  const __mmask16 tail = tail_mask(pairs_end - full);
  for (int64_t h = 0; h < n_heads; h++) {
    float* v = x + h * head_dim;
    // Memory-bound: one load, one store and two FMAs per 16 elements (tables stay in L1).
    for (int64_t c = 0; c < full; c += 16) {
      const __m512 a = _mm512_loadu_ps(v + c);
      const __m512 swapped = _mm512_permute_ps(a, 0xB1);  // (b0 a0 b1 a1 ...)
      _mm512_storeu_ps(v + c, _mm512_fmadd_ps(a, _mm512_loadu_ps(cs + c), _mm512_mul_ps(swapped, _mm512_loadu_ps(sn + c))));
    }
    if (tail) {
      const __m512 a = _mm512_maskz_loadu_ps(tail, v + full);
      const __m512 swapped = _mm512_permute_ps(a, 0xB1);
      const __m512 out = _mm512_fmadd_ps(a, _mm512_maskz_loadu_ps(tail, cs + full),
                                         _mm512_mul_ps(swapped, _mm512_maskz_loadu_ps(tail, sn + full)));
      _mm512_mask_storeu_ps(v + full, tail, out);
    }
  }
}

}  // namespace tandem::ops::cpu::avx512
