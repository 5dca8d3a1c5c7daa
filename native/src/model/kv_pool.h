// The storage contract between the KV manager (runtime/) and the forward pass (model/).
// One pool per attention kind. A physical block holds block_size consecutive positions of one
// sequence for every layer of that kind: layout [layer_in_kind][k|v][slot][kv_head][head_dim], f32.
#pragma once
#include <cstdint>

namespace tandem {

struct KvPoolView {
  float* base = nullptr;
  int32_t num_blocks = 0, num_layers = 0, block_size = 0, num_kv_heads = 0, head_dim = 0;

  int64_t floats_per_layer_kv() const { return int64_t(block_size) * num_kv_heads * head_dim; }
  int64_t floats_per_block() const { return floats_per_layer_kv() * 2 * num_layers; }
  float* k(int32_t block, int32_t layer_in_kind) const {
    return base + block * floats_per_block() + (int64_t(layer_in_kind) * 2 + 0) * floats_per_layer_kv();
  }
  float* v(int32_t block, int32_t layer_in_kind) const {
    return base + block * floats_per_block() + (int64_t(layer_in_kind) * 2 + 1) * floats_per_layer_kv();
  }
};

}  // namespace tandem
