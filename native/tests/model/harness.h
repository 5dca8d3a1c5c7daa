// Test helpers for the model layer: golden fixture reading, a tiny block allocator over the two
// KV pools (freed blocks are filled with NaN, so reading one poisons the logits), and a greedy
// driver that batches sequences, splits prompts into prefill chunks and decodes with the cache.
#pragma once
#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/cohere2.h"

namespace tandem::test {

inline std::string fixture(const std::string& rel) { return std::string(TANDEM_FIXTURES_DIR) + "/" + rel; }

inline nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  return nlohmann::json::parse(in);
}

struct GoldenCase {
  std::vector<int32_t> prompt;
  std::vector<float> final_logits;
  std::vector<float> all_logits;  // empty unless recorded; row-major [prompt_len][vocab]
  std::vector<int32_t> new_tokens;
  std::vector<std::vector<int32_t>> step_top_ids;  // per greedy step, when recorded
  std::vector<std::vector<float>> step_top_logits;
};

inline std::vector<GoldenCase> load_golden(const std::string& path) {
  nlohmann::json g = read_json(path);
  std::vector<GoldenCase> out;
  for (size_t i = 0; i < g["cases"].size(); i++) {
    const auto& c = g["cases"][i];
    GoldenCase gc;
    gc.prompt = g["prompts"][i].get<std::vector<int32_t>>();
    for (double v : c["final_logits"]) gc.final_logits.push_back(float(v));
    if (c.contains("all_logits"))
      for (const auto& row : c["all_logits"])
        for (double v : row) gc.all_logits.push_back(float(v));
    gc.new_tokens = c["greedy"]["new_tokens"].get<std::vector<int32_t>>();
    if (c["greedy"].contains("steps"))
      for (const auto& st : c["greedy"]["steps"]) {
        gc.step_top_ids.push_back(st["top_ids"].get<std::vector<int32_t>>());
        std::vector<float> l;
        for (double v : st["top_logits"]) l.push_back(float(v));
        gc.step_top_logits.push_back(l);
      }
    out.push_back(std::move(gc));
  }
  return out;
}

inline float max_abs_diff(const float* a, const float* b, size_t n) {
  float m = 0.f;
  for (size_t i = 0; i < n; i++) {
    float d = std::fabs(a[i] - b[i]);
    if (!(d <= m)) m = d;  // NaN propagates as a failure
  }
  return m;
}

inline int32_t argmax(const float* x, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; i++)
    if (x[i] > x[best]) best = i;  // first maximum, like torch.argmax
  return int32_t(best);
}

// Two pools and free lists. Every block starts and returns as NaN.
class KvPools {
 public:
  KvPools(const ModelConfig& c, int32_t block_size, int32_t num_blocks) {
    init(sliding, sliding_mem_, free_sliding_, c.num_sliding_layers, c, block_size, num_blocks);
    init(full, full_mem_, free_full_, c.num_full_layers, c, block_size, num_blocks);
  }
  KvPoolView sliding, full;

  int32_t alloc(bool is_sliding) {
    auto& fl = is_sliding ? free_sliding_ : free_full_;
    if (fl.empty()) throw std::runtime_error("test KV pool exhausted");
    int32_t b = fl.back();
    fl.pop_back();
    int32_t used = int32_t((is_sliding ? sliding : full).num_blocks) - int32_t(fl.size());
    int32_t& peak = is_sliding ? peak_sliding : peak_full;
    if (used > peak) peak = used;
    return b;
  }
  void release(bool is_sliding, int32_t b) {
    KvPoolView& p = is_sliding ? sliding : full;
    float* base = p.base + int64_t(b) * p.floats_per_block();
    std::fill_n(base, p.floats_per_block(), std::numeric_limits<float>::quiet_NaN());
    (is_sliding ? free_sliding_ : free_full_).push_back(b);
  }
  int32_t peak_sliding = 0, peak_full = 0;

 private:
  static void init(KvPoolView& v, std::vector<float>& mem, std::vector<int32_t>& fl, int64_t layers,
                   const ModelConfig& c, int32_t bs, int32_t nb) {
    v.num_blocks = nb;
    v.num_layers = int32_t(layers);
    v.block_size = bs;
    v.num_kv_heads = int32_t(c.num_kv_heads);
    v.head_dim = int32_t(c.head_dim);
    mem.assign(size_t(v.floats_per_block() * nb + 1), std::numeric_limits<float>::quiet_NaN());
    v.base = mem.data();
    for (int32_t b = nb - 1; b >= 0; b--) fl.push_back(b);
  }
  std::vector<float> sliding_mem_, full_mem_;
  std::vector<int32_t> free_sliding_, free_full_;
};

struct RunOptions {
  std::vector<int64_t> chunk_sizes;  // prefill chunk sizes, cycled; empty = whole prompt at once
  bool trim_sliding = false;         // free sliding blocks that fell out of the window
  int32_t block_size = 4;
  int32_t num_blocks = 64;
};

struct SeqResult {
  std::vector<int32_t> tokens;              // generated
  std::vector<std::vector<float>> logits;   // the logits each generated token was chosen from
};

// Greedy decode of `steps` tokens for every prompt, all sequences in the same forward calls.
inline std::vector<SeqResult> run_greedy(Cohere2Model& m, const std::vector<std::vector<int32_t>>& prompts,
                                         int steps, const RunOptions& opt, ThreadPool* tp,
                                         KvPools* pools_out = nullptr) {
  const ModelConfig& c = m.config();
  KvPools local(c, opt.block_size, opt.num_blocks);
  KvPools& pools = pools_out ? *pools_out : local;
  const int64_t B = opt.block_size, V = c.vocab_size;
  struct Seq {
    std::vector<int32_t> toks;
    size_t prompt_len, chunk_idx = 0;
    int64_t cached = 0, sliding_first = 0;
    std::vector<int32_t> full_blocks, sliding_blocks;
  };
  std::vector<Seq> seqs;
  for (const auto& p : prompts) {
    seqs.emplace_back();
    seqs.back().toks = p;
    seqs.back().prompt_len = p.size();
  }
  std::vector<SeqResult> res(prompts.size());
  for (;;) {
    std::vector<SeqChunk> batch;
    std::vector<size_t> who;
    for (size_t i = 0; i < seqs.size(); i++) {
      Seq& s = seqs[i];
      if (int(res[i].tokens.size()) >= steps) continue;
      int64_t n = int64_t(s.toks.size()) - s.cached;
      if (s.cached < int64_t(s.prompt_len) && !opt.chunk_sizes.empty())
        n = std::min(n, opt.chunk_sizes[s.chunk_idx++ % opt.chunk_sizes.size()]);
      const int64_t end = s.cached + n;
      while (int64_t(s.full_blocks.size()) * B < end) s.full_blocks.push_back(pools.alloc(false));
      if (opt.trim_sliding) {
        const int64_t keep_from = std::max<int64_t>(0, s.cached - c.sliding_window + 1) / B;
        while (s.sliding_first < keep_from) {
          pools.release(true, s.sliding_blocks.front());
          s.sliding_blocks.erase(s.sliding_blocks.begin());
          s.sliding_first++;
        }
      }
      while ((s.sliding_first + int64_t(s.sliding_blocks.size())) * B < end)
        s.sliding_blocks.push_back(pools.alloc(true));
      SeqChunk ch;
      ch.tokens = std::span<const int32_t>(s.toks.data() + s.cached, size_t(n));
      ch.start_pos = s.cached;
      ch.full_blocks = s.full_blocks;
      ch.sliding_blocks = s.sliding_blocks;
      ch.sliding_first = s.sliding_first;
      batch.push_back(ch);
      who.push_back(i);
    }
    if (batch.empty()) break;
    std::vector<float> logits;
    m.forward(batch, pools.sliding, pools.full, tp, logits);
    if (logits.size() != batch.size() * size_t(V)) throw std::runtime_error("forward returned wrong logits count");
    for (size_t b = 0; b < batch.size(); b++) {
      Seq& s = seqs[who[b]];
      s.cached += int64_t(batch[b].tokens.size());
      if (s.cached < int64_t(s.toks.size())) continue;  // a prefill chunk before the prompt's last
      const float* row = logits.data() + b * size_t(V);
      int32_t t = argmax(row, V);
      res[who[b]].tokens.push_back(t);
      res[who[b]].logits.emplace_back(row, row + V);
      s.toks.push_back(t);
    }
  }
  return res;
}

}  // namespace tandem::test
