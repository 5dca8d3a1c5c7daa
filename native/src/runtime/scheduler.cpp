#include "runtime/scheduler.h"

#include <algorithm>

#include "util/status.h"

namespace tandem {

Scheduler::Scheduler(const SchedulerLimits& limits, KvManager& kv) : limits_(limits), kv_(kv) {
  if (limits_.max_batch_tokens < 1 || limits_.max_running < 1)
    throw Error(TANDEM_STATUS_INVALID_ARGUMENT, "scheduler: max_batch_tokens and max_running must be >= 1");
}

void Scheduler::add(SchedSeq seq) {
  if (seq.tokens.empty()) throw Error(TANDEM_STATUS_INVALID_ARGUMENT, "prompt: must not be empty");
  if (seqs_.count(seq.id)) throw Error(TANDEM_STATUS_INTERNAL, "scheduler: duplicate request id");
  seq.arrival = next_arrival_++;
  seq.num_computed = 0;
  const Key k = key_of(seq);
  seqs_.emplace(seq.id, std::move(seq));
  waiting_.insert(k);
}

bool Scheduler::remove(uint64_t id) {
  auto it = seqs_.find(id);
  if (it == seqs_.end()) return false;
  waiting_.erase(key_of(it->second));
  running_.erase(std::remove(running_.begin(), running_.end(), id), running_.end());
  kv_.free(id);
  seqs_.erase(it);
  return true;
}

void Scheduler::insert_running(uint64_t id) {
  const Key k = key_of(seqs_.at(id));
  auto pos = std::upper_bound(running_.begin(), running_.end(), k,
                              [&](const Key& a, uint64_t b) { return a < key_of(seqs_.at(b)); });
  running_.insert(pos, id);
}

// Frees the victim's blocks and sends it back to waiting; its generated tokens stay in `tokens`
// and are recomputed as prompt when it is admitted again. A chunk already planned for it this
// step is withdrawn and its tokens returned to the budget.
void Scheduler::preempt(uint64_t id, StepPlan& plan, int64_t& budget) {
  SchedSeq& s = seqs_.at(id);
  auto c = std::find_if(plan.chunks.begin(), plan.chunks.end(), [&](const ScheduledChunk& x) { return x.id == id; });
  if (c != plan.chunks.end()) {
    budget += c->n;
    plan.num_tokens -= c->n;
    plan.chunks.erase(c);
  }
  running_.erase(std::remove(running_.begin(), running_.end(), id), running_.end());
  kv_.free(id);
  s.num_computed = 0;
  waiting_.insert(key_of(s));
  plan.preempted.push_back(id);
  ++preemptions_;
}

// Plans the next chunk of a running sequence; returns false if it was itself preempted.
bool Scheduler::schedule_running(uint64_t id, StepPlan& plan, int64_t& budget) {
  SchedSeq& s = seqs_.at(id);
  const int64_t remaining = int64_t(s.tokens.size()) - s.num_computed;
  const int64_t n = std::min(remaining, budget);
  while (!kv_.ensure(id, s.num_computed + n, s.num_computed)) {
    const uint64_t victim = running_.back();
    preempt(victim, plan, budget);
    if (victim == id) return false;
  }
  plan.chunks.push_back(ScheduledChunk{id, s.num_computed, n, s.num_computed + n == int64_t(s.tokens.size())});
  plan.num_tokens += n;
  budget -= n;
  return true;
}

StepPlan Scheduler::schedule() {
  StepPlan plan;
  int64_t budget = limits_.max_batch_tokens;
  // Pass 0: decodes (one token left to compute); pass 1: partial prefills.
  for (int pass = 0; pass < 2; ++pass) {
    const std::vector<uint64_t> order = running_;  // preemption edits running_ while we walk
    for (uint64_t id : order) {
      if (budget <= 0) break;
      if (std::find(running_.begin(), running_.end(), id) == running_.end()) continue;  // preempted
      const SchedSeq& s = seqs_.at(id);
      const int64_t remaining = int64_t(s.tokens.size()) - s.num_computed;
      if (remaining <= 0 || (remaining == 1) != (pass == 0)) continue;
      schedule_running(id, plan, budget);
    }
  }
  if (!plan.preempted.empty()) return plan;  // blocks are short: admitting now would thrash
  while (budget > 0 && int64_t(running_.size()) < limits_.max_running && !waiting_.empty()) {
    const Key k = *waiting_.begin();
    SchedSeq& s = seqs_.at(k.id);
    const int64_t n = std::min<int64_t>(int64_t(s.tokens.size()), budget);
    if (!kv_.ensure(k.id, n, 0)) break;  // strict priority order: nobody overtakes the head
    waiting_.erase(waiting_.begin());
    insert_running(k.id);
    s.num_computed = 0;
    plan.chunks.push_back(ScheduledChunk{k.id, 0, n, n == int64_t(s.tokens.size())});
    plan.num_tokens += n;
    budget -= n;
  }
  return plan;
}

void Scheduler::commit(const StepPlan& plan) {
  for (const ScheduledChunk& c : plan.chunks) {
    auto it = seqs_.find(c.id);
    if (it == seqs_.end()) continue;  // removed since (cancelled during the step)
    it->second.num_computed = c.start + c.n;
    kv_.release_out_of_window(c.id, it->second.num_computed);
  }
}

void Scheduler::append_token(uint64_t id, int32_t token) { seqs_.at(id).tokens.push_back(token); }

const SchedSeq* Scheduler::get(uint64_t id) const {
  auto it = seqs_.find(id);
  return it == seqs_.end() ? nullptr : &it->second;
}

std::vector<uint64_t> Scheduler::all_ids() const {
  std::vector<uint64_t> ids;
  ids.reserve(seqs_.size());
  for (const auto& [id, s] : seqs_) ids.push_back(id);
  return ids;
}

}  // namespace tandem
