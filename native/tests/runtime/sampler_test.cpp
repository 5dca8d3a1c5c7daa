// Sampler: greedy, reproducible seeds, distributions, filters, penalties, logprobs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "runtime/sampler.h"

namespace tandem {
namespace {

std::vector<float> logits_from_probs(const std::vector<double>& p) {
  std::vector<float> l;
  for (double x : p) l.push_back(float(std::log(x)));
  return l;
}

// Draws n tokens with output indices 0..n-1 (a fresh sampler per draw keeps counts empty).
std::vector<int> histogram(const std::vector<float>& logits, SamplingConfig cfg, int n) {
  std::vector<int> h(logits.size(), 0);
  std::vector<float> scratch;
  for (int i = 0; i < n; ++i) {
    cfg.seed = 1234567u + uint64_t(i) * 7919u;
    Sampler s(cfg, {});
    ++h[size_t(s.sample(logits.data(), int64_t(logits.size()), scratch).token)];
  }
  return h;
}

TEST(Sampler, GreedyPicksArgmaxLowestIdOnTies) {
  std::vector<float> l = {0.1f, 2.f, -1.f, 2.f};
  std::vector<float> scratch;
  Sampler s(SamplingConfig{}, {});
  EXPECT_EQ(s.sample(l.data(), 4, scratch).token, 1);
}

TEST(Sampler, SameSeedSameTokensDifferentSeedDifferentTokens) {
  std::vector<float> l(50);
  for (size_t i = 0; i < l.size(); ++i) l[i] = float(std::sin(double(i)));
  SamplingConfig cfg;
  cfg.temperature = 1.f;
  auto run = [&](uint64_t seed) {
    cfg.seed = seed;
    Sampler s(cfg, {});
    std::vector<float> scratch;
    std::vector<int32_t> out;
    for (int i = 0; i < 40; ++i) {
      const int32_t t = s.sample(l.data(), 50, scratch).token;
      s.accept(t);
      out.push_back(t);
    }
    return out;
  };
  EXPECT_EQ(run(42), run(42));
  EXPECT_NE(run(42), run(43));
}

TEST(Sampler, TemperatureOneMatchesTheDistribution) {
  const std::vector<double> p = {0.5, 0.25, 0.125, 0.0625, 0.0625};
  SamplingConfig cfg;
  cfg.temperature = 1.f;
  const int n = 20000;
  const auto h = histogram(logits_from_probs(p), cfg, n);
  double chi2 = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    const double e = p[i] * n;
    chi2 += (h[i] - e) * (h[i] - e) / e;
  }
  EXPECT_LT(chi2, 18.5) << "chi-square with 4 degrees of freedom, p ~ 0.001";
}

TEST(Sampler, HighTemperatureFlattensLowSharpens) {
  const auto l = logits_from_probs({0.7, 0.2, 0.1});
  SamplingConfig cfg;
  cfg.temperature = 0.25f;
  const auto sharp = histogram(l, cfg, 4000);
  cfg.temperature = 4.f;
  const auto flat = histogram(l, cfg, 4000);
  EXPECT_GT(sharp[0], 3800);           // 0.7^4 / sum = 0.994
  EXPECT_GT(flat[2], 4000 * 0.25);     // 0.1^(1/4) share = 0.29
}

TEST(Sampler, TopKTopPMinPExcludeWhatTheyMust) {
  const auto l = logits_from_probs({0.4, 0.3, 0.15, 0.1, 0.05});
  SamplingConfig cfg;
  cfg.temperature = 1.f;
  std::vector<float> probs;
  cfg.top_k = 2;
  filtered_probs(l.data(), 5, cfg, probs);
  EXPECT_NEAR(probs[0], 0.4 / 0.7, 1e-6);
  EXPECT_EQ(probs[2], 0.f);
  cfg.top_k = 0;
  cfg.top_p = 0.8f;  // 0.4 + 0.3 = 0.7 < 0.8, + 0.15 = 0.85 >= 0.8 -> keep 3
  filtered_probs(l.data(), 5, cfg, probs);
  EXPECT_GT(probs[2], 0.f);
  EXPECT_EQ(probs[3], 0.f);
  EXPECT_NEAR(probs[0] + probs[1] + probs[2], 1.0, 1e-6);
  cfg.top_p = 1.f;
  cfg.min_p = 0.3f;  // threshold 0.12: drops 0.1 and 0.05
  filtered_probs(l.data(), 5, cfg, probs);
  EXPECT_GT(probs[2], 0.f);
  EXPECT_EQ(probs[3], 0.f);
  EXPECT_EQ(probs[4], 0.f);
  cfg.min_p = 0.f;
  cfg.top_k = 4;
  cfg.top_p = 0.5f;  // after top-k: 0.4/0.95 = 0.42 < 0.5 -> keep 2
  filtered_probs(l.data(), 5, cfg, probs);
  EXPECT_GT(probs[1], 0.f);
  EXPECT_EQ(probs[2], 0.f);
  // The draws never leave the kept set.
  cfg.top_k = 2;
  cfg.top_p = 1.f;
  const auto h = histogram(l, cfg, 2000);
  EXPECT_EQ(h[2] + h[3] + h[4], 0);
}

TEST(Sampler, RepetitionPenaltyFollowsHfSemantics) {
  std::vector<float> l = {2.f, -2.f, 1.f, 0.5f};
  SamplingConfig cfg;
  cfg.repetition_penalty = 2.f;
  std::unordered_map<int32_t, int32_t> prompt{{0, 1}, {1, 1}}, out{{2, 3}};
  apply_penalties(l.data(), 4, cfg, prompt, out);
  EXPECT_FLOAT_EQ(l[0], 1.f);   // positive: divided
  EXPECT_FLOAT_EQ(l[1], -4.f);  // negative: multiplied
  EXPECT_FLOAT_EQ(l[2], 0.5f);  // output tokens count too, once
  EXPECT_FLOAT_EQ(l[3], 0.5f);  // unseen: unchanged
}

TEST(Sampler, FrequencyAndPresencePenaltiesUseOutputCounts) {
  std::vector<float> l = {1.f, 1.f, 1.f};
  SamplingConfig cfg;
  cfg.frequency_penalty = 0.5f;
  cfg.presence_penalty = 0.25f;
  std::unordered_map<int32_t, int32_t> prompt{{2, 1}}, out{{0, 3}, {1, 1}};
  apply_penalties(l.data(), 3, cfg, prompt, out);
  EXPECT_FLOAT_EQ(l[0], 1.f - 1.5f - 0.25f);
  EXPECT_FLOAT_EQ(l[1], 1.f - 0.5f - 0.25f);
  EXPECT_FLOAT_EQ(l[2], 1.f);  // prompt tokens are not penalised by frequency/presence
}

TEST(Sampler, GreedyWithRepetitionPenaltyAvoidsRepeating) {
  std::vector<float> l = {3.f, 2.5f, 0.f};
  SamplingConfig cfg;
  cfg.repetition_penalty = 1.5f;
  std::vector<int32_t> prompt = {0};
  Sampler s(cfg, prompt);
  std::vector<float> scratch;
  EXPECT_EQ(s.sample(l.data(), 3, scratch).token, 1);  // 3 / 1.5 = 2 < 2.5
  Sampler plain(SamplingConfig{}, prompt);
  EXPECT_EQ(plain.sample(l.data(), 3, scratch).token, 0);
}

TEST(Sampler, LogprobsAreLogSoftmaxOfRawLogitsWithTopAlternatives) {
  std::vector<float> l = {1.f, 3.f, 2.f, 0.f};
  SamplingConfig cfg;
  cfg.top_logprobs = 3;
  cfg.temperature = 0.f;
  cfg.repetition_penalty = 10.f;  // penalties must not change reported logprobs
  Sampler s(cfg, std::vector<int32_t>{1});
  std::vector<float> scratch;
  const SampleResult r = s.sample(l.data(), 4, scratch);
  double z = 0;
  for (float x : l) z += std::exp(double(x));
  EXPECT_EQ(r.token, 2);  // 3 / 10 = 0.3 < 2
  EXPECT_NEAR(r.logprob, 2.0 - std::log(z), 1e-5);
  ASSERT_EQ(r.top_ids, (std::vector<int32_t>{1, 2, 0}));
  EXPECT_NEAR(r.top_logprobs[0], 3.0 - std::log(z), 1e-5);
  EXPECT_GT(r.top_logprobs[0], r.top_logprobs[1]);
}

TEST(Sampler, CounterUniformIsInRangeAndDependsOnBothKeys) {
  EXPECT_NE(counter_uniform(1, 0), counter_uniform(1, 1));
  EXPECT_NE(counter_uniform(1, 0), counter_uniform(2, 0));
  EXPECT_EQ(counter_uniform(9, 5), counter_uniform(9, 5));
  double mean = 0;
  for (uint64_t i = 0; i < 10000; ++i) {
    const double u = counter_uniform(3, i);
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    mean += u / 10000;
  }
  EXPECT_NEAR(mean, 0.5, 0.02);
}

}  // namespace
}  // namespace tandem

namespace tandem {
namespace {

// The partial-sort nucleus path must keep exactly the tokens a full sort keeps.
TEST(Sampler, TopPOnALargeVocabKeepsTheExactNucleus) {
  const int64_t v = 50000;
  std::vector<float> l(static_cast<size_t>(v));
  for (int64_t i = 0; i < v; ++i) l[size_t(i)] = float(std::sin(double(i) * 0.37) * 3.0);
  SamplingConfig cfg;
  cfg.temperature = 1.f;
  cfg.top_p = 0.9f;
  std::vector<float> probs;
  filtered_probs(l.data(), v, cfg, probs);
  // Reference: sort everything, keep the shortest prefix reaching 0.9 of the mass.
  std::vector<int32_t> idx(static_cast<size_t>(v));
  for (int64_t i = 0; i < v; ++i) idx[size_t(i)] = int32_t(i);
  std::sort(idx.begin(), idx.end(), [&](int32_t a, int32_t b) { return l[size_t(a)] != l[size_t(b)] ? l[size_t(a)] > l[size_t(b)] : a < b; });
  double total = 0;
  for (float x : l) total += std::exp(double(x));
  double cum = 0;
  size_t keep = 0;
  while (keep < idx.size() && cum < 0.9 * total) cum += std::exp(double(l[size_t(idx[keep++])]));
  size_t kept = 0;
  for (float p : probs) kept += p > 0.f;
  EXPECT_GT(keep, 1024u);  // exercises the growing-slice path, not just the first slice
  EXPECT_NEAR(double(kept), double(keep), 2.0);  // float rounding at the boundary only
  EXPECT_GT(probs[size_t(idx[0])], 0.f);
  EXPECT_EQ(probs[size_t(idx.back())], 0.f);
}

}  // namespace
}  // namespace tandem
