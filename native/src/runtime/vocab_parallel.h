// Vocab-parallel logits under tensor parallelism (reference §5): each rank holds the logits of its
// vocabulary slice; rank 0 gets per row only what its sampling needs, in one gather per step:
//   None        the row is not sampled this step (a prefill chunk that does not end its prompt)
//   Full        the whole row (logits requests, penalties, sampling without a small top_k)
//   Candidates  each rank's best k by key and best n_top by raw logit, plus its log-sum-exp parts;
//               rank 0 merges them into the RowCandidates a single rank would build from the whole
//               row (sampler.h), so tokens equal TP=1 without moving the vocabulary.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "dist/comm.h"
#include "runtime/sampler.h"

namespace tandem {

struct RowNeed {
  enum Kind : uint8_t { None = 0, Full = 1, Candidates = 2 };
  Kind kind = None;
  CandidateNeed need;  // Candidates only
};

// This rank's logits: rows x (vocab_hi - vocab_lo), row-major.
struct LogitsSlice {
  const float* data = nullptr;
  int64_t rows = 0, vocab_lo = 0, vocab_hi = 0;
  int64_t vocab_per_rank = 0;  // the padded slice width every rank sends for a Full row
  int64_t vocab = 0;
};

// What rank 0 ends up with, indexed by row.
struct MergedRows {
  std::vector<float> full;              // Full rows, vocab floats each, in row order
  std::vector<int64_t> full_row;        // row -> index into `full` rows, or -1
  std::vector<RowCandidates> candidates;  // row -> merged candidates (empty unless Candidates)
  const float* full_of(size_t row) const { return full.data() + full_row[row] * vocab; }
  int64_t vocab = 0;
};

// Collective: every rank calls it with the same needs (one per row of its slice). Rank 0 fills
// `out` (ignored elsewhere). Throws dist::CommError when the group fails.
void merge_vocab_parallel(dist::Communicator& comm, const LogitsSlice& slice, std::span<const RowNeed> needs,
                          MergedRows* out);

// Bytes one rank sends for a row (the same on every rank).
size_t row_wire_bytes(const RowNeed& n, int64_t vocab_per_rank);

}  // namespace tandem
