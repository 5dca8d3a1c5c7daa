// The engine through the public C API on the cohere2-tiny fixture: golden tokens and logits,
// batching invariance, preemption, cancellation, validation while busy.
#include <atomic>
#include <cmath>
#include <functional>
#include <future>
#include <random>
#include <thread>

#include "runtime/engine_test_util.h"

namespace tandem::test {
namespace {

std::vector<int32_t> golden_prompt(const nlohmann::json& g, size_t i) { return g["prompts"][i].get<std::vector<int32_t>>(); }

// 14 prompts of different lengths (1 .. 70, some longer than the window and than one chunk).
std::vector<std::vector<int32_t>> varied_prompts() {
  std::mt19937 rng(99);
  std::vector<std::vector<int32_t>> out;
  for (int len : {1, 3, 5, 6, 7, 12, 17, 23, 31, 40, 47, 55, 64, 70}) {
    std::vector<int32_t> p;
    for (int i = 0; i < len; ++i) p.push_back(int32_t(rng() % 384));
    out.push_back(p);
  }
  return out;
}

class EngineGolden : public EngineTest, public ::testing::WithParamInterface<uint32_t> {};

TEST_P(EngineGolden, GreedyTokensExact) {
  tandem_engine_options o{};
  o.threads = GetParam();
  create(o);
  const auto g = golden();
  std::vector<std::vector<int32_t>> prompts;
  std::vector<uint64_t> ids;
  for (size_t i = 0; i < 3; ++i) prompts.push_back(golden_prompt(g, i));
  for (size_t i = 0; i < 3; ++i) ids.push_back(submit(greedy_params(prompts[i], 24)));  // batched together
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(col.wait_done(ids[i]));
    const Result r = col.get(ids[i]);
    EXPECT_EQ(r.tokens, g["cases"][i]["greedy"]["new_tokens"].get<std::vector<int32_t>>()) << "case " << i;
    EXPECT_EQ(r.finish, TANDEM_FINISH_LENGTH);
    EXPECT_EQ(r.final_events, 1);
    EXPECT_EQ(r.prompt_tokens, prompts[i].size());
    EXPECT_EQ(r.completion_tokens, 24u);
  }
  const tandem_engine_stats s = stats();
  EXPECT_EQ(s.generated_tokens_total, 72u);
  EXPECT_EQ(s.prompt_tokens_total, 58u);
  EXPECT_GT(s.steps, 0u);
}

INSTANTIATE_TEST_SUITE_P(Threads, EngineGolden, ::testing::Values(1u, 2u));

TEST_F(EngineTest, LogitsMatchGoldenWithinTolerance) {
  tandem_engine_options o{};
  o.max_batch_tokens = 7;  // forces the 17- and 40-token prompts through chunked prefill
  create(o);
  const auto g = golden();
  for (size_t i = 0; i < 3; ++i) {
    const auto prompt = golden_prompt(g, i);
    std::vector<float> out(384);
    ASSERT_EQ(tandem_engine_logits(engine, prompt.data(), uint32_t(prompt.size()), 0, out.data(), out.size()),
              TANDEM_STATUS_OK) << last_error();
    const auto want = g["cases"][i]["final_logits"].get<std::vector<float>>();
    float worst = 0;
    for (size_t v = 0; v < 384; ++v) worst = std::max(worst, std::abs(out[v] - want[v]));
    EXPECT_LT(worst, 1e-4f) << "case " << i;
  }
  const auto prompt = golden_prompt(g, 1);
  std::vector<float> all(prompt.size() * 384);
  ASSERT_EQ(tandem_engine_logits(engine, prompt.data(), uint32_t(prompt.size()), 1, all.data(), all.size()),
            TANDEM_STATUS_OK) << last_error();
  const auto want = g["cases"][1]["all_logits"];
  float worst = 0;
  for (size_t p = 0; p < prompt.size(); ++p)
    for (size_t v = 0; v < 384; ++v) worst = std::max(worst, std::abs(all[p * 384 + v] - want[p][v].get<float>()));
  EXPECT_LT(worst, 1e-4f);
  // A too-small output buffer is rejected with the field named.
  EXPECT_EQ(tandem_engine_logits(engine, prompt.data(), uint32_t(prompt.size()), 1, all.data(), 384),
            TANDEM_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("out_len"), std::string::npos);
}

// Submits every request at a different moment (after the previous one produced a few tokens)
// and checks each gets exactly the tokens it gets alone.
void check_staggered(EngineTest& t, Collector& col, const std::vector<tandem_request_params>& params,
                     const std::vector<std::vector<int32_t>>& alone,
                     const std::function<uint64_t(const tandem_request_params&)>& submit) {
  std::vector<uint64_t> ids;
  for (size_t i = 0; i < params.size(); ++i) {
    ids.push_back(submit(params[i]));
    if (i % 3 == 0) col.wait_tokens(ids.back(), 2);
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    ASSERT_TRUE(col.wait_done(ids[i]));
    EXPECT_EQ(col.get(ids[i]).tokens, alone[i]) << "request " << i;
  }
}

class EngineBatching : public EngineTest {
 protected:
  std::vector<std::vector<int32_t>> prompts = varied_prompts();
  std::vector<tandem_request_params> make(bool sampled) {
    std::vector<tandem_request_params> ps;
    for (size_t i = 0; i < prompts.size(); ++i) {
      tandem_request_params p = greedy_params(prompts[i], uint32_t(8 + (i * 7) % 25));
      if (sampled) {
        p.sampling.temperature = 0.9f;
        p.sampling.top_k = 40;
        p.sampling.top_p = 0.95f;
        p.sampling.seed = 1000 + i;
        p.sampling.has_seed = 1;
      }
      ps.push_back(p);
    }
    return ps;
  }
  void run(bool sampled, tandem_engine_options o) {
    create(o);
    const auto ps = make(sampled);
    std::vector<std::vector<int32_t>> alone;
    for (const auto& p : ps) alone.push_back(run_alone(p));
    for (size_t i = 0; i < ps.size(); ++i) ASSERT_EQ(alone[i].size(), ps[i].max_tokens);
    check_staggered(*this, col, ps, alone, [&](const tandem_request_params& p) { return submit(p); });
  }
};

TEST_F(EngineBatching, GreedyStaggeredEqualsAlone) {
  tandem_engine_options o{};
  o.max_batch_tokens = 32;
  run(false, o);
  EXPECT_EQ(stats().preemptions, 0u);
}

TEST_F(EngineBatching, SeededSamplingStaggeredEqualsAlone) {
  tandem_engine_options o{};
  o.max_batch_tokens = 32;
  run(true, o);
}

TEST_F(EngineBatching, TinyKvPoolPreemptsAndStillGivesIdenticalTokens) {
  tandem_engine_options o{};
  o.block_size = 4;
  o.max_seq_len = 112;
  o.max_batch_tokens = 32;
  // Room for about 1.5 sequences of 112 positions: full blocks are 2 layers x 2 x 4 x 2 x 16 x 4
  // = 2 KiB, sliding blocks 6 KiB; one sequence needs 28 full + 11 sliding blocks = 122 KiB.
  o.kv_memory_bytes = 190 * 1024;
  run(true, o);
  EXPECT_GT(stats().preemptions, 0u);
}

TEST_F(EngineTest, CancelMidRunFreesBlocksAndSendsOneCancelledEvent) {
  create(tandem_engine_options{});
  const std::vector<int32_t> prompt = {5, 17, 42, 99};
  const uint64_t id = submit(greedy_params(prompt, 200));
  ASSERT_TRUE(col.wait_tokens(id, 3));
  ASSERT_EQ(tandem_engine_cancel(engine, id), TANDEM_STATUS_OK) << last_error();
  ASSERT_TRUE(col.wait_done(id));
  const Result r = col.get(id);
  EXPECT_EQ(r.finish, TANDEM_FINISH_CANCELLED);
  EXPECT_EQ(r.final_events, 1);
  EXPECT_LT(r.tokens.size(), 200u);
  EXPECT_EQ(tandem_engine_cancel(engine, id), TANDEM_STATUS_NOT_FOUND);
  EXPECT_EQ(tandem_engine_cancel(engine, 987654), TANDEM_STATUS_NOT_FOUND);
}

TEST_F(EngineTest, BadRequestsRejectedWhileAnotherKeepsRunning) {
  create(tandem_engine_options{});
  const std::vector<int32_t> prompt = {5, 17, 42, 99};
  const uint64_t id = submit(greedy_params(prompt, 60));
  ASSERT_TRUE(col.wait_tokens(id, 1));
  const std::vector<int32_t> bad_prompt = {1, 2, 3, 500};
  tandem_request_params bad = greedy_params(bad_prompt, 0);
  bad.sampling.temperature = -1.f;
  bad.sampling.top_p = 2.f;
  uint64_t bad_id = 0;
  EXPECT_EQ(tandem_engine_submit(engine, &bad, &Collector::on_event, &col, &bad_id), TANDEM_STATUS_INVALID_ARGUMENT);
  const std::string msg = last_error();
  EXPECT_NE(msg.find("prompt[3]: token id 500 >= vocab_size 384"), std::string::npos) << msg;
  EXPECT_NE(msg.find("max_tokens: must be >= 1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("sampling.temperature"), std::string::npos) << msg;
  EXPECT_NE(msg.find("sampling.top_p: must be in (0, 1]"), std::string::npos) << msg;
  const std::vector<int32_t> long_prompt(250, 7);
  tandem_request_params too_long = greedy_params(long_prompt, 10);
  EXPECT_EQ(tandem_engine_submit(engine, &too_long, &Collector::on_event, &col, &bad_id), TANDEM_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("exceeds max_seq_len 256"), std::string::npos);
  ASSERT_TRUE(col.wait_done(id));
  EXPECT_EQ(col.get(id).finish, TANDEM_FINISH_LENGTH);
  EXPECT_EQ(col.get(id).tokens.size(), 60u);
}

TEST_F(EngineTest, StopTokensEosAndLogprobs) {
  create(tandem_engine_options{});
  const auto g = golden();
  const auto prompt = golden_prompt(g, 1);
  const auto want = g["cases"][1]["greedy"]["new_tokens"].get<std::vector<int32_t>>();
  tandem_request_params p = greedy_params(prompt, 24);
  const int32_t stop = want[5];
  p.stop_token_ids = &stop;
  p.num_stop_token_ids = 1;
  p.sampling.top_logprobs = 3;
  const uint64_t id = submit(p);
  ASSERT_TRUE(col.wait_done(id));
  const Result r = col.get(id);
  const size_t first = size_t(std::find(want.begin(), want.end(), stop) - want.begin());
  EXPECT_EQ(r.finish, TANDEM_FINISH_STOP);
  EXPECT_EQ(r.tokens, std::vector<int32_t>(want.begin(), want.begin() + int64_t(first) + 1));
  // Greedy: the chosen token is the best alternative, and its logprob is the top logprob.
  ASSERT_EQ(r.top_ids.size(), r.tokens.size());
  for (size_t i = 0; i < r.tokens.size(); ++i) {
    ASSERT_EQ(r.top_ids[i].size(), 3u);
    EXPECT_EQ(r.top_ids[i][0], r.tokens[i]);
    EXPECT_LT(r.logprobs[i], 0.f);
  }
  // With ignore_eos = 0 the config's eos (3) would stop too; it never occurs in this
  // continuation, so the request runs to LENGTH with the golden tokens.
  p.num_stop_token_ids = 0;
  p.ignore_eos = 0;
  const uint64_t id2 = submit(p);
  ASSERT_TRUE(col.wait_done(id2));
  EXPECT_EQ(col.get(id2).tokens, want);
}

TEST_F(EngineTest, CancelWhileWaitingAndReentrantCallsFromCallbacks) {
  tandem_engine_options o{};
  o.max_running = 1;
  create(o);
  const std::vector<int32_t> prompt = {5, 17, 42};
  // The first request's first callback holds the step thread until the test has cancelled the
  // second, so the second is certainly still waiting (no timing assumptions).
  struct Gate {
    std::promise<void> entered, release;
    std::shared_future<void> release_f = release.get_future().share();
    std::atomic<int> n{0};
    std::atomic<bool> done{false};
  } gate;
  auto gated = [](void* u, const tandem_token_event* e) {
    auto* g = static_cast<Gate*>(u);
    if (g->n++ == 0) {
      g->entered.set_value();
      g->release_f.wait();
    }
    if (e->finish != TANDEM_FINISH_NONE) g->done = true;
  };
  tandem_request_params p1 = greedy_params(prompt, 40);
  uint64_t first = 0;
  ASSERT_EQ(tandem_engine_submit(engine, &p1, gated, &gate, &first), TANDEM_STATUS_OK);
  const uint64_t second = submit(greedy_params(prompt, 40));  // waits: max_running = 1
  gate.entered.get_future().wait();
  const tandem_status cancelled = tandem_engine_cancel(engine, second);
  gate.release.set_value();  // before any ASSERT: a held step thread would hang TearDown
  ASSERT_EQ(cancelled, TANDEM_STATUS_OK);
  ASSERT_TRUE(col.wait_done(second));
  EXPECT_EQ(col.get(second).finish, TANDEM_FINISH_CANCELLED);
  EXPECT_TRUE(col.get(second).tokens.empty());
  for (int i = 0; i < 2000 && !gate.done; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(gate.n.load(), 40);

  // A callback may cancel (even itself) but may not block on the engine.
  struct Ctx {
    tandem_engine* engine;
    uint64_t id = 0;
    tandem_status logits_status = TANDEM_STATUS_OK, cancel_status = TANDEM_STATUS_INTERNAL;
    std::atomic<int> events{0};
    std::atomic<bool> done{false};
  } ctx{engine};
  auto cb = [](void* u, const tandem_token_event* e) {
    auto* c = static_cast<Ctx*>(u);
    if (c->events++ == 0) {
      float out[384];
      const int32_t t = 1;
      c->logits_status = tandem_engine_logits(c->engine, &t, 1, 0, out, 384);
      c->cancel_status = tandem_engine_cancel(c->engine, e->request_id);
    }
    if (e->finish != TANDEM_FINISH_NONE) c->done = true;
  };
  tandem_request_params p = greedy_params(prompt, 100);
  ASSERT_EQ(tandem_engine_submit(engine, &p, cb, &ctx, &ctx.id), TANDEM_STATUS_OK);
  for (int i = 0; i < 2000 && !ctx.done; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(ctx.done);
  EXPECT_EQ(ctx.logits_status, TANDEM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(ctx.cancel_status, TANDEM_STATUS_OK);
  EXPECT_LT(ctx.events.load(), 100);
}

TEST(EngineCreate, ErrorsAreClear) {
  tandem_engine* e = nullptr;
  tandem_engine_options o{};
  EXPECT_EQ(tandem_engine_create(&o, nullptr, nullptr, &e), TANDEM_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("model_dir"), std::string::npos);
  o.model_dir = "/nonexistent/model";
  EXPECT_NE(tandem_engine_create(&o, nullptr, nullptr, &e), TANDEM_STATUS_OK);
  EXPECT_EQ(e, nullptr);
  const std::string dir = tiny_dir();
  o.model_dir = dir.c_str();
  o.kv_memory_bytes = 4096;
  EXPECT_EQ(tandem_engine_create(&o, nullptr, nullptr, &e), TANDEM_STATUS_RESOURCE_EXHAUSTED);
  EXPECT_NE(last_error().find("kv_memory_bytes"), std::string::npos);
}

TEST(EngineCreate, InfoProgressAndFreeCancelsEverything) {
  const std::string dir = tiny_dir();
  tandem_engine_options o{};
  o.model_dir = dir.c_str();
  std::vector<std::string> stages;
  auto progress = [](void* u, float, const char* stage) { static_cast<std::vector<std::string>*>(u)->push_back(stage); };
  tandem_engine* e = nullptr;
  ASSERT_EQ(tandem_engine_create(&o, progress, &stages, &e), TANDEM_STATUS_OK) << last_error();
  ASSERT_FALSE(stages.empty());
  EXPECT_EQ(stages.back(), "kv");
  tandem_model_info info{};
  ASSERT_EQ(tandem_engine_get_info(e, &info), TANDEM_STATUS_OK);
  EXPECT_EQ(info.vocab_size, 384u);
  EXPECT_EQ(info.num_sliding_layers, 6u);
  EXPECT_EQ(info.num_full_layers, 2u);
  EXPECT_EQ(info.max_seq_len, 256u);
  EXPECT_EQ(info.block_size, 16u);
  EXPECT_EQ(info.eos_token_id, 3);
  EXPECT_GT(info.full_blocks_total, 0u);
  EXPECT_GT(info.sliding_blocks_total, 0u);
  EXPECT_LE(info.kv_bytes, uint64_t(512) << 20);
  Collector col;
  const std::vector<int32_t> prompt = {5, 6, 7};
  std::vector<uint64_t> ids;
  for (int i = 0; i < 5; ++i) {
    tandem_request_params p = greedy_params(prompt, 250);
    uint64_t id = 0;
    ASSERT_EQ(tandem_engine_submit(e, &p, &Collector::on_event, &col, &id), TANDEM_STATUS_OK);
    ids.push_back(id);
  }
  tandem_engine_free(e);
  for (uint64_t id : ids) {
    const Result r = col.get(id);
    EXPECT_EQ(r.finish, TANDEM_FINISH_CANCELLED);
    EXPECT_EQ(r.final_events, 1);
  }
}

}  // namespace
}  // namespace tandem::test
