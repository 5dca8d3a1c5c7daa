// AVX2 matmul tiles: R weight rows × M x rows, dot-product form over k with 8-wide FMAs.
// Weights are converted bf16/f16 → f32 in registers as they stream in; each converted vector is
// used M times, each x vector R times.
#include "ops/cpu/kernels.h"
#include "ops/cpu/simd_avx2.h"

namespace tandem::ops::cpu::avx2 {

namespace {

template <DType DT>
TANDEM_AVX2_INLINE __m256 load_w(const void* w, int64_t i) {
  if constexpr (DT == DType::F32) return _mm256_loadu_ps(static_cast<const float*>(w) + i);
  if constexpr (DT == DType::BF16) return load_bf16(static_cast<const uint16_t*>(w) + i);
  if constexpr (DT == DType::F16) return load_f16(static_cast<const uint16_t*>(w) + i);
}

template <DType DT>
inline float load_w1(const void* w, int64_t i) {
  if constexpr (DT == DType::F32) return static_cast<const float*>(w)[i];
  if constexpr (DT == DType::BF16) return bf16_to_f32(static_cast<const uint16_t*>(w)[i]);
  if constexpr (DT == DType::F16) return f16_to_f32(static_cast<const uint16_t*>(w)[i]);
}

template <DType DT, int R, int M>
TANDEM_AVX2 void tile(const float* x, int64_t ldx, const void* w, int64_t ldw, int64_t kn, float* y, int64_t ldy,
                      bool accumulate) {
  __m256 acc[R][M];
#pragma GCC unroll 8
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int i = 0; i < M; i++) acc[r][i] = _mm256_setzero_ps();
  int64_t k = 0;
  // Hot loop. M == 1 (decode): R weight streams, 2 bytes (bf16/f16) per FMA, so it runs at memory
  // bandwidth. M == 3, R == 4 (prefill): 12 FMAs per 4 weight + 3 x loads, from L1/L2, so it
  // approaches the FMA (compute) bound; the remaining gap is the bf16/f16 conversion uops.
#pragma GCC unroll 2  // two k steps per iteration: ~6% more m=64 throughput on Zen 3
  for (; k + 8 <= kn; k += 8) {
    __m256 xv[M];
#pragma GCC unroll 4
    for (int i = 0; i < M; i++) xv[i] = _mm256_loadu_ps(x + i * ldx + k);
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
      const __m256 wv = load_w<DT>(w, r * ldw + k);
#pragma GCC unroll 4
      for (int i = 0; i < M; i++) acc[r][i] = _mm256_fmadd_ps(wv, xv[i], acc[r][i]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; r++) {
#pragma GCC unroll 4
    for (int i = 0; i < M; i++) {
      float s = hsum(acc[r][i]);
      for (int64_t kk = k; kk < kn; kk++) s += load_w1<DT>(w, r * ldw + kk) * x[i * ldx + kk];
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

}  // namespace tandem::ops::cpu::avx2
