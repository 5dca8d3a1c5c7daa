// Helpers for engine tests through the public C API: an event collector and golden loading.
#pragma once
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tandem/engine.h"

namespace tandem::test {

inline std::string tiny_dir() { return std::string(TANDEM_FIXTURES_DIR) + "/cohere2-tiny"; }

inline nlohmann::json golden() {
  std::ifstream f(tiny_dir() + "/golden.json");
  return nlohmann::json::parse(f);
}

inline std::string last_error() {
  char buf[4096];
  tandem_last_error(buf, sizeof buf);
  return buf;
}

struct Result {
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;
  std::vector<std::vector<int32_t>> top_ids;
  tandem_finish_reason finish = TANDEM_FINISH_NONE;
  uint32_t prompt_tokens = 0, completion_tokens = 0;
  std::string error;
  int final_events = 0;
};

// Collects events of many requests; the callback copies everything (pointers die after it).
class Collector {
 public:
  static void on_event(void* user, const tandem_token_event* e) {
    auto* self = static_cast<Collector*>(user);
    std::lock_guard<std::mutex> lk(self->mu_);
    Result& r = self->results_[e->request_id];
    for (uint32_t i = 0; i < e->n_tokens; ++i) {
      r.tokens.push_back(e->tokens[i]);
      r.logprobs.push_back(e->logprobs[i]);
      r.top_ids.emplace_back(e->top_ids + size_t(i) * e->n_top, e->top_ids + size_t(i + 1) * e->n_top);
    }
    r.prompt_tokens = e->prompt_tokens;
    r.completion_tokens = e->completion_tokens;
    if (e->finish != TANDEM_FINISH_NONE) {
      r.finish = e->finish;
      ++r.final_events;
      if (e->error) r.error = e->error;
    }
    self->cv_.notify_all();
  }
  // Waits until request `id` has at least n tokens or finished. False on timeout.
  bool wait_tokens(uint64_t id, size_t n, int seconds = 60) {
    std::unique_lock<std::mutex> lk(mu_);
    return cv_.wait_for(lk, std::chrono::seconds(seconds), [&] {
      auto it = results_.find(id);
      return it != results_.end() && (it->second.tokens.size() >= n || it->second.finish != TANDEM_FINISH_NONE);
    });
  }
  bool wait_done(uint64_t id, int seconds = 120) {
    std::unique_lock<std::mutex> lk(mu_);
    return cv_.wait_for(lk, std::chrono::seconds(seconds), [&] {
      auto it = results_.find(id);
      return it != results_.end() && it->second.finish != TANDEM_FINISH_NONE;
    });
  }
  Result get(uint64_t id) {
    std::lock_guard<std::mutex> lk(mu_);
    return results_[id];
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, Result> results_;
};

inline tandem_request_params greedy_params(const std::vector<int32_t>& prompt, uint32_t max_tokens) {
  tandem_request_params p{};
  p.prompt = prompt.data();
  p.prompt_len = uint32_t(prompt.size());
  p.max_tokens = max_tokens;
  p.sampling.top_p = 1.f;
  p.sampling.repetition_penalty = 1.f;
  p.ignore_eos = 1;
  return p;
}

// A test fixture that owns one engine and checks, after every test, that no KV block leaked.
class EngineTest : public ::testing::Test {
 protected:
  tandem_engine* engine = nullptr;
  Collector col;

  // threads = 0 here means 2: batching must be exact with a multi-threaded pool too.
  void create(tandem_engine_options o) {
    const std::string dir = tiny_dir();
    o.model_dir = dir.c_str();
    if (o.threads == 0) o.threads = 2;
    ASSERT_EQ(tandem_engine_create(&o, nullptr, nullptr, &engine), TANDEM_STATUS_OK) << last_error();
  }
  uint64_t submit(const tandem_request_params& p) {
    uint64_t id = 0;
    EXPECT_EQ(tandem_engine_submit(engine, &p, &Collector::on_event, &col, &id), TANDEM_STATUS_OK) << last_error();
    return id;
  }
  // Runs one greedy request alone to completion.
  std::vector<int32_t> run_alone(const tandem_request_params& p) {
    const uint64_t id = submit(p);
    EXPECT_TRUE(col.wait_done(id));
    return col.get(id).tokens;
  }
  tandem_engine_stats stats() {
    tandem_engine_stats s{};
    EXPECT_EQ(tandem_engine_get_stats(engine, &s), TANDEM_STATUS_OK);
    return s;
  }
  void TearDown() override {
    if (!engine) return;
    const tandem_engine_stats s = stats();
    EXPECT_EQ(s.sliding_blocks_used, 0u);
    EXPECT_EQ(s.full_blocks_used, 0u);
    EXPECT_EQ(s.running, 0u);
    EXPECT_EQ(s.waiting, 0u);
    tandem_engine_free(engine);
  }
};

}  // namespace tandem::test
