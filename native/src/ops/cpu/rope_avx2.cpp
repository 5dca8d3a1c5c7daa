// AVX2 interleaved-pair RoPE. The cos/sin table is built once per call (rope_tables) and every
// head then rotates as v*cs + swap_pairs(v)*sn, 8 lanes at a time.
#include "ops/cpu/kernels.h"
#include "ops/cpu/simd_avx2.h"

namespace tandem::ops::cpu::avx2 {

TANDEM_AVX2 void rope_interleaved(float* x, int64_t n_heads, int64_t head_dim, int64_t pos, const float* inv_freq) {
  if (n_heads <= 0 || head_dim < 2) return;
  const float *cs, *sn;
  rope_tables(head_dim, pos, inv_freq, &cs, &sn);
  const int64_t pairs_end = head_dim & ~int64_t(1);  // an odd last element is left as is, like ref
  for (int64_t h = 0; h < n_heads; h++) {
    float* v = x + h * head_dim;
    int64_t c = 0;
    // Memory-bound: one load, one store and two FMAs per 8 elements (tables stay in L1).
    for (; c + 8 <= pairs_end; c += 8) {
      const __m256 a = _mm256_loadu_ps(v + c);
      const __m256 swapped = _mm256_permute_ps(a, 0xB1);  // (b0 a0 b1 a1 ...)
      _mm256_storeu_ps(v + c, _mm256_fmadd_ps(a, _mm256_loadu_ps(cs + c), _mm256_mul_ps(swapped, _mm256_loadu_ps(sn + c))));
    }
    for (; c < pairs_end; c += 2) {
      const float a = v[c], b = v[c + 1];
      v[c] = a * cs[c] + b * sn[c];
      v[c + 1] = b * cs[c + 1] + a * sn[c + 1];
    }
  }
}

}  // namespace tandem::ops::cpu::avx2
