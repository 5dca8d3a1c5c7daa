// Scalar reference implementations: the ground truth every fast kernel is tested against.
// Written for clarity, not speed; accumulate in f32 (matmul in double is not used on purpose:
// the fast paths accumulate in f32 and must agree to a normalised-error tolerance).
#include <cmath>
#include <cstring>
#include <vector>

#include "ops/ops.h"

namespace tandem::ops {

float bf16_to_f32(uint16_t v) {
  uint32_t bits = uint32_t(v) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t f32_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return uint16_t((bits >> 16) | 0x40);  // quiet NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return uint16_t(bits >> 16);
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        exp--;
      }
      mant &= 0x3ffu;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

void weight_row_to_f32(const WeightView& w, int64_t row, float* out) {
  switch (w.dtype) {
    case DType::F32:
      std::memcpy(out, static_cast<const float*>(w.data) + row * w.cols, sizeof(float) * w.cols);
      return;
    case DType::BF16: {
      const uint16_t* p = static_cast<const uint16_t*>(w.data) + row * w.cols;
      for (int64_t i = 0; i < w.cols; i++) out[i] = bf16_to_f32(p[i]);
      return;
    }
    case DType::F16: {
      const uint16_t* p = static_cast<const uint16_t*>(w.data) + row * w.cols;
      for (int64_t i = 0; i < w.cols; i++) out[i] = f16_to_f32(p[i]);
      return;
    }
  }
}

namespace ref {

void matmul(const float* x, int64_t m, const WeightView& w, float* y) {
  std::vector<float> row(size_t(w.cols));
  for (int64_t r = 0; r < w.rows; r++) {
    weight_row_to_f32(w, r, row.data());
    for (int64_t i = 0; i < m; i++) {
      float acc = 0.f;
      const float* xi = x + i * w.cols;
      for (int64_t c = 0; c < w.cols; c++) acc += xi[c] * row[size_t(c)];
      y[i * w.rows + r] = acc;
    }
  }
}

void layernorm(const float* x, const float* weight, float* y, int64_t m, int64_t n, float eps) {
  for (int64_t i = 0; i < m; i++) {
    const float* xi = x + i * n;
    float* yi = y + i * n;
    float mean = 0.f;
    for (int64_t c = 0; c < n; c++) mean += xi[c];
    mean /= float(n);
    float var = 0.f;
    for (int64_t c = 0; c < n; c++) var += (xi[c] - mean) * (xi[c] - mean);
    var /= float(n);
    float inv = 1.f / std::sqrt(var + eps);
    for (int64_t c = 0; c < n; c++) yi[c] = weight[c] * ((xi[c] - mean) * inv);
  }
}

void rope_interleaved(float* x, int64_t n_heads, int64_t head_dim, int64_t pos, const float* inv_freq) {
  for (int64_t h = 0; h < n_heads; h++) {
    float* v = x + h * head_dim;
    for (int64_t i = 0; i < head_dim / 2; i++) {
      float angle = float(pos) * inv_freq[i];
      float c = std::cos(angle), s = std::sin(angle);
      float a = v[2 * i], b = v[2 * i + 1];
      v[2 * i] = a * c - b * s;
      v[2 * i + 1] = b * c + a * s;
    }
  }
}

void silu_mul(float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    float g = gate[i];
    gate[i] = g / (1.f + std::exp(-g)) * up[i];
  }
}

float dot(const float* a, const float* b, int64_t n) {
  float acc = 0.f;
  for (int64_t i = 0; i < n; i++) acc += a[i] * b[i];
  return acc;
}

void axpy(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

void scale(float* x, float a, int64_t n) {
  for (int64_t i = 0; i < n; i++) x[i] *= a;
}

void add(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] += x[i];
}

void softmax(float* x, int64_t n) {
  float mx = -INFINITY;
  for (int64_t i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
  float sum = 0.f;
  for (int64_t i = 0; i < n; i++) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  float inv = 1.f / sum;
  for (int64_t i = 0; i < n; i++) x[i] *= inv;
}

}  // namespace ref
}  // namespace tandem::ops
