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

namespace dist {
class Communicator;
}

// This rank's part of a tensor-parallel group (Megatron split, reference §5). world == 1: the
// whole model. Heads, KV heads and the intermediate size must divide evenly; when world exceeds
// the KV-head count and is a multiple of it, each KV head is replicated (vLLM's rule). The
// vocabulary is split into ceil(V / world)-row ranges (the last one shorter).
struct TpShard {
  int rank = 0, world = 1;
};

// The per-rank sizes a shard computes with.
struct TpDims {
  int64_t num_heads = 0, num_kv_heads = 0, intermediate = 0;
  int64_t head_lo = 0, kv_head_lo = 0, inter_lo = 0;  // first global head / KV head / feature
  int64_t vocab_lo = 0, vocab_hi = 0, vocab_per_rank = 0;
};

// Throws Error(INVALID_ARGUMENT) naming the size that does not divide.
TpDims tp_dims(const ModelConfig& c, const TpShard& shard);

// Where a tensor-parallel forward leaves the logits.
enum class LogitsOut {
  Gathered,    // the whole rows on rank 0 (other ranks append nothing)
  LocalSlice,  // every rank appends its vocabulary slice: rows x (vocab_hi - vocab_lo)
};

class Cohere2Model {
 public:
  // Loads config and weights (memory-mapped, validated: every expected tensor present with its
  // shape and a supported dtype; an unexpected tensor other than lm_head.weight is an error).
  // With a shard of world > 1, only this rank's slices are read (o/down column slices are packed
  // into owned memory once and the mapped pages dropped, so resident weights are about 1/world).
  static std::unique_ptr<Cohere2Model> load(const std::string& model_dir,
                                            void (*progress)(void*, float, const char*) = nullptr,
                                            void* progress_user = nullptr, TpShard shard = {});
  ~Cohere2Model();

  const TpShard& shard() const { return shard_; }
  const TpDims& dims() const { return dims_; }
  // Required before forward when world > 1; not owned.
  void set_communicator(dist::Communicator* comm) { comm_ = comm; }
  // Identity of config + tensor names, shapes and dtypes; ranks of a group must agree.
  uint64_t fingerprint() const { return fingerprint_; }

  const ModelConfig& config() const { return config_; }
  ops::DType weight_dtype() const;
  uint64_t weight_bytes() const;

  // Runs the batch; appends logits (already times logit_scale) to `logits`, row-major, vocab
  // floats per row: per chunk n rows if all_logits else 1, in chunk order. Writes the chunks'
  // K/V into the pools. Tensor-parallel: every rank calls it with the same batch; pools hold this
  // rank's KV heads; logits go where `out` says (the same whole rows without tensor parallelism).
  void forward(std::span<const SeqChunk> batch, const KvPoolView& sliding, const KvPoolView& full,
               ThreadPool* pool, std::vector<float>& logits, LogitsOut out = LogitsOut::Gathered);

 private:
  Cohere2Model() = default;
  struct Weights;
  ModelConfig config_;
  TpShard shard_;
  TpDims dims_;
  dist::Communicator* comm_ = nullptr;
  uint64_t fingerprint_ = 0;
  std::unique_ptr<SafetensorsCheckpoint> checkpoint_;
  std::unique_ptr<Weights> weights_;
};

}  // namespace tandem
