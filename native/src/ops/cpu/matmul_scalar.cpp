// Scalar (baseline x86-64) matmul tiles: the "scalar" variant's inner kernel, threaded and
// blocked by matmul_driver.cpp like the SIMD ones so variants compare at equal thread counts.
#include <cstring>

#include "ops/cpu/kernels.h"

namespace tandem::ops::cpu::scalar {

namespace {

template <DType DT>
inline float load_w(const void* w, int64_t i) {
  if constexpr (DT == DType::F32) return static_cast<const float*>(w)[i];
  if constexpr (DT == DType::BF16) {  // inline (not ops::bf16_to_f32) so the hot loop has no call
    const uint32_t bits = uint32_t(static_cast<const uint16_t*>(w)[i]) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
  if constexpr (DT == DType::F16) return f16_to_f32(static_cast<const uint16_t*>(w)[i]);
}

template <DType DT, int R, int M>
void tile(const float* x, int64_t ldx, const void* w, int64_t ldw, int64_t kn, float* y, int64_t ldy, bool accumulate) {
  float acc[R][M] = {};
  // Compute-bound on scalar FMA latency: R*M independent sums per converted weight element.
  for (int64_t k = 0; k < kn; k++) {
    float wv[R];
    for (int r = 0; r < R; r++) wv[r] = load_w<DT>(w, r * ldw + k);
    for (int i = 0; i < M; i++) {
      const float xv = x[i * ldx + k];
      for (int r = 0; r < R; r++) acc[r][i] += wv[r] * xv;
    }
  }
  for (int i = 0; i < M; i++)
    for (int r = 0; r < R; r++) y[i * ldy + r] = accumulate ? y[i * ldy + r] + acc[r][i] : acc[r][i];
}

template <DType DT>
TileFn pick_dt(int r, int m) {
#define TANDEM_TILE_ROW(M) \
  case M: {                \
    switch (r) {           \
      case 1:              \
        return tile<DT, 1, M>; \
      case 2:              \
        return tile<DT, 2, M>; \
      case 3:              \
        return tile<DT, 3, M>; \
      case 4:              \
        return tile<DT, 4, M>; \
    }                      \
    break;                 \
  }
  switch (m) {
    TANDEM_TILE_ROW(1)
    TANDEM_TILE_ROW(2)
    TANDEM_TILE_ROW(3)
  }
#undef TANDEM_TILE_ROW
  return nullptr;
}

}  // namespace

TileFn pick_tile(DType dtype, int r, int m) {
  switch (dtype) {
    case DType::F32:
      return pick_dt<DType::F32>(r, m);
    case DType::BF16:
      return pick_dt<DType::BF16>(r, m);
    case DType::F16:
      return pick_dt<DType::F16>(r, m);
  }
  return nullptr;
}

}  // namespace tandem::ops::cpu::scalar
