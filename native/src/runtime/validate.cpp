#include "runtime/validate.h"

#include <cmath>

#include "util/status.h"

namespace tandem {

namespace {

// Checks token ids; stops listing after a few so one bad paste does not make a megabyte message.
void check_tokens(const char* field, const int32_t* ids, uint32_t n, int64_t vocab, std::vector<std::string>& out) {
  int reported = 0;
  for (uint32_t i = 0; i < n; ++i) {
    const int32_t t = ids[i];
    if (t >= 0 && t < vocab) continue;
    if (++reported > 8) {
      out.push_back(std::string(field) + ": more invalid token ids omitted");
      return;
    }
    const std::string where = std::string(field) + "[" + std::to_string(i) + "]: token id " + std::to_string(t);
    out.push_back(t < 0 ? where + " must be >= 0" : where + " >= vocab_size " + std::to_string(vocab));
  }
}

}  // namespace

std::vector<std::string> validate_request(const tandem_request_params& p, const RequestLimits& limits) {
  std::vector<std::string> e;
  if (p.prompt_len == 0) e.push_back("prompt: must not be empty");
  else if (!p.prompt) e.push_back("prompt: is NULL but prompt_len is " + std::to_string(p.prompt_len));
  else check_tokens("prompt", p.prompt, p.prompt_len, limits.vocab_size, e);
  if (p.max_tokens < 1) e.push_back("max_tokens: must be >= 1");
  if (p.prompt_len > 0 && p.max_tokens >= 1 && int64_t(p.prompt_len) + int64_t(p.max_tokens) > limits.max_seq_len)
    e.push_back("max_tokens: prompt_len " + std::to_string(p.prompt_len) + " + max_tokens " +
                std::to_string(p.max_tokens) + " exceeds max_seq_len " + std::to_string(limits.max_seq_len));
  const tandem_sampling_params& s = p.sampling;
  if (!std::isfinite(s.temperature) || s.temperature < 0)
    e.push_back("sampling.temperature: must be a finite number >= 0");
  if (s.top_k < 0) e.push_back("sampling.top_k: must be >= 0");
  if (!(s.top_p > 0 && s.top_p <= 1)) e.push_back("sampling.top_p: must be in (0, 1]");
  if (!(s.min_p >= 0 && s.min_p <= 1)) e.push_back("sampling.min_p: must be in [0, 1]");
  if (!std::isfinite(s.repetition_penalty) || s.repetition_penalty <= 0)
    e.push_back("sampling.repetition_penalty: must be a finite number > 0");
  if (!(s.frequency_penalty >= -2 && s.frequency_penalty <= 2))
    e.push_back("sampling.frequency_penalty: must be a finite number in [-2, 2]");
  if (!(s.presence_penalty >= -2 && s.presence_penalty <= 2))
    e.push_back("sampling.presence_penalty: must be a finite number in [-2, 2]");
  if (s.top_logprobs > 20) e.push_back("sampling.top_logprobs: must be <= 20");
  if (p.num_stop_token_ids > 0 && !p.stop_token_ids)
    e.push_back("stop_token_ids: is NULL but num_stop_token_ids is " + std::to_string(p.num_stop_token_ids));
  else if (p.num_stop_token_ids > 0)
    check_tokens("stop_token_ids", p.stop_token_ids, p.num_stop_token_ids, limits.vocab_size, e);
  return e;
}

std::vector<std::string> validate_logits_request(const int32_t* tokens, uint32_t n_tokens, uint8_t all_positions,
                                                 const float* out, size_t out_len, const RequestLimits& limits) {
  std::vector<std::string> e;
  if (n_tokens == 0) e.push_back("tokens: must not be empty");
  else if (!tokens) e.push_back("tokens: is NULL but n_tokens is " + std::to_string(n_tokens));
  else check_tokens("tokens", tokens, n_tokens, limits.vocab_size, e);
  if (int64_t(n_tokens) > limits.max_seq_len)
    e.push_back("n_tokens: " + std::to_string(n_tokens) + " exceeds max_seq_len " + std::to_string(limits.max_seq_len));
  const uint64_t need = uint64_t(limits.vocab_size) * (all_positions ? uint64_t(n_tokens) : 1u);
  if (!out) e.push_back("out: must not be NULL");
  else if (out_len < need)
    e.push_back("out_len: " + std::to_string(out_len) + " is less than the " + std::to_string(need) + " floats needed");
  return e;
}

void throw_if_invalid(const std::vector<std::string>& problems) {
  if (problems.empty()) return;
  std::string msg;
  for (const auto& p : problems) msg += (msg.empty() ? "" : "; ") + p;
  throw Error(TANDEM_STATUS_INVALID_ARGUMENT, msg);
}

}  // namespace tandem
