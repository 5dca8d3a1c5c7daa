// Validation of public request and option structs at the C API edge. Every problem is reported
// (not just the first), each naming its field, e.g. "prompt[3]: token id 500 >= vocab_size 384".
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tandem/engine.h"

namespace tandem {

struct RequestLimits {
  int64_t vocab_size = 0;
  int64_t max_seq_len = 0;
};

// All problems with a generation request; empty when valid.
std::vector<std::string> validate_request(const tandem_request_params& p, const RequestLimits& limits);
// All problems with a logits request (tokens, n_tokens, out_len).
std::vector<std::string> validate_logits_request(const int32_t* tokens, uint32_t n_tokens, uint8_t all_positions,
                                                 const float* out, size_t out_len, const RequestLimits& limits);
// Throws Error(INVALID_ARGUMENT) with the problems joined by "; " when there are any.
void throw_if_invalid(const std::vector<std::string>& problems);

}  // namespace tandem
