#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <utility>

namespace tandem {

namespace {

uint64_t splitmix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Descending by value, ascending id on ties: the deterministic order every filter uses.
struct ByValueDesc {
  const float* v;
  bool operator()(int32_t a, int32_t b) const { return v[a] != v[b] ? v[a] > v[b] : a < b; }
};

int32_t argmax(const float* x, int64_t n) {
  int64_t best = 0;  // memory-bound single pass over the vocab
  for (int64_t i = 1; i < n; ++i)
    if (x[i] > x[best]) best = i;
  return int32_t(best);
}

// Orders idx so that its prefix holds the most likely tokens, sorted, far enough to reach
// probability mass top_p. With a 256k vocab a full sort per token costs tens of ms; the nucleus
// is usually a few hundred tokens, so sort a growing top slice and stop once it holds the mass.
// Returns the length of the sorted prefix.
size_t sort_nucleus(const std::vector<float>& z, std::vector<int32_t>& idx, double top_p) {
  const size_t v = idx.size();
  const float zmax = *std::max_element(z.begin(), z.end());
  double total = 0;
  for (float x : z) total += std::exp(double(x - zmax));  // memory-bound pass over the vocab
  for (size_t k = std::min<size_t>(1024, v);; k = std::min(v, k * 8)) {
    std::partial_sort(idx.begin(), idx.begin() + int64_t(k), idx.end(), ByValueDesc{z.data()});
    double mass = 0;
    for (size_t i = 0; i < k; ++i) mass += std::exp(double(z[size_t(idx[i])] - zmax));
    if (k == v || mass >= top_p * total) return k;
  }
}

}  // namespace

double counter_uniform(uint64_t seed, uint64_t index) {
  const uint64_t bits = splitmix64(splitmix64(seed) ^ splitmix64(index + 0x632BE59BD9B4E019ull));
  return double(bits >> 11) * 0x1.0p-53;
}

void apply_penalties(float* logits, int64_t vocab, const SamplingConfig& cfg,
                     const std::unordered_map<int32_t, int32_t>& prompt_seen,
                     const std::unordered_map<int32_t, int32_t>& out_counts) {
  if (cfg.repetition_penalty != 1.f) {
    auto penalise = [&](int32_t t) {
      if (t < 0 || t >= vocab) return;
      float& l = logits[t];
      l = l > 0 ? l / cfg.repetition_penalty : l * cfg.repetition_penalty;
    };
    for (const auto& [t, c] : prompt_seen) penalise(t);
    for (const auto& [t, c] : out_counts)
      if (!prompt_seen.count(t)) penalise(t);  // once per distinct token, as HF's gather/scatter
  }
  if (cfg.frequency_penalty != 0.f || cfg.presence_penalty != 0.f) {
    for (const auto& [t, c] : out_counts) {
      if (t < 0 || t >= vocab || c <= 0) continue;
      logits[t] -= cfg.frequency_penalty * float(c) + cfg.presence_penalty;
    }
  }
}

void filtered_probs(const float* logits, int64_t vocab, const SamplingConfig& cfg, std::vector<float>& probs) {
  std::vector<float> z(logits, logits + vocab);
  const float inv_t = 1.f / cfg.temperature;
  for (float& x : z) x *= inv_t;
  std::vector<int32_t> idx(static_cast<size_t>(vocab));
  std::iota(idx.begin(), idx.end(), 0);
  int64_t m = vocab;  // candidates are idx[0, m)
  int64_t sorted_len = vocab;  // idx[0, sorted_len) is in descending order when `sorted`
  bool sorted = false;
  if (cfg.top_k > 0 && cfg.top_k < vocab) {
    std::partial_sort(idx.begin(), idx.begin() + cfg.top_k, idx.end(), ByValueDesc{z.data()});
    m = cfg.top_k;
    sorted = true;
  } else if (cfg.top_p < 1.f) {
    sorted_len = int64_t(sort_nucleus(z, idx, double(cfg.top_p)));
    sorted = true;
  }
  float zmax = -INFINITY;
  for (int64_t i = 0; i < m; ++i) zmax = std::max(zmax, z[size_t(idx[size_t(i)])]);
  std::vector<double> e(static_cast<size_t>(m));
  double sum = 0;
  for (int64_t i = 0; i < m; ++i) sum += e[size_t(i)] = std::exp(double(z[size_t(idx[size_t(i)])] - zmax));
  if (cfg.top_p < 1.f && sorted) {
    // Keep the shortest prefix whose mass reaches top_p (at least one token).
    double cum = 0;
    int64_t keep = 0;
    // The nucleus lies inside the sorted prefix (summation-order rounding aside: then stop there).
    while (keep < std::min(m, sorted_len)) {
      cum += e[size_t(keep)];
      ++keep;
      if (cum >= double(cfg.top_p) * sum) break;
    }
    m = keep;
  }
  // min-p is relative to the most likely token, whose unnormalised weight is exp(0) = 1.
  const double min_w = double(cfg.min_p);
  probs.assign(size_t(vocab), 0.f);
  double kept = 0;
  for (int64_t i = 0; i < m; ++i)
    if (e[size_t(i)] >= min_w) kept += e[size_t(i)];
  for (int64_t i = 0; i < m; ++i)
    if (e[size_t(i)] >= min_w) probs[size_t(idx[size_t(i)])] = float(e[size_t(i)] / kept);
}

Sampler::Sampler(const SamplingConfig& cfg, std::span<const int32_t> prompt) : cfg_(cfg) {
  if (cfg_.repetition_penalty != 1.f)
    for (int32_t t : prompt) prompt_seen_[t] = 1;
}

void Sampler::accept(int32_t token) {
  ++out_counts_[token];
  ++n_out_;
}

std::optional<CandidateNeed> Sampler::candidate_need(int64_t vocab) const {
  if (cfg_.repetition_penalty != 1.f || cfg_.frequency_penalty != 0.f || cfg_.presence_penalty != 0.f) return std::nullopt;
  CandidateNeed n;
  n.n_top = int32_t(std::min<int64_t>(cfg_.top_logprobs, vocab));
  if (cfg_.temperature == 0.f) return n;  // greedy: the best token by raw logit
  // filtered_probs' top-k branch; without it the nucleus needs the whole row's mass.
  if (cfg_.top_k <= 0 || cfg_.top_k >= vocab || cfg_.top_k > kMaxCandidates) return std::nullopt;
  n.k = cfg_.top_k;
  n.key_scale = 1.f / cfg_.temperature;
  return n;
}

SampleResult Sampler::sample(const float* logits, int64_t vocab, std::vector<float>& scratch) const {
  if (const auto need = candidate_need(vocab)) return sample_candidates(row_candidates(logits, vocab, *need));
  SampleResult r;
  // Logprobs of the model's distribution (before penalties and temperature).
  const LseParts parts = lse_parts(logits, vocab);
  const float lse = merge_lse(std::span<const LseParts>(&parts, 1));

  scratch.assign(logits, logits + vocab);
  apply_penalties(scratch.data(), vocab, cfg_, prompt_seen_, out_counts_);
  if (cfg_.temperature == 0.f) {
    r.token = argmax(scratch.data(), vocab);
  } else {
    std::vector<float> probs;
    filtered_probs(scratch.data(), vocab, cfg_, probs);
    const double u = counter_uniform(cfg_.seed, n_out_);
    double cum = 0;
    int32_t last_nonzero = -1;
    for (int64_t i = 0; i < vocab; ++i) {
      if (probs[size_t(i)] <= 0.f) continue;
      last_nonzero = int32_t(i);
      cum += probs[size_t(i)];
      if (u < cum) {
        r.token = int32_t(i);
        break;
      }
    }
    if (r.token < 0) r.token = last_nonzero;  // u landed in the rounding gap at the top
  }
  r.logprob = logits[r.token] - lse;
  if (cfg_.top_logprobs > 0) {
    std::vector<float> vals;
    best_by_key(logits, vocab, 0, 1.f, int32_t(std::min<int64_t>(cfg_.top_logprobs, vocab)), r.top_ids, vals);
    for (float v : vals) r.top_logprobs.push_back(v - lse);
  }
  return r;
}

// filtered_probs and the draw of sample(), restricted to the top-k candidates: the same float and
// double operations in the same order, so the token is the one sample() draws from the whole row.
SampleResult Sampler::sample_candidates(const RowCandidates& c) const {
  SampleResult r;
  if (c.ids.empty()) throw std::logic_error("sample_candidates: no candidates");
  size_t chosen = 0;  // index into c.ids
  if (cfg_.temperature != 0.f) {
    const float inv_t = 1.f / cfg_.temperature;
    const size_t k = c.ids.size();
    float zmax = -INFINITY;
    std::vector<float> z(k);
    for (size_t i = 0; i < k; ++i) zmax = std::max(zmax, z[i] = c.logits[i] * inv_t);
    std::vector<double> e(k);
    double sum = 0;
    for (size_t i = 0; i < k; ++i) sum += e[i] = std::exp(double(z[i] - zmax));
    size_t m = k;
    if (cfg_.top_p < 1.f) {
      double cum = 0;
      size_t keep = 0;
      while (keep < m) {
        cum += e[keep];
        ++keep;
        if (cum >= double(cfg_.top_p) * sum) break;
      }
      m = keep;
    }
    const double min_w = double(cfg_.min_p);
    double kept = 0;
    for (size_t i = 0; i < m; ++i)
      if (e[i] >= min_w) kept += e[i];
    // The draw walks the vocabulary in id order.
    std::vector<std::pair<int32_t, size_t>> by_id;
    for (size_t i = 0; i < m; ++i)
      if (e[i] >= min_w) by_id.emplace_back(c.ids[i], i);
    std::sort(by_id.begin(), by_id.end());
    const double u = counter_uniform(cfg_.seed, n_out_);
    double cum = 0;
    bool found = false, any = false;
    for (const auto& [id, i] : by_id) {
      const float p = float(e[i] / kept);
      if (p <= 0.f) continue;
      chosen = i;
      any = true;
      cum += p;
      if (u < cum) {
        found = true;
        break;
      }
    }
    if (!found && !any) throw std::logic_error("sample_candidates: every candidate has probability 0");
  }
  r.token = c.ids[chosen];
  r.logprob = c.logits[chosen] - c.lse;
  for (size_t i = 0; i < c.top_ids.size(); ++i) {
    r.top_ids.push_back(c.top_ids[i]);
    r.top_logprobs.push_back(c.top_logits[i] - c.lse);
  }
  return r;
}

LseParts lse_parts(const float* x, int64_t n) {
  LseParts p;
  if (n <= 0) return p;
  p.max = x[argmax(x, n)];
  for (int64_t i = 0; i < n; ++i) p.sum += std::exp(double(x[i] - p.max));
  return p;
}

float merge_lse(std::span<const LseParts> parts) {
  float m = -INFINITY;
  for (const LseParts& p : parts)
    if (p.sum > 0) m = std::max(m, p.max);
  double s = 0;
  for (const LseParts& p : parts)
    if (p.sum > 0) s += p.sum * std::exp(double(p.max - m));  // one part: exp(0) = 1, the plain sum
  return m + float(std::log(s));
}

void best_by_key(const float* x, int64_t n, int32_t id_offset, float key_scale, int32_t k, std::vector<int32_t>& ids,
                 std::vector<float>& vals) {
  if (n <= 0 || k <= 0) return;
  if (k == 1) {
    int64_t best = 0;  // first maximum = lowest id on ties
    float best_key = x[0] * key_scale;
    for (int64_t i = 1; i < n; ++i) {
      const float key = x[i] * key_scale;
      if (key > best_key) best = i, best_key = key;
    }
    ids.push_back(id_offset + int32_t(best));
    vals.push_back(x[best]);
    return;
  }
  std::vector<float> keys(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) keys[size_t(i)] = x[i] * key_scale;
  std::vector<int32_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  const int64_t m = std::min<int64_t>(k, n);
  std::partial_sort(idx.begin(), idx.begin() + m, idx.end(), ByValueDesc{keys.data()});
  for (int64_t i = 0; i < m; ++i) {
    ids.push_back(id_offset + idx[size_t(i)]);
    vals.push_back(x[idx[size_t(i)]]);
  }
}

void keep_best_by_key(std::vector<int32_t>& ids, std::vector<float>& vals, float key_scale, int32_t k) {
  std::vector<size_t> order(ids.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::vector<float> keys(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) keys[i] = vals[i] * key_scale;
  const size_t m = std::min<size_t>(size_t(std::max(k, 0)), ids.size());
  std::partial_sort(order.begin(), order.begin() + int64_t(m), order.end(), [&](size_t a, size_t b) {
    return keys[a] != keys[b] ? keys[a] > keys[b] : ids[a] < ids[b];
  });
  std::vector<int32_t> out_ids(m);
  std::vector<float> out_vals(m);
  for (size_t i = 0; i < m; ++i) out_ids[i] = ids[order[i]], out_vals[i] = vals[order[i]];
  ids = std::move(out_ids);
  vals = std::move(out_vals);
}

RowCandidates row_candidates(const float* x, int64_t vocab, const CandidateNeed& need) {
  RowCandidates c;
  best_by_key(x, vocab, 0, need.key_scale, need.k, c.ids, c.logits);
  best_by_key(x, vocab, 0, 1.f, need.n_top, c.top_ids, c.top_logits);
  const LseParts p = lse_parts(x, vocab);
  c.lse = merge_lse(std::span<const LseParts>(&p, 1));
  return c;
}

}  // namespace tandem
