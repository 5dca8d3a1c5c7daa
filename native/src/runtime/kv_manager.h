// Paged KV bookkeeping for the two attention kinds (sliding-window and full layers).
// Pure bookkeeping over block ids: the float storage lives in the engine and is described to the
// model by KvPoolView (model/kv_pool.h). No threads; the step thread is the only user.
//
// Sizing rule (plan_kv_pools): a sequence of max_seq_len positions computed in chunks of at most
// `max_chunk` tokens needs at most
//   full:    ceil(max_seq_len / B) blocks (every position is kept), and
//   sliding: min(ceil((W - 1 + max_chunk) / B) + 1, full) blocks (the window behind the chunk plus
//            the chunk itself, +1 because the window may start mid-block).
// The byte budget is split so that both pools serve the same number of such sequences:
// full_blocks = floor(budget * nf*Fb / (ns*Sb + nf*Fb) / Fb), the sliding pool takes the rest.
// Both totals must cover at least one max_seq_len sequence, otherwise creation fails with
// RESOURCE_EXHAUSTED: that guarantee is what lets the scheduler always make progress by preempting.
#pragma once
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace tandem {

struct KvGeometry {
  int64_t block_size = 16;
  int64_t sliding_window = 0;
  int64_t num_sliding_layers = 0, num_full_layers = 0;
  int64_t num_kv_heads = 0, head_dim = 0;

  // Bytes of one physical block of each kind: layers_of_kind x (K and V) x B x nkv x d x f32.
  int64_t sliding_block_bytes() const { return num_sliding_layers * 2 * block_size * num_kv_heads * head_dim * 4; }
  int64_t full_block_bytes() const { return num_full_layers * 2 * block_size * num_kv_heads * head_dim * 4; }
};

struct KvPoolPlan {
  int32_t sliding_blocks = 0, full_blocks = 0;
  int32_t sliding_per_seq = 0, full_per_seq = 0;  // worst case for one max_seq_len sequence
  uint64_t total_bytes = 0;                        // bytes of both pools together
};

// Throws Error(RESOURCE_EXHAUSTED) naming the numbers when the budget cannot hold one sequence.
KvPoolPlan plan_kv_pools(const KvGeometry& g, uint64_t budget_bytes, int64_t max_seq_len, int64_t max_chunk);

// A free list of block ids [0, total).
class BlockPool {
 public:
  explicit BlockPool(int32_t total);
  int32_t total() const { return total_; }
  int32_t free_count() const { return int32_t(free_.size()); }
  int32_t used() const { return total_ - free_count(); }
  int32_t take();  // caller checked free_count() > 0
  void give(int32_t id);

 private:
  int32_t total_;
  std::vector<int32_t> free_;  // stack: the most recently freed block is reused first
};

// The blocks one sequence holds. full[b] backs positions [b*B, (b+1)*B); sliding[i] backs logical
// block sliding_first + i.
struct SeqBlocks {
  std::vector<int32_t> full;
  std::vector<int32_t> sliding;
  int64_t sliding_first = 0;
};

class KvManager {
 public:
  KvManager(const KvGeometry& g, int32_t sliding_blocks, int32_t full_blocks);

  // New blocks of each kind that computing positions [chunk_start, new_len) would need.
  struct Need {
    int32_t sliding = 0, full = 0;
  };
  Need need(uint64_t seq, int64_t new_len, int64_t chunk_start) const;
  // Allocates what computing [chunk_start, new_len) needs. All or nothing: returns false and
  // changes nothing when a pool is short.
  bool ensure(uint64_t seq, int64_t new_len, int64_t chunk_start);
  // After a step: returns sliding blocks whose every position is < next_pos - W + 1 (no later
  // query can attend to them).
  void release_out_of_window(uint64_t seq, int64_t next_pos);
  // Returns every block of seq (finish, cancel, preempt). Unknown seq: no-op.
  void free(uint64_t seq);

  const SeqBlocks* blocks(uint64_t seq) const;  // nullptr when seq holds nothing
  bool uses_sliding() const { return geo_.num_sliding_layers > 0; }
  bool uses_full() const { return geo_.num_full_layers > 0; }
  const BlockPool& sliding_pool() const { return sliding_; }
  const BlockPool& full_pool() const { return full_; }
  const KvGeometry& geometry() const { return geo_; }

 private:
  int64_t sliding_first_needed(int64_t chunk_start) const;
  KvGeometry geo_;
  BlockPool sliding_, full_;
  std::unordered_map<uint64_t, SeqBlocks> seqs_;
};

}  // namespace tandem
