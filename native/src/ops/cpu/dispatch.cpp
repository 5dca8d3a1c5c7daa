// Run-time selection of the CPU kernel variant: the best one the CPU supports, picked once
// (AVX-512 F/BW/VL > AVX2+FMA+F16C > scalar), unless TANDEM_ISA or force_isa() names one.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "ops/cpu/kernels.h"
#include "ops/ops.h"
#include "util/status.h"
#include "util/thread_pool.h"

namespace tandem::ops {

namespace cpu {

const Kernels kScalarKernels = {
    "scalar",          {scalar::pick_tile, 3, 4, 4}, ref::layernorm, ref::rope_interleaved, ref::silu_mul, ref::dot,
    ref::axpy,         ref::scale,                   ref::add,       ref::softmax,
};

const Kernels kAvx2Kernels = {
    "avx2",     {avx2::pick_tile, 3, 4, 8}, avx2::layernorm, avx2::rope_interleaved, avx2::silu_mul, avx2::dot,
    avx2::axpy, avx2::scale,                avx2::add,       avx2::softmax,
};

const Kernels kAvx512Kernels = {
    "avx512",     {avx512::pick_tile, 4, 4, 8}, avx512::layernorm, avx512::rope_interleaved, avx512::silu_mul, avx512::dot,
    avx512::axpy, avx512::scale,                avx512::add,       avx512::softmax,
};

}  // namespace cpu

namespace {

bool cpu_has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}

bool cpu_has_avx512() {
  __builtin_cpu_init();
  return cpu_has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl");
}

const cpu::Kernels* by_name(const char* name) {
  if (std::strcmp(name, "scalar") == 0) return &cpu::kScalarKernels;
  if (std::strcmp(name, "avx2") == 0 && cpu_has_avx2()) return &cpu::kAvx2Kernels;
  if (std::strcmp(name, "avx512") == 0 && cpu_has_avx512()) return &cpu::kAvx512Kernels;
  return nullptr;
}

// TANDEM_ISA (scalar|avx2|avx512) overrides the automatic choice: a way to take a suspect
// variant out of service on one machine without a rebuild. A value this CPU cannot run is an
// error, not a silent fallback.
const cpu::Kernels* best_kernels() {
  if (const char* env = std::getenv("TANDEM_ISA"); env && *env) {
    if (const cpu::Kernels* k = by_name(env)) return k;
    throw Error(TANDEM_STATUS_INVALID_ARGUMENT, std::string("TANDEM_ISA=") + env +
                                                    ": expected scalar, avx2 or avx512, and one this CPU supports");
  }
  if (cpu_has_avx512()) return &cpu::kAvx512Kernels;
  if (cpu_has_avx2()) return &cpu::kAvx2Kernels;
  return &cpu::kScalarKernels;
}

std::atomic<const cpu::Kernels*> g_kernels{nullptr};

const cpu::Kernels& kernels() {
  const cpu::Kernels* k = g_kernels.load(std::memory_order_acquire);
  if (!k) {
    k = best_kernels();
    g_kernels.store(k, std::memory_order_release);
  }
  return *k;
}

}  // namespace

void matmul(const float* x, int64_t m, const WeightView& w, float* y, ThreadPool* pool) {
  cpu::matmul_blocked(kernels(), x, m, w, y, pool);
}
void layernorm(const float* x, const float* weight, float* y, int64_t m, int64_t n, float eps) {
  kernels().layernorm(x, weight, y, m, n, eps);
}
void rope_interleaved(float* x, int64_t n_heads, int64_t head_dim, int64_t pos, const float* inv_freq) {
  kernels().rope_interleaved(x, n_heads, head_dim, pos, inv_freq);
}
void silu_mul(float* gate, const float* up, int64_t n) { kernels().silu_mul(gate, up, n); }
float dot(const float* a, const float* b, int64_t n) { return kernels().dot(a, b, n); }
void axpy(float a, const float* x, float* y, int64_t n) { kernels().axpy(a, x, y, n); }
void scale(float* x, float a, int64_t n) { kernels().scale(x, a, n); }
void add(float* y, const float* x, int64_t n) { kernels().add(y, x, n); }
void softmax(float* x, int64_t n) { kernels().softmax(x, n); }

const char* active_isa() { return kernels().name; }

bool force_isa(const char* name) {
  if (!name) return false;
  const cpu::Kernels* k = nullptr;
  if (std::strcmp(name, "auto") == 0) {
    try {
      k = best_kernels();
    } catch (const Error&) {
      return false;  // a bad TANDEM_ISA: the next op reports it
    }
  } else {
    k = by_name(name);
  }
  if (!k) return false;
  g_kernels.store(k, std::memory_order_release);
  return true;
}

}  // namespace tandem::ops
