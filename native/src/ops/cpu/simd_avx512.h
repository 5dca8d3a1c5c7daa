// AVX-512 (F + BW + VL) helpers shared by the *_avx512.cpp files; same conventions as
// simd_avx2.h. Tails use masked loads/stores (masked-off lanes are never touched), so every loop
// ends with one partial vector instead of a scalar remainder.
#pragma once
// GCC 12's AVX-512 headers build "undefined" vectors by self-initialisation (`__m512 __Y = __Y;`),
// which -Wuninitialized reports once inlined; the pattern is intentional there.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstdint>

#define TANDEM_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c")))
#define TANDEM_AVX512_INLINE static inline __attribute__((always_inline, target("avx512f,avx512bw,avx512vl,fma,f16c")))

namespace tandem::ops::cpu::avx512 {

// Lanes [0, n) set, n in 0..16.
TANDEM_AVX512_INLINE __mmask16 tail_mask(int64_t n) { return __mmask16((1u << n) - 1u); }

// 16 bf16 (the lanes in `mask`) → f32; a bf16 is the top half of an f32.
TANDEM_AVX512_INLINE __m512 load_bf16(const uint16_t* p, __mmask16 mask) {
  __m512i v = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mask, p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}

TANDEM_AVX512_INLINE __m512 load_f16(const uint16_t* p, __mmask16 mask) {
  return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, p));
}

// e^x, same reduction and polynomial as avx2::exp; below -87.3 → 0, above 88 clamped.
TANDEM_AVX512_INLINE __m512 exp(__m512 x) {
  const __m512 lo = _mm512_set1_ps(-87.3f);
  const __mmask16 ok = _mm512_cmp_ps_mask(x, lo, _CMP_GE_OQ);
  x = _mm512_min_ps(_mm512_max_ps(x, lo), _mm512_set1_ps(88.0f));
  __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.f)));
  __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
  return _mm512_maskz_mul_ps(ok, p, _mm512_castsi512_ps(e));
}

}  // namespace tandem::ops::cpu::avx512
