// Run-time selection of the CPU kernel variant. For now every op uses the scalar reference;
// the AVX2 / AVX-512 variants plug in here.
#include <cstring>

#include "ops/ops.h"
#include "util/thread_pool.h"

namespace tandem::ops {

void matmul(const float* x, int64_t m, const WeightView& w, float* y, ThreadPool* pool) { ref::matmul(x, m, w, y); }
void layernorm(const float* x, const float* weight, float* y, int64_t m, int64_t n, float eps) {
  ref::layernorm(x, weight, y, m, n, eps);
}
void rope_interleaved(float* x, int64_t n_heads, int64_t head_dim, int64_t pos, const float* inv_freq) {
  ref::rope_interleaved(x, n_heads, head_dim, pos, inv_freq);
}
void silu_mul(float* gate, const float* up, int64_t n) { ref::silu_mul(gate, up, n); }
float dot(const float* a, const float* b, int64_t n) { return ref::dot(a, b, n); }
void axpy(float a, const float* x, float* y, int64_t n) { ref::axpy(a, x, y, n); }
void scale(float* x, float a, int64_t n) { ref::scale(x, a, n); }
void add(float* y, const float* x, int64_t n) { ref::add(y, x, n); }
void softmax(float* x, int64_t n) { ref::softmax(x, n); }
const char* active_isa() { return "scalar"; }
bool force_isa(const char* name) { return std::strcmp(name, "scalar") == 0; }

}  // namespace tandem::ops
