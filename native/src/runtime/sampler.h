// Token sampling from one row of logits (already multiplied by logit_scale).
//
// Order (HF / vLLM): repetition penalty (HF: positive logits of seen tokens divided, negative
// multiplied; seen = prompt + output), frequency and presence penalties (OpenAI: output tokens,
// logit -= freq * count + presence * [count > 0]); then greedy (argmax, lowest id on ties) if
// temperature == 0, else logits / temperature, top-k, top-p (smallest set of the most likely
// tokens whose probability reaches p, renormalised after top-k), min-p (drop tokens below
// min_p x the largest probability), then one draw.
//
// Randomness: a counter-based generator keyed by (seed, output index), so a request's tokens
// depend only on its seed and its own logits, never on what else is in the batch or on
// preemption (a recomputed step draws the same number).
//
// Logprobs: log_softmax of the model's scaled logits *before* penalties and temperature, i.e. the
// model's own distribution (what OpenAI-style clients compare between runs). The top-n list is
// from that same distribution, best first.
#pragma once
#include <cmath>
#include <cstdint>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

namespace tandem {

struct SamplingConfig {
  float temperature = 0.f;
  int32_t top_k = 0;
  float top_p = 1.f;
  float min_p = 0.f;
  float repetition_penalty = 1.f;
  float frequency_penalty = 0.f;
  float presence_penalty = 0.f;
  uint64_t seed = 0;
  uint32_t top_logprobs = 0;
};

struct SampleResult {
  int32_t token = -1;
  float logprob = 0.f;
  std::vector<int32_t> top_ids;
  std::vector<float> top_logprobs;
};

// Sampling from candidates. A row whose sampling only ever looks at its best few tokens (greedy,
// or temperature with top_k, and no penalties) is sampled from those tokens plus the row's
// log-sum-exp. Under tensor parallelism each rank sends just its slice's best tokens and its
// log-sum-exp terms instead of the whole vocabulary (reference §5); a single rank takes the same
// path from its whole row, so both give the same tokens by construction.
//
// Order everywhere: key = logit * key_scale (the same float multiply the sampler applies for
// temperature) descending, then id ascending. The order is total, so the best k of the union of
// every slice's best k is exactly the best k of the whole row.
struct CandidateNeed {
  int32_t k = 1;             // tokens by key (1 = greedy)
  float key_scale = 1.f;     // 1 / temperature, or 1 for greedy
  int32_t n_top = 0;         // top logprobs: tokens by raw logit
};

// log(sum(exp(x))) in parts: the max and sum(exp(x - max)) in double, merged across slices.
struct LseParts {
  float max = -INFINITY;
  double sum = 0;
};
LseParts lse_parts(const float* x, int64_t n);
float merge_lse(std::span<const LseParts> parts);

struct RowCandidates {
  std::vector<int32_t> ids;         // best k by key, in order
  std::vector<float> logits;        // their raw logits
  std::vector<int32_t> top_ids;     // best n_top by raw logit, in order
  std::vector<float> top_logits;
  float lse = 0;                    // log-sum-exp of the whole row's raw logits
};

// The best k of x[0, n) by key (ids offset by id_offset), appended to ids/vals in order; fewer
// when n < k.
void best_by_key(const float* x, int64_t n, int32_t id_offset, float key_scale, int32_t k, std::vector<int32_t>& ids,
                 std::vector<float>& vals);
// Keeps the best k of (ids, vals) by key, in order (ids are distinct).
void keep_best_by_key(std::vector<int32_t>& ids, std::vector<float>& vals, float key_scale, int32_t k);
// RowCandidates of one whole row.
RowCandidates row_candidates(const float* x, int64_t vocab, const CandidateNeed& need);

// The uniform in [0, 1) that output index `index` of a request seeded `seed` draws.
double counter_uniform(uint64_t seed, uint64_t index);

// Per-request sampling state: the config and the counts of tokens seen so far.
class Sampler {
 public:
  Sampler(const SamplingConfig& cfg, std::span<const int32_t> prompt);
  const SamplingConfig& config() const { return cfg_; }
  // Samples output token number output_index() from logits[0, vocab). `scratch` is reused.
  SampleResult sample(const float* logits, int64_t vocab, std::vector<float>& scratch) const;
  // What sample() would look at, when that is a few candidates: nullopt when it needs the whole
  // row (penalties, or temperature without a top_k in [1, min(vocab - 1, kMaxCandidates)]).
  std::optional<CandidateNeed> candidate_need(int64_t vocab) const;
  // The same result as sample() on the whole row, from row_candidates(row, candidate_need()).
  SampleResult sample_candidates(const RowCandidates& c) const;
  static constexpr int32_t kMaxCandidates = 1024;
  // Records an emitted token (penalty counts, next output index).
  void accept(int32_t token);
  uint64_t output_index() const { return n_out_; }

 private:
  SamplingConfig cfg_;
  std::unordered_map<int32_t, int32_t> prompt_seen_;  // token -> 1 (presence only)
  std::unordered_map<int32_t, int32_t> out_counts_;   // token -> times generated
  uint64_t n_out_ = 0;
};

// Exposed for tests: applies penalties in place (logits of the whole vocab).
void apply_penalties(float* logits, int64_t vocab, const SamplingConfig& cfg,
                     const std::unordered_map<int32_t, int32_t>& prompt_seen,
                     const std::unordered_map<int32_t, int32_t>& out_counts);

// Exposed for tests: the post-filter distribution (probabilities over the vocab, zeros for
// excluded tokens) for temperature > 0. Logits are after penalties.
void filtered_probs(const float* logits, int64_t vocab, const SamplingConfig& cfg, std::vector<float>& probs);

}  // namespace tandem
