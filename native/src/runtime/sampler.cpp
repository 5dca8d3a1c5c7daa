#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

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

SampleResult Sampler::sample(const float* logits, int64_t vocab, std::vector<float>& scratch) const {
  SampleResult r;
  // Logprobs of the model's distribution (before penalties and temperature).
  const float lmax = logits[argmax(logits, vocab)];
  double s = 0;
  for (int64_t i = 0; i < vocab; ++i) s += std::exp(double(logits[i] - lmax));
  const float lse = lmax + float(std::log(s));

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
    const int64_t n = std::min<int64_t>(cfg_.top_logprobs, vocab);
    std::vector<int32_t> idx(static_cast<size_t>(vocab));
    std::iota(idx.begin(), idx.end(), 0);
    std::partial_sort(idx.begin(), idx.begin() + n, idx.end(), ByValueDesc{logits});
    for (int64_t i = 0; i < n; ++i) {
      r.top_ids.push_back(idx[size_t(i)]);
      r.top_logprobs.push_back(logits[idx[size_t(i)]] - lse);
    }
  }
  return r;
}

}  // namespace tandem
