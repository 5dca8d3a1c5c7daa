// Vocab-parallel sampling: the candidate path gives the tokens the whole-row reference gives, and
// merging per-slice candidates across a real TCP group gives what one rank builds from the whole
// row (reference §5: never gather the vocabulary when sampling does not need it).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <future>
#include <random>
#include <vector>

#include "dist/comm.h"
#include "runtime/sampler.h"
#include "runtime/vocab_parallel.h"
#include "runtime/group_test_util.h"

namespace tandem {
using tandem::test::free_port;

namespace {

// Logits with many exact ties (rounded to 1/8) so tie-breaking by id is exercised.
std::vector<float> tied_logits(int64_t rows, int64_t vocab, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> n(0.f, 2.f);
  std::vector<float> l(size_t(rows * vocab));
  for (float& x : l) x = std::round(n(g) * 8.f) / 8.f;
  return l;
}

std::vector<SamplingConfig> configs() {
  std::vector<SamplingConfig> out;
  SamplingConfig greedy;
  greedy.top_logprobs = 5;
  out.push_back(greedy);
  for (float t : {0.3f, 1.f, 1.7f})
    for (int32_t k : {1, 2, 7, 40})
      for (float p : {1.f, 0.6f})
        for (float mp : {0.f, 0.2f}) {
          SamplingConfig c;
          c.temperature = t, c.top_k = k, c.top_p = p, c.min_p = mp, c.top_logprobs = k % 3;
          out.push_back(c);
        }
  return out;
}

// The whole-row reference: argmax, or filtered_probs and a draw in id order (what sample() did
// for every config before the candidate path existed).
int32_t reference_token(const float* l, int64_t vocab, const SamplingConfig& cfg, uint64_t index) {
  if (cfg.temperature == 0.f) return int32_t(std::max_element(l, l + vocab) - l);
  std::vector<float> probs;
  filtered_probs(l, vocab, cfg, probs);
  const double u = counter_uniform(cfg.seed, index);
  double cum = 0;
  int32_t last = -1;
  for (int64_t i = 0; i < vocab; ++i) {
    if (probs[size_t(i)] <= 0.f) continue;
    last = int32_t(i);
    cum += probs[size_t(i)];
    if (u < cum) return int32_t(i);
  }
  return last;
}

TEST(CandidateSampling, TokensEqualTheWholeRowReference) {
  const int64_t vocab = 301, rows = 8;
  const std::vector<float> l = tied_logits(rows, vocab, 7);
  std::vector<float> scratch;
  int checked = 0;
  for (SamplingConfig cfg : configs()) {
    for (uint64_t seed = 0; seed < 12; ++seed) {
      cfg.seed = seed * 977 + 1;
      Sampler s(cfg, {});
      ASSERT_TRUE(s.candidate_need(vocab).has_value());
      for (int64_t r = 0; r < rows; ++r) {
        const float* row = l.data() + r * vocab;
        const SampleResult got = s.sample(row, vocab, scratch);
        ASSERT_EQ(got.token, reference_token(row, vocab, cfg, 0)) << "temperature " << cfg.temperature << " top_k " << cfg.top_k;
        ASSERT_EQ(got.top_ids.size(), size_t(cfg.top_logprobs));
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 3000);
}

TEST(CandidateSampling, PenaltiesAndWideSamplingNeedTheWholeRow) {
  SamplingConfig c;
  c.repetition_penalty = 1.1f;
  EXPECT_FALSE(Sampler(c, {}).candidate_need(1000).has_value());
  c = {};
  c.temperature = 1.f;  // no top_k: the nucleus needs the whole row
  EXPECT_FALSE(Sampler(c, {}).candidate_need(1000).has_value());
  c.top_k = 1000;  // top_k >= vocab is "no top_k"
  EXPECT_FALSE(Sampler(c, {}).candidate_need(1000).has_value());
  c.top_k = Sampler::kMaxCandidates + 1;
  EXPECT_FALSE(Sampler(c, {}).candidate_need(100000).has_value());
  c.top_k = 50;
  const auto n = Sampler(c, {}).candidate_need(1000);
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(n->k, 50);
  EXPECT_EQ(n->key_scale, 1.f);
}

// Each rank (a thread with its own TCP communicator) holds its vocabulary slice of `all`, as the
// model's vocab-parallel head does (ceil(V / world) rows per rank, the last one shorter).
MergedRows merge_in_group(int world, const std::vector<float>& all, int64_t rows, int64_t vocab,
                          const std::vector<RowNeed>& needs, dist::CommStats* rank0_stats = nullptr) {
  const int port = free_port();
  const int64_t vp = (vocab + world - 1) / world;
  MergedRows merged;
  std::vector<std::future<void>> ranks;
  for (int r = 0; r < world; r++)
    ranks.push_back(std::async(std::launch::async, [&, r] {
      auto comm = dist::connect_group(test::loopback_group(r, world, port, dist::Transport::Tcp, 5000));
      const int64_t lo = r * vp, hi = std::min(vocab, lo + vp);
      std::vector<float> slice(size_t(rows * (hi - lo)));
      for (int64_t i = 0; i < rows; i++) std::copy_n(all.data() + i * vocab + lo, hi - lo, slice.data() + i * (hi - lo));
      merge_vocab_parallel(*comm, LogitsSlice{slice.data(), rows, lo, hi, vp, vocab}, needs, r == 0 ? &merged : nullptr);
      if (r == 0 && rank0_stats) *rank0_stats = comm->stats();
    }));
  for (auto& f : ranks) f.get();
  return merged;
}

TEST(VocabParallel, MergedCandidatesEqualTheWholeRowsCandidates) {
  const int64_t vocab = 250, rows = 6;  // 250 = not a multiple of 64 nor of 3
  const std::vector<float> all = tied_logits(rows, vocab, 11);
  std::vector<RowNeed> needs(static_cast<size_t>(rows));
  needs[0] = {RowNeed::Candidates, CandidateNeed{1, 1.f, 3}};
  needs[1] = {RowNeed::Full, {}};
  needs[2] = {RowNeed::Candidates, CandidateNeed{40, 1.f / 0.7f, 0}};
  needs[3] = {RowNeed::None, {}};
  needs[4] = {RowNeed::Candidates, CandidateNeed{200, 1.f / 1.3f, 20}};  // more than one slice holds
  needs[5] = {RowNeed::Full, {}};
  for (int world : {2, 3, 4}) {
    const MergedRows m = merge_in_group(world, all, rows, vocab, needs);
    for (int64_t r = 0; r < rows; r++) {
      const float* row = all.data() + r * vocab;
      const RowNeed& n = needs[size_t(r)];
      if (n.kind == RowNeed::Full) {
        ASSERT_GE(m.full_row[size_t(r)], 0);
        EXPECT_TRUE(std::equal(row, row + vocab, m.full_of(size_t(r)))) << "world " << world << " row " << r;
      } else {
        EXPECT_EQ(m.full_row[size_t(r)], -1);
      }
      if (n.kind != RowNeed::Candidates) continue;
      const RowCandidates want = row_candidates(row, vocab, n.need);
      const RowCandidates& got = m.candidates[size_t(r)];
      EXPECT_EQ(got.ids, want.ids) << "world " << world << " row " << r;
      EXPECT_EQ(got.logits, want.logits);
      EXPECT_EQ(got.top_ids, want.top_ids);
      EXPECT_EQ(got.top_logits, want.top_logits);
      EXPECT_NEAR(got.lse, want.lse, 1e-5);
    }
  }
}

TEST(VocabParallel, SampledTokensEqualOneRankAndMoveFarFewerBytes) {
  const int64_t vocab = 32768, rows = 16;
  const std::vector<float> all = tied_logits(rows, vocab, 5);
  SamplingConfig cfg;
  cfg.temperature = 0.8f, cfg.top_k = 50, cfg.top_p = 0.9f, cfg.seed = 99;
  const Sampler s(cfg, {});
  std::vector<RowNeed> needs(size_t(rows), RowNeed{RowNeed::Candidates, *s.candidate_need(vocab)});
  dist::CommStats cand_stats, full_stats;
  const MergedRows m = merge_in_group(2, all, rows, vocab, needs, &cand_stats);
  std::vector<float> scratch;
  for (int64_t r = 0; r < rows; r++) {
    const SampleResult one = s.sample(all.data() + r * vocab, vocab, scratch);
    const SampleResult two = s.sample_candidates(m.candidates[size_t(r)]);
    EXPECT_EQ(two.token, one.token);
    EXPECT_NEAR(two.logprob, one.logprob, 1e-5);
  }
  merge_in_group(2, all, rows, vocab, std::vector<RowNeed>(size_t(rows), RowNeed{RowNeed::Full, {}}), &full_stats);
  EXPECT_LT(cand_stats.bytes * 50, full_stats.bytes) << cand_stats.bytes << " vs " << full_stats.bytes;
}

}  // namespace
}  // namespace tandem
