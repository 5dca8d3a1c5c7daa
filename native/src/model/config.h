// Cohere2 config.json, parsed with checked parsing: every missing or wrongly typed field is an
// Error(TANDEM_STATUS_MODEL_FORMAT) naming the file and the field.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace tandem {

enum class AttnKind : uint8_t { Sliding, Full };

struct ModelConfig {
  int64_t vocab_size = 0, hidden_size = 0, num_layers = 0, num_heads = 0, num_kv_heads = 0;
  int64_t head_dim = 0;  // always hidden_size / num_heads (transformers ignores config head_dim)
  int64_t intermediate_size = 0, sliding_window = 0, max_position_embeddings = 0;
  float rope_theta = 10000.f, logit_scale = 0.0625f, layer_norm_eps = 1e-5f;
  int32_t bos_token_id = -1, eos_token_id = -1, pad_token_id = -1;  // -1: none (null in config)
  std::vector<int32_t> eos_token_ids;  // every eos id when config lists several; [0] == eos_token_id
  std::vector<AttnKind> layer_types;  // one per layer, from layer_types or sliding_window_pattern
  // index of layer i within its kind (its slot in that kind's KV pool)
  std::vector<int32_t> layer_index_in_kind;
  int64_t num_sliding_layers = 0, num_full_layers = 0;
};

// Parses <dir>/config.json.
ModelConfig load_model_config(const std::string& model_dir);
// Parses config JSON text; `source` names it in errors.
ModelConfig parse_model_config(const std::string& json_text, const std::string& source);

}  // namespace tandem
