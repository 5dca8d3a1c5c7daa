#include "runtime/kv_manager.h"

#include <algorithm>
#include <string>

#include "util/status.h"

namespace tandem {

namespace {
int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
}  // namespace

KvPoolPlan plan_kv_pools(const KvGeometry& g, uint64_t budget_bytes, int64_t max_seq_len, int64_t max_chunk) {
  if (g.block_size <= 0 || max_seq_len <= 0 || max_chunk <= 0)
    throw Error(TANDEM_STATUS_INVALID_ARGUMENT, "kv: block_size, max_seq_len and max_batch_tokens must be >= 1");
  KvPoolPlan p;
  const int64_t B = g.block_size;
  const int64_t nf = ceil_div(max_seq_len, B);
  const int64_t W = std::max<int64_t>(g.sliding_window, 1);
  const int64_t ns = std::min(ceil_div(W - 1 + std::min(max_chunk, max_seq_len), B) + 1, nf);
  const int64_t sb = g.sliding_block_bytes(), fb = g.full_block_bytes();
  const int64_t unit = ns * sb + nf * fb;  // bytes one max-length sequence needs in both pools
  if (unit <= 0) throw Error(TANDEM_STATUS_INVALID_ARGUMENT, "kv: the model has no attention layers");
  using u128 = unsigned __int128;  // budget x blocks overflows 64 bits for large budgets
  // N = budget / unit sequences; the full pool gets N x nf blocks, the sliding pool the rest.
  int64_t full = fb > 0 ? int64_t(u128(budget_bytes) * u128(nf) / u128(unit)) : 0;
  int64_t sliding = sb > 0 ? int64_t((u128(budget_bytes) - u128(full) * u128(fb)) / u128(sb)) : 0;
  // Block ids are int32 in SeqChunk; a budget beyond that is simply not used.
  full = std::min<int64_t>(full, INT32_MAX);
  sliding = std::min<int64_t>(sliding, INT32_MAX);
  p.full_per_seq = fb > 0 ? int32_t(nf) : 0;
  p.sliding_per_seq = sb > 0 ? int32_t(ns) : 0;
  if ((fb > 0 && full < nf) || (sb > 0 && sliding < ns)) {
    const uint64_t min_bytes = uint64_t(unit);
    throw Error(TANDEM_STATUS_RESOURCE_EXHAUSTED,
                "kv_memory_bytes: " + std::to_string(budget_bytes) + " bytes cannot hold one sequence of max_seq_len " +
                    std::to_string(max_seq_len) + " (needs " + std::to_string(nf) + " full + " + std::to_string(ns) +
                    " sliding blocks of " + std::to_string(B) + " positions = " + std::to_string(min_bytes) +
                    " bytes); raise kv_memory_bytes or lower max_seq_len / max_batch_tokens");
  }
  p.full_blocks = int32_t(full);
  p.sliding_blocks = int32_t(sliding);
  p.total_bytes = uint64_t(full) * uint64_t(g.full_block_bytes()) + uint64_t(sliding) * uint64_t(g.sliding_block_bytes());
  return p;
}

BlockPool::BlockPool(int32_t total) : total_(total) {
  free_.reserve(size_t(total));
  // Highest id at the bottom so that block 0 is handed out first (easier to read in tests).
  for (int32_t i = total - 1; i >= 0; --i) free_.push_back(i);
}

int32_t BlockPool::take() {
  const int32_t id = free_.back();
  free_.pop_back();
  return id;
}

void BlockPool::give(int32_t id) { free_.push_back(id); }

KvManager::KvManager(const KvGeometry& g, int32_t sliding_blocks, int32_t full_blocks)
    : geo_(g), sliding_(g.num_sliding_layers > 0 ? sliding_blocks : 0), full_(g.num_full_layers > 0 ? full_blocks : 0) {}

int64_t KvManager::sliding_first_needed(int64_t chunk_start) const {
  const int64_t W = std::max<int64_t>(geo_.sliding_window, 1);
  return std::max<int64_t>(0, chunk_start - W + 1) / geo_.block_size;
}

KvManager::Need KvManager::need(uint64_t seq, int64_t new_len, int64_t chunk_start) const {
  Need n;
  if (new_len <= 0) return n;
  const int64_t B = geo_.block_size;
  auto it = seqs_.find(seq);
  const SeqBlocks* sb = it == seqs_.end() ? nullptr : &it->second;
  if (uses_full()) {
    const int64_t have = sb ? int64_t(sb->full.size()) : 0;
    n.full = int32_t(std::max<int64_t>(0, ceil_div(new_len, B) - have));
  }
  if (uses_sliding()) {
    const int64_t last = (new_len - 1) / B;
    if (!sb || sb->sliding.empty()) {
      n.sliding = int32_t(last - sliding_first_needed(chunk_start) + 1);
    } else {
      const int64_t have_last = sb->sliding_first + int64_t(sb->sliding.size()) - 1;
      n.sliding = int32_t(std::max<int64_t>(0, last - have_last));
    }
  }
  return n;
}

bool KvManager::ensure(uint64_t seq, int64_t new_len, int64_t chunk_start) {
  const Need n = need(seq, new_len, chunk_start);
  if (n.sliding > sliding_.free_count() || n.full > full_.free_count()) return false;
  if (n.sliding == 0 && n.full == 0 && seqs_.count(seq)) return true;
  SeqBlocks& sb = seqs_[seq];
  for (int32_t i = 0; i < n.full; ++i) sb.full.push_back(full_.take());
  if (n.sliding > 0 && sb.sliding.empty()) sb.sliding_first = sliding_first_needed(chunk_start);
  for (int32_t i = 0; i < n.sliding; ++i) sb.sliding.push_back(sliding_.take());
  return true;
}

void KvManager::release_out_of_window(uint64_t seq, int64_t next_pos) {
  auto it = seqs_.find(seq);
  if (it == seqs_.end() || !uses_sliding()) return;
  SeqBlocks& sb = it->second;
  const int64_t W = std::max<int64_t>(geo_.sliding_window, 1);
  const int64_t keep_from = next_pos - W + 1;  // first position a future query can still see
  size_t drop = 0;
  while (drop < sb.sliding.size() && (sb.sliding_first + int64_t(drop) + 1) * geo_.block_size <= keep_from) {
    sliding_.give(sb.sliding[drop]);
    ++drop;
  }
  sb.sliding.erase(sb.sliding.begin(), sb.sliding.begin() + int64_t(drop));
  sb.sliding_first += int64_t(drop);
}

void KvManager::free(uint64_t seq) {
  auto it = seqs_.find(seq);
  if (it == seqs_.end()) return;
  for (int32_t b : it->second.full) full_.give(b);
  for (int32_t b : it->second.sliding) sliding_.give(b);
  seqs_.erase(it);
}

const SeqBlocks* KvManager::blocks(uint64_t seq) const {
  auto it = seqs_.find(seq);
  return it == seqs_.end() ? nullptr : &it->second;
}

}  // namespace tandem
