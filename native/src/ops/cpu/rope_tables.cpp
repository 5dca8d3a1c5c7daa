// Per-position RoPE tables for the SIMD variants (see kernels.h). The angle and the libm cos/sin
// calls match ref::rope_interleaved exactly, so variants differ from ref only by FMA rounding.
#include <cmath>
#include <vector>

#include "ops/cpu/kernels.h"

namespace tandem::ops::cpu {

void rope_tables(int64_t head_dim, int64_t pos, const float* inv_freq, const float** cs, const float** sn) {
  thread_local std::vector<float> cos_tab, sin_tab;
  if (cos_tab.size() < size_t(head_dim)) {
    cos_tab.resize(size_t(head_dim));
    sin_tab.resize(size_t(head_dim));
  }
  for (int64_t i = 0; i < head_dim / 2; i++) {
    const float angle = float(pos) * inv_freq[i];
    const float c = std::cos(angle), s = std::sin(angle);
    cos_tab[size_t(2 * i)] = c;
    cos_tab[size_t(2 * i + 1)] = c;
    sin_tab[size_t(2 * i)] = -s;
    sin_tab[size_t(2 * i + 1)] = s;
  }
  *cs = cos_tab.data();
  *sn = sin_tab.data();
}

}  // namespace tandem::ops::cpu
