// AVX-512 matmul tiles: R weight rows × M x rows, dot-product form over k with 16-wide FMAs and
// a masked final step (no scalar tail). Same structure as matmul_avx2.cpp.
#include "ops/cpu/kernels.h"
#include "ops/cpu/simd_avx512.h"

namespace tandem::ops::cpu::avx512 {

namespace {

template <DType DT>
TANDEM_AVX512_INLINE __m512 load_w(const void* w, int64_t i, __mmask16 mask) {
  if constexpr (DT == DType::F32) return _mm512_maskz_loadu_ps(mask, static_cast<const float*>(w) + i);
  if constexpr (DT == DType::BF16) return load_bf16(static_cast<const uint16_t*>(w) + i, mask);
  if constexpr (DT == DType::F16) return load_f16(static_cast<const uint16_t*>(w) + i, mask);
}

template <DType DT, int R, int M>
TANDEM_AVX512_INLINE void step(const float* x, int64_t ldx, const void* w, int64_t ldw, int64_t k, __mmask16 mask,
                               __m512 (&acc)[R][M]) {
  __m512 xv[M];
#pragma GCC unroll 4
  for (int i = 0; i < M; i++) xv[i] = _mm512_maskz_loadu_ps(mask, x + i * ldx + k);
#pragma GCC unroll 8
  for (int r = 0; r < R; r++) {
    const __m512 wv = load_w<DT>(w, r * ldw + k, mask);
#pragma GCC unroll 4
    for (int i = 0; i < M; i++) acc[r][i] = _mm512_fmadd_ps(wv, xv[i], acc[r][i]);
  }
}

template <DType DT, int R, int M>
TANDEM_AVX512 void tile(const float* x, int64_t ldx, const void* w, int64_t ldw, int64_t kn, float* y, int64_t ldy,
                        bool accumulate) {
  __m512 acc[R][M];
#pragma GCC unroll 8
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int i = 0; i < M; i++) acc[r][i] = _mm512_setzero_ps();
  int64_t k = 0;
  // Hot loop. M == 1 (decode): streams R weight rows, memory-bandwidth bound. M == 4, R == 4
  // (prefill): 16 FMAs per 8 loads from L1/L2, approaching the FMA (compute) bound.
#pragma GCC unroll 2
  for (; k + 16 <= kn; k += 16) step<DT, R, M>(x, ldx, w, ldw, k, __mmask16(0xFFFF), acc);
  if (k < kn) step<DT, R, M>(x, ldx, w, ldw, k, tail_mask(kn - k), acc);
#pragma GCC unroll 8
  for (int r = 0; r < R; r++) {
#pragma GCC unroll 4
    for (int i = 0; i < M; i++) {
      const float s = _mm512_reduce_add_ps(acc[r][i]);
      float& out = y[i * ldy + r];
      out = accumulate ? out + s : s;
    }
  }
}

template <DType DT, int M>
TileFn pick_r(int r) {
  switch (r) {
    case 1: return tile<DT, 1, M>;
    case 2: return tile<DT, 2, M>;
    case 3: return tile<DT, 3, M>;
    case 4: return tile<DT, 4, M>;
  }
  if constexpr (M == 1) {  // decode tiles take up to 8 weight rows
    switch (r) {
      case 5: return tile<DT, 5, 1>;
      case 6: return tile<DT, 6, 1>;
      case 7: return tile<DT, 7, 1>;
      case 8: return tile<DT, 8, 1>;
    }
  }
  return nullptr;
}

template <DType DT>
TileFn pick_dt(int r, int m) {
  switch (m) {
    case 1: return pick_r<DT, 1>(r);
    case 2: return pick_r<DT, 2>(r);
    case 3: return pick_r<DT, 3>(r);
    case 4: return pick_r<DT, 4>(r);
  }
  return nullptr;
}

}  // namespace

TileFn pick_tile(DType dtype, int r, int m) {
  switch (dtype) {
    case DType::F32: return pick_dt<DType::F32>(r, m);
    case DType::BF16: return pick_dt<DType::BF16>(r, m);
    case DType::F16: return pick_dt<DType::F16>(r, m);
  }
  return nullptr;
}

}  // namespace tandem::ops::cpu::avx512
