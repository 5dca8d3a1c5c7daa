// Request validation names every bad field, all at once.
#include <gtest/gtest.h>

#include <cmath>

#include "runtime/validate.h"

namespace tandem {
namespace {

tandem_request_params good(const std::vector<int32_t>& prompt) {
  tandem_request_params p{};
  p.prompt = prompt.data();
  p.prompt_len = uint32_t(prompt.size());
  p.max_tokens = 4;
  p.sampling.top_p = 1.f;
  p.sampling.repetition_penalty = 1.f;
  return p;
}

bool has(const std::vector<std::string>& v, const std::string& s) {
  for (const auto& x : v)
    if (x == s) return true;
  return false;
}

const RequestLimits kLimits{384, 64};

TEST(Validate, GoodRequestHasNoProblems) {
  std::vector<int32_t> prompt = {1, 2, 383};
  EXPECT_TRUE(validate_request(good(prompt), kLimits).empty());
}

TEST(Validate, ListsEveryProblemWithItsField) {
  std::vector<int32_t> prompt = {1, 2, 3, 500, -1};
  tandem_request_params p = good(prompt);
  p.max_tokens = 0;
  p.sampling.temperature = NAN;
  p.sampling.top_p = 0.f;
  p.sampling.min_p = 1.5f;
  p.sampling.top_k = -1;
  p.sampling.repetition_penalty = 0.f;
  p.sampling.frequency_penalty = 3.f;
  p.sampling.presence_penalty = INFINITY;
  p.sampling.top_logprobs = 21;
  const auto e = validate_request(p, kLimits);
  EXPECT_TRUE(has(e, "prompt[3]: token id 500 >= vocab_size 384"));
  EXPECT_TRUE(has(e, "prompt[4]: token id -1 must be >= 0"));
  EXPECT_TRUE(has(e, "max_tokens: must be >= 1"));
  EXPECT_TRUE(has(e, "sampling.temperature: must be a finite number >= 0"));
  EXPECT_TRUE(has(e, "sampling.top_p: must be in (0, 1]"));
  EXPECT_TRUE(has(e, "sampling.min_p: must be in [0, 1]"));
  EXPECT_TRUE(has(e, "sampling.top_k: must be >= 0"));
  EXPECT_TRUE(has(e, "sampling.repetition_penalty: must be a finite number > 0"));
  EXPECT_TRUE(has(e, "sampling.frequency_penalty: must be a finite number in [-2, 2]"));
  EXPECT_TRUE(has(e, "sampling.presence_penalty: must be a finite number in [-2, 2]"));
  EXPECT_TRUE(has(e, "sampling.top_logprobs: must be <= 20"));
  EXPECT_EQ(e.size(), 11u);
}

TEST(Validate, EmptyPromptAndTooLong) {
  std::vector<int32_t> none;
  EXPECT_TRUE(has(validate_request(good(none), kLimits), "prompt: must not be empty"));
  std::vector<int32_t> prompt(60, 1);
  tandem_request_params p = good(prompt);
  p.max_tokens = 5;
  EXPECT_TRUE(has(validate_request(p, kLimits), "max_tokens: prompt_len 60 + max_tokens 5 exceeds max_seq_len 64"));
}

TEST(Validate, StopTokensAndLogitsRequests) {
  std::vector<int32_t> prompt = {1};
  std::vector<int32_t> stops = {3, 999};
  tandem_request_params p = good(prompt);
  p.stop_token_ids = stops.data();
  p.num_stop_token_ids = 2;
  EXPECT_TRUE(has(validate_request(p, kLimits), "stop_token_ids[1]: token id 999 >= vocab_size 384"));
  std::vector<float> out(384);
  EXPECT_TRUE(validate_logits_request(prompt.data(), 1, 0, out.data(), out.size(), kLimits).empty());
  const auto e = validate_logits_request(prompt.data(), 1, 1, out.data(), 100, kLimits);
  EXPECT_TRUE(has(e, "out_len: 100 is less than the 384 floats needed"));
}

}  // namespace
}  // namespace tandem
