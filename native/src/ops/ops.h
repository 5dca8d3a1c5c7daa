// CPU op interface. Every op has a scalar reference (ops/cpu/*_ref.cpp, namespace tandem::ops::ref)
// and fast variants (AVX2, AVX-512) selected once at run time by ops/cpu/dispatch.cpp.
// The model calls only the functions in tandem::ops; tests compare every variant with ref.
#pragma once
#include <cstdint>

namespace tandem {
class ThreadPool;
}

namespace tandem::ops {

enum class DType : uint8_t { F32 = 1, BF16 = 2, F16 = 3 };

// A row-major weight matrix in its stored dtype (memory-mapped, never copied):
// rows = output features, cols = input features (PyTorch nn.Linear layout).
struct WeightView {
  const void* data = nullptr;
  DType dtype = DType::F32;
  int64_t rows = 0;
  int64_t cols = 0;
};

float bf16_to_f32(uint16_t v);
float f16_to_f32(uint16_t v);
uint16_t f32_to_bf16(float v);  // round to nearest even

// Copies row `row` of w, converted to f32, into out[0..cols).
void weight_row_to_f32(const WeightView& w, int64_t row, float* out);

// y[m][rows] = x[m][cols] · wᵀ, accumulated in f32. Threads split output rows (or m).
void matmul(const float* x, int64_t m, const WeightView& w, float* y, ThreadPool* pool);

// Mean-centred LayerNorm without bias, per row of n: y = w * (x - mean) / sqrt(var + eps).
void layernorm(const float* x, const float* weight, float* y, int64_t m, int64_t n, float eps);

// Interleaved-pair (GPT-J) RoPE on n_heads vectors of head_dim at absolute position pos:
// pair (2i, 2i+1) rotated by pos * inv_freq[i]; inv_freq has head_dim/2 entries.
void rope_interleaved(float* x, int64_t n_heads, int64_t head_dim, int64_t pos, const float* inv_freq);

// gate[i] = silu(gate[i]) * up[i]
void silu_mul(float* gate, const float* up, int64_t n);

// Vector primitives used by attention.
float dot(const float* a, const float* b, int64_t n);
void axpy(float a, const float* x, float* y, int64_t n);  // y += a * x
void scale(float* x, float a, int64_t n);
void add(float* y, const float* x, int64_t n);            // y += x
// In-place softmax of x[0..n); returns nothing. Max-subtracted, f32.
void softmax(float* x, int64_t n);

// Which variant dispatch picked ("scalar", "avx2", "avx512", "avx512bf16"), for logs and bench.
const char* active_isa();
// Force a variant (tests and benchmarks): "scalar", "avx2", "avx512", or "auto" to go back to
// the run-time choice. Returns false (and changes nothing) if the CPU lacks it or the name is
// unknown. Not meant to be called while ops are running on other threads.
bool force_isa(const char* name);

namespace ref {
// Scalar reference implementations, the ground truth for tests. Same contracts as above.
void matmul(const float* x, int64_t m, const WeightView& w, float* y);
void layernorm(const float* x, const float* weight, float* y, int64_t m, int64_t n, float eps);
void rope_interleaved(float* x, int64_t n_heads, int64_t head_dim, int64_t pos, const float* inv_freq);
void silu_mul(float* gate, const float* up, int64_t n);
float dot(const float* a, const float* b, int64_t n);
void axpy(float a, const float* x, float* y, int64_t n);
void scale(float* x, float a, int64_t n);
void add(float* y, const float* x, int64_t n);
void softmax(float* x, int64_t n);
}  // namespace ref

}  // namespace tandem::ops
