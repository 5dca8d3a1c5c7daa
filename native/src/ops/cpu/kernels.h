// Internal to ops/cpu: one function table per instruction-set variant (scalar, AVX2, AVX-512),
// chosen once by dispatch.cpp. Each variant file compiles as baseline x86-64 and enables its ISA
// per function with a target attribute, so nothing here runs before the CPU check has passed.
#pragma once
#include <cstdint>

#include "ops/ops.h"

namespace tandem::ops::cpu {

// Computes a tile of R weight rows × M x rows over kn input features:
//   y[i*ldy + r] (=|+=) sum_k x[i*ldx + k] * w[r*ldw + k],  r < R, i < M.
// w points at the tile's first element in the weight's stored dtype; ldw counts elements.
// `accumulate` adds to y (the second and later k blocks) instead of overwriting it.
// Contract: each output's summation order must not depend on R or M (per lane, increasing k;
// lanes reduced in a fixed order), so a row's result is bit-identical whatever batch size or
// thread split produced it. Batch invariance of generated tokens rests on this; a faster tile
// for large m (e.g. outer-product form over packed weights) would break it.
using TileFn = void (*)(const float* x, int64_t ldx, const void* w, int64_t ldw, int64_t kn, float* y,
                        int64_t ldy, bool accumulate);

struct MatmulTiles {
  // The tile kernel for `r` weight rows and `m` x rows; r in 1..(m == 1 ? max_r_single : max_r),
  // m in 1..max_m.
  TileFn (*pick)(DType dtype, int r, int m);
  int max_m;         // x rows per tile (prefill reuse of each converted weight vector)
  int max_r;         // weight rows per tile when m > 1
  int max_r_single;  // weight rows per tile when m == 1 (decode: more independent streams)
};

struct Kernels {
  const char* name;
  MatmulTiles matmul;
  void (*layernorm)(const float* x, const float* weight, float* y, int64_t m, int64_t n, float eps);
  void (*rope_interleaved)(float* x, int64_t n_heads, int64_t head_dim, int64_t pos, const float* inv_freq);
  void (*silu_mul)(float* gate, const float* up, int64_t n);
  float (*dot)(const float* a, const float* b, int64_t n);
  void (*axpy)(float a, const float* x, float* y, int64_t n);
  void (*scale)(float* x, float a, int64_t n);
  void (*add)(float* y, const float* x, int64_t n);
  void (*softmax)(float* x, int64_t n);
};

extern const Kernels kScalarKernels;
extern const Kernels kAvx2Kernels;
extern const Kernels kAvx512Kernels;

// The blocked, threaded matmul driver shared by every variant (matmul_driver.cpp).
void matmul_blocked(const Kernels& k, const float* x, int64_t m, const WeightView& w, float* y, ThreadPool* pool);

// Per-variant entry points, defined in the variant's files and gathered into its table.
namespace scalar {
TileFn pick_tile(DType dtype, int r, int m);
}
namespace avx2 {
TileFn pick_tile(DType dtype, int r, int m);
void layernorm(const float* x, const float* weight, float* y, int64_t m, int64_t n, float eps);
void rope_interleaved(float* x, int64_t n_heads, int64_t head_dim, int64_t pos, const float* inv_freq);
void silu_mul(float* gate, const float* up, int64_t n);
float dot(const float* a, const float* b, int64_t n);
void axpy(float a, const float* x, float* y, int64_t n);
void scale(float* x, float a, int64_t n);
void add(float* y, const float* x, int64_t n);
void softmax(float* x, int64_t n);
}  // namespace avx2
namespace avx512 {
TileFn pick_tile(DType dtype, int r, int m);
void layernorm(const float* x, const float* weight, float* y, int64_t m, int64_t n, float eps);
void rope_interleaved(float* x, int64_t n_heads, int64_t head_dim, int64_t pos, const float* inv_freq);
void silu_mul(float* gate, const float* up, int64_t n);
float dot(const float* a, const float* b, int64_t n);
void axpy(float a, const float* x, float* y, int64_t n);
void scale(float* x, float a, int64_t n);
void add(float* y, const float* x, int64_t n);
void softmax(float* x, int64_t n);
}  // namespace avx512

// Rope tables shared by the SIMD variants: for one position, cs[2i] = cs[2i+1] = cos(pos*f_i) and
// sn[2i] = -sin, sn[2i+1] = +sin, so a head rotates as v*cs + swap_pairs(v)*sn. Computed with the
// same libm calls as ref so the angles agree exactly. Returns thread-local storage of head_dim
// floats each (valid until the next call on this thread).
void rope_tables(int64_t head_dim, int64_t pos, const float* inv_freq, const float** cs, const float** sn);

}  // namespace tandem::ops::cpu
