// AVX-512 vector primitives for attention: dot, axpy, scale, add, softmax (masked tails).
#include <cmath>

#include "ops/cpu/kernels.h"
#include "ops/cpu/simd_avx512.h"

namespace tandem::ops::cpu::avx512 {

TANDEM_AVX512 float dot(const float* a, const float* b, int64_t n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  int64_t i = 0;
  // Hot loop: 2 loads per FMA, bound by L1/L2 load bandwidth.
  for (; i + 64 <= n; i += 64) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
    s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
  }
  for (; i + 16 <= n; i += 16) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
  if (i < n) {
    const __mmask16 mk = tail_mask(n - i);
    s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, a + i), _mm512_maskz_loadu_ps(mk, b + i), s1);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

TANDEM_AVX512 void axpy(float a, const float* x, float* y, int64_t n) {
  const __m512 av = _mm512_set1_ps(a);
  int64_t i = 0;
  // Memory-bound: 2 loads + 1 store per FMA.
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_fmadd_ps(av, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
  if (i < n) {
    const __mmask16 mk = tail_mask(n - i);
    _mm512_mask_storeu_ps(y + i, mk, _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(mk, x + i), _mm512_maskz_loadu_ps(mk, y + i)));
  }
}

TANDEM_AVX512 void scale(float* x, float a, int64_t n) {
  const __m512 av = _mm512_set1_ps(a);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, _mm512_mul_ps(av, _mm512_loadu_ps(x + i)));  // memory-bound
  if (i < n) {
    const __mmask16 mk = tail_mask(n - i);
    _mm512_mask_storeu_ps(x + i, mk, _mm512_mul_ps(av, _mm512_maskz_loadu_ps(mk, x + i)));
  }
}

TANDEM_AVX512 void add(float* y, const float* x, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_add_ps(_mm512_loadu_ps(y + i), _mm512_loadu_ps(x + i)));  // memory-bound
  if (i < n) {
    const __mmask16 mk = tail_mask(n - i);
    _mm512_mask_storeu_ps(y + i, mk, _mm512_add_ps(_mm512_maskz_loadu_ps(mk, y + i), _mm512_maskz_loadu_ps(mk, x + i)));
  }
}

TANDEM_AVX512 void softmax(float* x, int64_t n) {
  if (n <= 0) return;
  const __m512 neg_inf = _mm512_set1_ps(-INFINITY);
  __m512 mv = neg_inf;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) mv = _mm512_max_ps(mv, _mm512_loadu_ps(x + i));
  const __mmask16 tail = tail_mask(n - i);
  const int64_t tail_at = i;
  if (tail) mv = _mm512_max_ps(mv, _mm512_mask_loadu_ps(neg_inf, tail, x + i));
  const float mx = _mm512_reduce_max_ps(mv);

  // exp pass: ~15 FMA-class ops per 16 elements, compute-bound for L1-resident rows.
  const __m512 mxv = _mm512_set1_ps(mx);
  __m512 sv = _mm512_setzero_ps();
  for (i = 0; i + 16 <= n; i += 16) {
    const __m512 e = exp(_mm512_sub_ps(_mm512_loadu_ps(x + i), mxv));
    _mm512_storeu_ps(x + i, e);
    sv = _mm512_add_ps(sv, e);
  }
  if (tail) {
    const __m512 e = exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, x + tail_at), mxv));
    _mm512_mask_storeu_ps(x + tail_at, tail, e);
    sv = _mm512_mask_add_ps(sv, tail, sv, e);
  }
  scale(x, 1.f / _mm512_reduce_add_ps(sv), n);
}

}  // namespace tandem::ops::cpu::avx512
