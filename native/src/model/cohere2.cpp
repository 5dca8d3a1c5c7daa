// Cohere2 forward pass (shared/reference/cohere2-architecture.md §4). All chunks of a step are
// flattened into one [T, H] activation so each projection is a single matmul over the batch
// (weights are streamed once per step: the memory-bound part at decode). Attention reads keys
// and values from the paged KV pools through the chunks' block tables.
#include <algorithm>
#include <cmath>
#include <functional>
#include <string>

#include "model/cohere2.h"
#include "dist/comm.h"
#include "model/cohere2_weights.h"
#include "util/status.h"
#include "util/thread_pool.h"

namespace tandem {
namespace {

[[noreturn]] void bad_arg(const std::string& msg) { throw Error(TANDEM_STATUS_INVALID_ARGUMENT, msg); }

void run_parallel(ThreadPool* pool, int64_t n, int64_t min_chunk, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (pool && pool->size() > 1) pool->parallel_for(n, min_chunk, fn);
  else fn(0, n);
}

void check_pool(const KvPoolView& p, const char* which, int64_t layers, const ModelConfig& c, int64_t nkv) {
  if (layers == 0) return;
  const std::string w = std::string(which) + " pool";
  if (!p.base) bad_arg(w + ": base is null");
  if (p.num_layers != layers) bad_arg(w + ": num_layers " + std::to_string(p.num_layers) + ", model has " + std::to_string(layers));
  if (p.num_kv_heads != nkv) bad_arg(w + ": num_kv_heads " + std::to_string(p.num_kv_heads) + ", model (this rank) has " + std::to_string(nkv));
  if (p.head_dim != c.head_dim) bad_arg(w + ": head_dim " + std::to_string(p.head_dim) + ", model has " + std::to_string(c.head_dim));
  if (p.block_size <= 0) bad_arg(w + ": block_size must be positive");
}

void check_blocks(std::span<const int32_t> blocks, const KvPoolView& p, const std::string& field) {
  for (size_t i = 0; i < blocks.size(); i++)
    if (blocks[i] < 0 || blocks[i] >= p.num_blocks)
      bad_arg(field + "[" + std::to_string(i) + "]: block " + std::to_string(blocks[i]) + " outside the pool (" +
              std::to_string(p.num_blocks) + " blocks)");
}

void check_batch(std::span<const SeqChunk> batch, const KvPoolView& sliding, const KvPoolView& full,
                 const ModelConfig& c, int64_t nkv) {
  if (batch.empty()) bad_arg("batch: empty");
  check_pool(sliding, "sliding", c.num_sliding_layers, c, nkv);
  check_pool(full, "full", c.num_full_layers, c, nkv);
  for (size_t i = 0; i < batch.size(); i++) {
    const SeqChunk& s = batch[i];
    const std::string f = "batch[" + std::to_string(i) + "]";
    const int64_t n = int64_t(s.tokens.size());
    if (n == 0) bad_arg(f + ".tokens: empty");
    for (int64_t j = 0; j < n; j++)
      if (s.tokens[j] < 0 || s.tokens[j] >= c.vocab_size)
        bad_arg(f + ".tokens[" + std::to_string(j) + "]: id " + std::to_string(s.tokens[j]) + " outside [0, " +
                std::to_string(c.vocab_size) + ")");
    if (s.start_pos < 0) bad_arg(f + ".start_pos: negative");
    const int64_t end = s.start_pos + n;
    if (c.num_full_layers > 0) {
      if (int64_t(s.full_blocks.size()) * full.block_size < end)
        bad_arg(f + ".full_blocks: " + std::to_string(s.full_blocks.size()) + " blocks do not cover positions [0, " +
                std::to_string(end) + ")");
      check_blocks(s.full_blocks, full, f + ".full_blocks");
    }
    if (c.num_sliding_layers > 0) {
      const int64_t B = sliding.block_size;
      const int64_t oldest = std::max<int64_t>(0, s.start_pos - c.sliding_window + 1);  // first key still needed
      if (s.sliding_first < 0 || s.sliding_first * B > oldest)
        bad_arg(f + ".sliding_first: " + std::to_string(s.sliding_first) + " drops position " + std::to_string(oldest) +
                ", still inside the window");
      if ((s.sliding_first + int64_t(s.sliding_blocks.size())) * B < end)
        bad_arg(f + ".sliding_blocks: do not cover positions up to " + std::to_string(end));
      check_blocks(s.sliding_blocks, sliding, f + ".sliding_blocks");
    }
  }
}

// One sequence's view of a pool for one layer: absolute position -> K / V row of a KV head.
struct PagedKv {
  const KvPoolView* pool;
  const int32_t* blocks;
  int64_t first_block;
  int32_t layer;
  float* slot(int64_t pos, bool value) const {
    const int64_t b = pos / pool->block_size;
    const int32_t phys = blocks[b - first_block];
    float* base = value ? pool->v(phys, layer) : pool->k(phys, layer);
    return base + (pos % pool->block_size) * int64_t(pool->num_kv_heads) * pool->head_dim;
  }
};

// Attention per (chunk, query head): each unit is independent, so units are split over threads.
// Bound: memory (every cached key/value row is read once per query).
void attend(std::span<const SeqChunk> batch, const std::vector<int64_t>& row0, const std::vector<PagedKv>& seq_kv,
            const ModelConfig& c, const TpDims& td, bool is_sliding, const float* q, float* att, ThreadPool* pool) {
  const int64_t d = c.head_dim, nh = td.num_heads, qd = nh * d, n_rep = nh / td.num_kv_heads;
  const float attn_scale = float(1.0 / std::sqrt(double(d)));
  run_parallel(pool, int64_t(batch.size()) * nh, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scores;
    for (int64_t u = begin; u < end; u++) {
      const size_t ci = size_t(u / nh);
      const int64_t h = u % nh, g = h / n_rep;  // GQA: contiguous groups of query heads per KV head
      const SeqChunk& ch = batch[ci];
      const PagedKv& pk = seq_kv[ci];
      for (int64_t j = 0; j < int64_t(ch.tokens.size()); j++) {
        const int64_t r = row0[ci] + j, pos = ch.start_pos + j;
        // Sliding: keys pos-W < key <= pos (W keys including itself); full: key <= pos.
        const int64_t lo = is_sliding ? std::max<int64_t>(0, pos - c.sliding_window + 1) : 0;
        const int64_t nk = pos - lo + 1;
        scores.resize(size_t(nk));
        const float* qh = q + r * qd + h * d;
        for (int64_t t = 0; t < nk; t++)
          scores[size_t(t)] = ops::dot(qh, pk.slot(lo + t, false) + g * d, d) * attn_scale;
        ops::softmax(scores.data(), nk);
        float* out = att + r * qd + h * d;
        std::fill_n(out, d, 0.f);
        for (int64_t t = 0; t < nk; t++) ops::axpy(scores[size_t(t)], pk.slot(lo + t, true) + g * d, out, d);
      }
    }
  });
}

struct Scratch {
  int64_t T;
  std::vector<float> x, a, q, k, v, att, o, gate, up, mlp;
  explicit Scratch(const ModelConfig& c, const TpDims& td, int64_t t) : T(t) {
    const size_t H = size_t(c.hidden_size), qd = size_t(td.num_heads * c.head_dim),
                 kd = size_t(td.num_kv_heads * c.head_dim), I = size_t(td.intermediate), n = size_t(t);
    x.resize(n * H), a.resize(n * H), o.resize(n * H), mlp.resize(n * H);
    q.resize(n * qd), att.resize(n * qd), k.resize(n * kd), v.resize(n * kd);
    gate.resize(n * I), up.resize(n * I);
  }
};

}  // namespace

void Cohere2Model::forward(std::span<const SeqChunk> batch, const KvPoolView& sliding, const KvPoolView& full,
                           ThreadPool* pool, std::vector<float>& logits, LogitsOut out_mode) {
  const ModelConfig& c = config_;
  const Weights& W = *weights_;
  const TpDims& td = dims_;
  const bool split = shard_.world > 1;
  if (split && !comm_) throw Error(TANDEM_STATUS_INTERNAL, "forward: tensor-parallel model has no communicator");
  check_batch(batch, sliding, full, c, td.num_kv_heads);

  const int64_t H = c.hidden_size, d = c.head_dim, nh = td.num_heads, nkv = td.num_kv_heads;
  const int64_t qd = nh * d, kd = nkv * d, I = td.intermediate;
  std::vector<int64_t> row0(batch.size() + 1, 0);  // first flattened row of each chunk
  for (size_t i = 0; i < batch.size(); i++) row0[i + 1] = row0[i] + int64_t(batch[i].tokens.size());
  const int64_t T = row0.back();
  Scratch s(c, td, T);

  // Embedding lookup, no scaling (§4.1). Sharded: rows of this rank's vocabulary, zeros elsewhere,
  // then a sum over ranks (exact: one non-zero term per row).
  for (size_t ci = 0; ci < batch.size(); ci++)
    for (size_t j = 0; j < batch[ci].tokens.size(); j++) {
      float* row = s.x.data() + (row0[ci] + int64_t(j)) * H;
      const int64_t tok = batch[ci].tokens[j];
      if (!split) ops::weight_row_to_f32(W.embed, tok, row);
      else if (tok >= td.vocab_lo && tok < td.vocab_hi) ops::weight_row_to_f32(W.embed, tok - td.vocab_lo, row);
      else std::fill_n(row, H, 0.f);
    }
  if (split) comm_->all_reduce_sum(s.x.data(), size_t(T * H));

  for (int64_t l = 0; l < c.num_layers; l++) {
    const LayerWeights& L = W.layers[size_t(l)];
    const bool is_sliding = c.layer_types[size_t(l)] == AttnKind::Sliding;
    const KvPoolView& kv = is_sliding ? sliding : full;
    const int32_t li = c.layer_index_in_kind[size_t(l)];

    // Parallel block: one LayerNorm feeds both attention and the MLP (§4.3).
    ops::layernorm(s.x.data(), L.norm.data(), s.a.data(), T, H, c.layer_norm_eps);
    ops::matmul(s.a.data(), T, L.q, s.q.data(), pool);
    ops::matmul(s.a.data(), T, L.k, s.k.data(), pool);
    ops::matmul(s.a.data(), T, L.v, s.v.data(), pool);
    ops::matmul(s.a.data(), T, L.gate, s.gate.data(), pool);
    ops::matmul(s.a.data(), T, L.up, s.up.data(), pool);

    // RoPE on sliding layers only; full layers are NoPE and cache raw keys (§4.4, §4.5). Then
    // every new token's K/V goes into its slot before any query reads the cache, so a chunk's
    // queries see the chunk's own keys.
    std::vector<PagedKv> seq_kv(batch.size());
    for (size_t ci = 0; ci < batch.size(); ci++) {
      const SeqChunk& ch = batch[ci];
      seq_kv[ci] = is_sliding ? PagedKv{&kv, ch.sliding_blocks.data(), ch.sliding_first, li}
                              : PagedKv{&kv, ch.full_blocks.data(), 0, li};
      for (int64_t j = 0; j < int64_t(ch.tokens.size()); j++) {
        const int64_t r = row0[ci] + j, pos = ch.start_pos + j;
        if (is_sliding) {
          ops::rope_interleaved(s.q.data() + r * qd, nh, d, pos, W.inv_freq.data());
          ops::rope_interleaved(s.k.data() + r * kd, nkv, d, pos, W.inv_freq.data());
        }
        std::copy_n(s.k.data() + r * kd, kd, seq_kv[ci].slot(pos, false));
        std::copy_n(s.v.data() + r * kd, kd, seq_kv[ci].slot(pos, true));
      }
    }

    attend(batch, row0, seq_kv, c, td, is_sliding, s.q.data(), s.att.data(), pool);

    ops::matmul(s.att.data(), T, L.o, s.o.data(), pool);
    ops::silu_mul(s.gate.data(), s.up.data(), T * I);
    ops::matmul(s.gate.data(), T, L.down, s.mlp.data(), pool);
    if (!split) {
      // h' = (h + attn) + mlp, the order transformers uses.
      ops::add(s.x.data(), s.o.data(), T * H);
      ops::add(s.x.data(), s.mlp.data(), T * H);
    } else {
      // Parallel block: both partial sums added locally, ONE all-reduce per layer (reference §5).
      ops::add(s.o.data(), s.mlp.data(), T * H);
      comm_->all_reduce_sum(s.o.data(), size_t(T * H));
      ops::add(s.x.data(), s.o.data(), T * H);
    }
  }

  // Final norm and tied head only for the rows whose logits are wanted.
  std::vector<int64_t> rows;
  for (size_t ci = 0; ci < batch.size(); ci++) {
    if (batch[ci].all_logits)
      for (int64_t r = row0[ci]; r < row0[ci + 1]; r++) rows.push_back(r);
    else
      rows.push_back(row0[ci + 1] - 1);
  }
  const int64_t R = int64_t(rows.size());
  std::vector<float> z(size_t(R * H));
  for (int64_t i = 0; i < R; i++) std::copy_n(s.x.data() + rows[size_t(i)] * H, H, s.a.data() + i * H);
  ops::layernorm(s.a.data(), W.final_norm.data(), z.data(), R, H, c.layer_norm_eps);
  if (!split) {
    const size_t old = logits.size();
    logits.resize(old + size_t(R * c.vocab_size));
    float* out = logits.data() + old;
    ops::matmul(z.data(), R, W.embed, out, pool);
    ops::scale(out, c.logit_scale, R * c.vocab_size);
    return;
  }
  // Vocab-parallel head: this rank's slice; for Gathered, padded to vocab_per_rank columns and
  // gathered to rank 0.
  const int64_t Vl = td.vocab_hi - td.vocab_lo, Vp = td.vocab_per_rank, Wn = shard_.world, V = c.vocab_size;
  if (out_mode == LogitsOut::LocalSlice) {
    const size_t old = logits.size();
    logits.resize(old + size_t(R * Vl));
    ops::matmul(z.data(), R, W.embed, logits.data() + old, pool);
    ops::scale(logits.data() + old, c.logit_scale, R * Vl);
    return;
  }
  std::vector<float> part(size_t(R * Vp), 0.f), local(size_t(R * Vl));
  ops::matmul(z.data(), R, W.embed, local.data(), pool);
  ops::scale(local.data(), c.logit_scale, R * Vl);
  for (int64_t i = 0; i < R; i++) std::copy_n(local.data() + i * Vl, Vl, part.data() + i * Vp);
  std::vector<float> all(comm_->rank() == 0 ? size_t(Wn * R * Vp) : 0);
  comm_->gather(part.data(), part.size() * sizeof(float), all.data());
  if (comm_->rank() != 0) return;
  const size_t old = logits.size();
  logits.resize(old + size_t(R * V));
  float* out = logits.data() + old;
  for (int64_t r = 0; r < Wn; r++) {
    const int64_t lo = r * Vp, n = std::min(V, lo + Vp) - lo;
    for (int64_t i = 0; i < R; i++) std::copy_n(all.data() + (r * R + i) * Vp, n, out + i * V + lo);
  }
}

}  // namespace tandem
