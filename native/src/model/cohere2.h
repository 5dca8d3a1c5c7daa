// Cohere2ForCausalLM forward pass over a batch of sequence chunks with a paged KV cache
// (shared/reference/cohere2-architecture.md): parallel block, GQA, interleaved RoPE on sliding
// layers only, NoPE full layers, sliding mask 0 <= i-j <= W-1, tied head times logit_scale.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/kv_pool.h"
#include "model/safetensors.h"

namespace tandem {

class ThreadPool;

// One sequence's work in a step: tokens at absolute positions start_pos .. start_pos+n-1.
// Positions < start_pos are already in the cache. Block tables map logical block b (positions
// [b*B, (b+1)*B)) to a physical block in the pool.
struct SeqChunk {
  std::span<const int32_t> tokens;
  int64_t start_pos = 0;
  std::span<const int32_t> full_blocks;     // logical blocks 0.. ; covers [0, start_pos + n)
  std::span<const int32_t> sliding_blocks;  // logical blocks sliding_first ..
  int64_t sliding_first = 0;                // must be <= max(0, start_pos - W + 1) / B
  bool all_logits = false;                  // logits for every token; else only the last
};

class Cohere2Model {
 public:
  // Loads config and weights (memory-mapped, validated: every expected tensor present with its
  // shape and a supported dtype; an unexpected tensor other than lm_head.weight is an error).
  static std::unique_ptr<Cohere2Model> load(const std::string& model_dir,
                                            void (*progress)(void*, float, const char*) = nullptr,
                                            void* progress_user = nullptr);
  ~Cohere2Model();

  const ModelConfig& config() const { return config_; }
  ops::DType weight_dtype() const;
  uint64_t weight_bytes() const;

  // Runs the batch; appends logits (already times logit_scale) to `logits`, row-major, vocab
  // floats per row: per chunk n rows if all_logits else 1, in chunk order. Writes the chunks'
  // K/V into the pools.
  void forward(std::span<const SeqChunk> batch, const KvPoolView& sliding, const KvPoolView& full,
               ThreadPool* pool, std::vector<float>& logits);

 private:
  Cohere2Model() = default;
  struct Weights;
  ModelConfig config_;
  std::unique_ptr<SafetensorsCheckpoint> checkpoint_;
  std::unique_ptr<Weights> weights_;
};

}  // namespace tandem
