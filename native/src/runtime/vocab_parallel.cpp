// Wire layout per rank, rows in order: Full = vocab_per_rank floats (the slice, zero padded);
// Candidates = {float max, float pad, double sum} then k x {int32 id, float logit} then
// n_top x {int32 id, float logit}, id -1 padding a slice with fewer tokens than asked.
#include "runtime/vocab_parallel.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace tandem {
namespace {

struct LsePartsWire {
  float max;
  float pad;
  double sum;
};

struct Entry {
  int32_t id;
  float logit;
};

void put_entries(uint8_t*& at, const std::vector<int32_t>& ids, const std::vector<float>& vals, int32_t k) {
  for (int32_t i = 0; i < k; ++i) {
    const Entry e = size_t(i) < ids.size() ? Entry{ids[size_t(i)], vals[size_t(i)]} : Entry{-1, 0.f};
    std::memcpy(at, &e, sizeof(e));
    at += sizeof(e);
  }
}

void take_entries(const uint8_t*& at, int32_t k, std::vector<int32_t>& ids, std::vector<float>& vals) {
  for (int32_t i = 0; i < k; ++i) {
    Entry e;
    std::memcpy(&e, at, sizeof(e));
    at += sizeof(e);
    if (e.id >= 0) ids.push_back(e.id), vals.push_back(e.logit);
  }
}

}  // namespace

size_t row_wire_bytes(const RowNeed& n, int64_t vocab_per_rank) {
  switch (n.kind) {
    case RowNeed::None: return 0;
    case RowNeed::Full: return size_t(vocab_per_rank) * sizeof(float);
    case RowNeed::Candidates:
      return sizeof(LsePartsWire) + (size_t(std::max(n.need.k, 0)) + size_t(std::max(n.need.n_top, 0))) * sizeof(Entry);
  }
  return 0;
}

void merge_vocab_parallel(dist::Communicator& comm, const LogitsSlice& s, std::span<const RowNeed> needs,
                          MergedRows* out) {
  if (int64_t(needs.size()) != s.rows)
    throw Error(TANDEM_STATUS_INTERNAL, "vocab-parallel merge: " + std::to_string(needs.size()) + " needs for " +
                                            std::to_string(s.rows) + " rows");
  const int64_t Vl = s.vocab_hi - s.vocab_lo;
  size_t per_rank = 0;
  for (const RowNeed& n : needs) per_rank += row_wire_bytes(n, s.vocab_per_rank);

  std::vector<uint8_t> send(per_rank, 0);
  uint8_t* at = send.data();
  std::vector<int32_t> ids;
  std::vector<float> vals;
  for (size_t r = 0; r < needs.size(); ++r) {
    const float* row = s.data + int64_t(r) * Vl;
    const RowNeed& n = needs[r];
    if (n.kind == RowNeed::Full) {
      std::memcpy(at, row, size_t(Vl) * sizeof(float));
      at += size_t(s.vocab_per_rank) * sizeof(float);
    } else if (n.kind == RowNeed::Candidates) {
      const LseParts p = lse_parts(row, Vl);
      const LsePartsWire w{p.max, 0.f, p.sum};
      std::memcpy(at, &w, sizeof(w));
      at += sizeof(w);
      ids.clear(), vals.clear();
      best_by_key(row, Vl, int32_t(s.vocab_lo), n.need.key_scale, n.need.k, ids, vals);
      put_entries(at, ids, vals, n.need.k);
      ids.clear(), vals.clear();
      best_by_key(row, Vl, int32_t(s.vocab_lo), 1.f, n.need.n_top, ids, vals);
      put_entries(at, ids, vals, n.need.n_top);
    }
  }

  const int world = comm.world_size();
  std::vector<uint8_t> all(comm.rank() == 0 ? per_rank * size_t(world) : 0);
  comm.gather(send.data(), per_rank, all.data());
  if (comm.rank() != 0 || !out) return;

  out->vocab = s.vocab;
  out->full.clear();
  out->full_row.assign(needs.size(), -1);
  out->candidates.assign(needs.size(), RowCandidates{});
  size_t offset = 0;  // of the row within each rank's part
  int64_t n_full = 0;
  for (size_t r = 0; r < needs.size(); ++r) {
    const RowNeed& n = needs[r];
    if (n.kind == RowNeed::Full) {
      out->full_row[r] = n_full++;
      out->full.resize(size_t(n_full * s.vocab));
      float* dst = out->full.data() + (n_full - 1) * s.vocab;
      for (int w = 0; w < world; ++w) {
        const int64_t lo = int64_t(w) * s.vocab_per_rank, len = std::max<int64_t>(0, std::min(s.vocab, lo + s.vocab_per_rank) - lo);
        std::memcpy(dst + lo, all.data() + size_t(w) * per_rank + offset, size_t(len) * sizeof(float));
      }
    } else if (n.kind == RowNeed::Candidates) {
      RowCandidates& c = out->candidates[r];
      std::vector<LseParts> parts(static_cast<size_t>(world));
      for (int w = 0; w < world; ++w) {
        const uint8_t* p = all.data() + size_t(w) * per_rank + offset;
        LsePartsWire lw;
        std::memcpy(&lw, p, sizeof(lw));
        p += sizeof(lw);
        parts[size_t(w)] = LseParts{lw.max, lw.sum};
        take_entries(p, n.need.k, c.ids, c.logits);
        take_entries(p, n.need.n_top, c.top_ids, c.top_logits);
      }
      keep_best_by_key(c.ids, c.logits, n.need.key_scale, n.need.k);
      keep_best_by_key(c.top_ids, c.top_logits, 1.f, n.need.n_top);
      c.lse = merge_lse(parts);
    }
    offset += row_wire_bytes(n, s.vocab_per_rank);
  }
}

}  // namespace tandem
