// The acceptance test: logits and greedy continuations of the Hugging Face fixtures, through
// the paged KV cache in every way the runtime may drive it (whole prefill, uneven chunks,
// batches of sequences, sliding tables that keep only the window).
#include <gtest/gtest.h>

#include "harness.h"
#include "util/status.h"
#include "util/thread_pool.h"

using namespace tandem;
using namespace tandem::test;

namespace {

constexpr float kTol = 1e-4f;

struct Fixture {
  std::unique_ptr<Cohere2Model> model;
  std::vector<GoldenCase> golden;
};

Fixture& tiny() {
  static Fixture f{Cohere2Model::load(fixture("cohere2-tiny")), load_golden(fixture("cohere2-tiny/golden.json"))};
  return f;
}
Fixture& bf16() {
  static Fixture f{Cohere2Model::load(fixture("cohere2-tiny-bf16-sharded")),
                   load_golden(fixture("cohere2-tiny-bf16-sharded/golden.json"))};
  return f;
}
ThreadPool& threads() {
  static ThreadPool p(2);
  return p;
}

std::vector<std::vector<int32_t>> prompts_of(const Fixture& f) {
  std::vector<std::vector<int32_t>> p;
  for (const auto& c : f.golden) p.push_back(c.prompt);
  return p;
}

// One forward over a whole prompt from position 0.
std::vector<float> forward_prompt(Cohere2Model& m, const std::vector<int32_t>& prompt, bool all_logits) {
  KvPools pools(m.config(), 4, 64);
  std::vector<int32_t> full, sliding;
  for (size_t i = 0; i * 4 < prompt.size(); i++) full.push_back(pools.alloc(false)), sliding.push_back(pools.alloc(true));
  SeqChunk ch;
  ch.tokens = prompt;
  ch.full_blocks = full;
  ch.sliding_blocks = sliding;
  ch.all_logits = all_logits;
  std::vector<float> logits;
  m.forward(std::span<const SeqChunk>(&ch, 1), pools.sliding, pools.full, &threads(), logits);
  return logits;
}

void expect_golden_greedy(const Fixture& f, const std::vector<SeqResult>& got, const char* how) {
  ASSERT_EQ(got.size(), f.golden.size());
  for (size_t i = 0; i < got.size(); i++) {
    EXPECT_EQ(got[i].tokens, f.golden[i].new_tokens) << how << ": prompt " << i;
    // Where the fixture records each step's top-5 logits, the cached step logits must match them.
    for (size_t s = 0; s < f.golden[i].step_top_ids.size() && s < got[i].logits.size(); s++)
      for (size_t k = 0; k < f.golden[i].step_top_ids[s].size(); k++)
        EXPECT_NEAR(got[i].logits[s][size_t(f.golden[i].step_top_ids[s][k])], f.golden[i].step_top_logits[s][k], kTol)
            << how << ": prompt " << i << " step " << s;
  }
}

}  // namespace

TEST(Cohere2Golden, LoadsFixtureConfigAndWeights) {
  const ModelConfig& c = tiny().model->config();
  EXPECT_EQ(c.num_layers, 8);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(tiny().model->weight_dtype(), ops::DType::F32);
  EXPECT_EQ(bf16().model->weight_dtype(), ops::DType::BF16);
  EXPECT_EQ(bf16().model->weight_bytes() * 2, tiny().model->weight_bytes());
}

TEST(Cohere2Golden, AllLogitsOfTheSeventeenTokenPrompt) {
  const GoldenCase& g = tiny().golden[1];
  ASSERT_EQ(g.prompt.size(), 17u);
  ASSERT_EQ(g.all_logits.size(), 17u * 384u);
  std::vector<float> got = forward_prompt(*tiny().model, g.prompt, true);
  ASSERT_EQ(got.size(), g.all_logits.size());
  EXPECT_LT(max_abs_diff(got.data(), g.all_logits.data(), got.size()), kTol);
}

TEST(Cohere2Golden, FinalLogitsOfEveryPrompt) {
  for (const GoldenCase& g : tiny().golden) {
    std::vector<float> got = forward_prompt(*tiny().model, g.prompt, false);
    ASSERT_EQ(got.size(), 384u);
    EXPECT_LT(max_abs_diff(got.data(), g.final_logits.data(), 384), kTol) << "prompt length " << g.prompt.size();
  }
}

TEST(Cohere2Golden, GreedyWithKvCacheOneSequenceAtATime) {
  std::vector<SeqResult> got;
  for (const GoldenCase& g : tiny().golden) got.push_back(run_greedy(*tiny().model, {g.prompt}, 24, {}, &threads())[0]);
  expect_golden_greedy(tiny(), got, "single");
}

TEST(Cohere2Golden, GreedyWithUnevenPrefillChunks) {
  for (std::vector<int64_t> sizes : {std::vector<int64_t>{3, 1, 5, 2}, {7}, {1}}) {
    RunOptions o;
    o.chunk_sizes = sizes;
    std::vector<SeqResult> got;
    for (const GoldenCase& g : tiny().golden) got.push_back(run_greedy(*tiny().model, {g.prompt}, 24, o, &threads())[0]);
    expect_golden_greedy(tiny(), got, ("chunks of " + std::to_string(sizes[0]) + "...").c_str());
  }
}

TEST(Cohere2Golden, BatchOfSequencesEqualsEachAlone) {
  RunOptions o;
  o.chunk_sizes = {5, 2};  // prefill chunks of one sequence beside decode tokens of another
  std::vector<SeqResult> batched = run_greedy(*tiny().model, prompts_of(tiny()), 24, o, &threads());
  expect_golden_greedy(tiny(), batched, "batched");
  for (size_t i = 0; i < batched.size(); i++) {
    SeqResult alone = run_greedy(*tiny().model, {tiny().golden[i].prompt}, 24, o, &threads())[0];
    ASSERT_EQ(alone.logits.size(), batched[i].logits.size());
    for (size_t s = 0; s < alone.logits.size(); s++)
      EXPECT_LT(max_abs_diff(alone.logits[s].data(), batched[i].logits[s].data(), 384), 1e-5f)
          << "prompt " << i << " step " << s;
  }
}

TEST(Cohere2Golden, SlidingTableKeepingOnlyTheWindowGivesIdenticalResults) {
  for (int32_t bs : {1, 2, 4, 5}) {
    RunOptions keep, trim;
    keep.block_size = trim.block_size = bs;
    keep.chunk_sizes = trim.chunk_sizes = {4, 3};
    keep.num_blocks = trim.num_blocks = 200;
    trim.trim_sliding = true;
    std::vector<SeqResult> a = run_greedy(*tiny().model, prompts_of(tiny()), 24, keep, &threads());
    KvPools pools(tiny().model->config(), bs, 200);
    std::vector<SeqResult> b = run_greedy(*tiny().model, prompts_of(tiny()), 24, trim, &threads(), &pools);
    expect_golden_greedy(tiny(), b, "trimmed sliding table");
    for (size_t i = 0; i < a.size(); i++)
      for (size_t s = 0; s < a[i].logits.size(); s++)
        EXPECT_EQ(a[i].logits[s], b[i].logits[s]) << "block size " << bs << " prompt " << i << " step " << s;
    // Freed blocks are NaN-poisoned and reused, so identical logits also prove no freed block
    // was read. Each sequence holds at most the window plus one chunk of sliding blocks.
    const int64_t per_seq = (6 - 1 + 4 + bs - 1) / bs + 1;
    EXPECT_LE(pools.peak_sliding, 3 * per_seq) << "block size " << bs;
  }
}

TEST(Cohere2Golden, Bf16ShardedCheckpointLogitsAndGreedy) {
  Fixture& f = bf16();
  for (const GoldenCase& g : f.golden) {
    std::vector<float> got = forward_prompt(*f.model, g.prompt, !g.all_logits.empty());
    const std::vector<float>& want = g.all_logits.empty() ? g.final_logits : g.all_logits;
    ASSERT_EQ(got.size(), want.size());
    EXPECT_LT(max_abs_diff(got.data(), want.data(), got.size()), kTol) << "prompt length " << g.prompt.size();
  }
  RunOptions o;
  o.chunk_sizes = {5, 3};
  expect_golden_greedy(f, run_greedy(*f.model, prompts_of(f), 24, o, &threads()), "bf16 batched");
}

TEST(Cohere2Golden, WorksWithoutAThreadPool) {
  const GoldenCase& g = tiny().golden[2];
  EXPECT_EQ(run_greedy(*tiny().model, {g.prompt}, 24, {}, nullptr)[0].tokens, g.new_tokens);
}

TEST(Cohere2Forward, RejectsBadChunksNamingTheField) {
  Cohere2Model& m = *tiny().model;
  KvPools pools(m.config(), 4, 16);
  std::vector<int32_t> toks = {5, 384}, full = {0, 1, 2, 3, 4, 5}, sliding = {0, 1, 2};
  SeqChunk ch;
  ch.tokens = toks;
  ch.full_blocks = full;
  ch.sliding_blocks = sliding;
  std::vector<float> logits;
  auto message = [&]() -> std::string {
    try {
      m.forward(std::span<const SeqChunk>(&ch, 1), pools.sliding, pools.full, nullptr, logits);
    } catch (const Error& e) {
      EXPECT_EQ(e.status(), TANDEM_STATUS_INVALID_ARGUMENT);
      return e.what();
    }
    return "no error";
  };
  EXPECT_NE(message().find("batch[0].tokens[1]: id 384"), std::string::npos) << message();
  toks[1] = 7;
  ch.start_pos = 20;     // the window of position 20 starts at 15, in logical block 3, but...
  ch.sliding_first = 4;  // ...the table starts at block 4
  EXPECT_NE(message().find("batch[0].sliding_first"), std::string::npos) << message();
  ch.sliding_first = 0;  // three sliding blocks cover positions [0, 12) only
  EXPECT_NE(message().find("batch[0].sliding_blocks"), std::string::npos) << message();
  ch.start_pos = 0;
  full[1] = 99;
  EXPECT_NE(message().find("batch[0].full_blocks[1]: block 99"), std::string::npos) << message();
  EXPECT_TRUE(logits.empty());
}
