// Cohere2Model's weights (internal to src/model): matrices are views into the mapped
// checkpoint, LayerNorm weights f32 copies, plus the precomputed RoPE inverse frequencies.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "model/cohere2.h"
#include "ops/ops.h"

namespace tandem {

struct LayerWeights {
  std::vector<float> norm;  // input_layernorm, [H]
  ops::WeightView q, k, v, o, gate, up, down;
  std::vector<uint8_t> o_packed, down_packed;  // tensor-parallel column slices backing o / down
};

struct Cohere2Model::Weights {
  ops::WeightView embed;  // [V, H] (this rank's vocab rows when sharded); also the tied LM head
  std::vector<float> final_norm;
  std::vector<LayerWeights> layers;
  std::vector<float> inv_freq;  // [head_dim / 2]
  uint64_t bytes = 0;
  std::array<uint64_t, 4> bytes_by_dtype{};  // indexed by ops::DType
};

}  // namespace tandem
