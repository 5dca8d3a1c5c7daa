// Continuous-batching scheduler after vLLM v1: a request is its token list (prompt + output so
// far) and how many of those tokens are in the KV cache. Each step computes, per scheduled
// sequence, a contiguous chunk of the tokens not yet computed; when a chunk reaches the end of the
// list the engine samples one more token from its last logits row. Prefill and decode are the
// same thing with different chunk lengths, and preemption by recomputation is just "forget the
// cache" (num_computed := 0, generated tokens stay in the list and are recomputed as prompt).
//
// Pure: no threads, no model. schedule() turns state into a StepPlan; commit() applies the
// plan after the forward pass. The KV manager is the only resource it reserves.
#pragma once
#include <cstddef>
#include <cstdint>
#include <set>
#include <unordered_map>
#include <vector>

#include "runtime/kv_manager.h"

namespace tandem {

struct SchedSeq {
  uint64_t id = 0;
  int32_t priority = 0;            // larger first
  std::vector<int32_t> tokens;     // prompt + generated so far
  int64_t num_computed = 0;        // tokens[0, num_computed) are in the KV cache
  bool prefill_only = false;       // a logits request: never samples
  uint64_t arrival = 0;            // set by Scheduler::add; ties between equal priorities
};

struct ScheduledChunk {
  uint64_t id = 0;
  int64_t start = 0;  // first position computed this step (== num_computed at schedule time)
  int64_t n = 0;      // tokens computed this step
  bool completes = false;  // start + n == tokens.size(): the last row's logits are "next token"
};

struct StepPlan {
  std::vector<ScheduledChunk> chunks;  // decodes first, then prefill chunks, in priority order
  std::vector<uint64_t> preempted;     // sent back to waiting this step, blocks freed
  int64_t num_tokens = 0;
  bool empty() const { return chunks.empty(); }
};

struct SchedulerLimits {
  int64_t max_batch_tokens = 512;  // tokens computed per step
  int64_t max_running = 64;        // sequences holding KV blocks at once
};

class Scheduler {
 public:
  Scheduler(const SchedulerLimits& limits, KvManager& kv);

  // Queues a request (tokens non-empty; the caller validated that it fits alone).
  void add(SchedSeq seq);
  // Removes a request from waiting or running and frees its blocks. False if unknown.
  bool remove(uint64_t id);
  // Plans one step: decodes of running sequences (1 token each), then running partial prefills,
  // then admission from the waiting queue, within max_batch_tokens, max_running and free
  // blocks. A running sequence that cannot get its blocks preempts the lowest-priority,
  // latest-arrived running sequence (possibly itself) until it can. Nothing is admitted in a
  // step that preempted.
  StepPlan schedule();
  // After the forward: advances num_computed and returns out-of-window sliding blocks.
  void commit(const StepPlan& plan);
  // Appends a sampled token to a running request (after commit of a completing chunk).
  void append_token(uint64_t id, int32_t token);

  const SchedSeq* get(uint64_t id) const;
  size_t num_waiting() const { return waiting_.size(); }
  size_t num_running() const { return running_.size(); }
  bool has_work() const { return !waiting_.empty() || !running_.empty(); }
  uint64_t preemptions() const { return preemptions_; }
  std::vector<uint64_t> all_ids() const;  // waiting and running, in no particular order
  const KvManager& kv() const { return kv_; }

 private:
  struct Key {
    int32_t priority;
    uint64_t arrival;
    uint64_t id;
    bool operator<(const Key& o) const {
      if (priority != o.priority) return priority > o.priority;
      return arrival < o.arrival;
    }
  };
  Key key_of(const SchedSeq& s) const { return Key{s.priority, s.arrival, s.id}; }
  void insert_running(uint64_t id);
  void preempt(uint64_t id, StepPlan& plan, int64_t& budget);
  bool schedule_running(uint64_t id, StepPlan& plan, int64_t& budget);

  SchedulerLimits limits_;
  KvManager& kv_;
  std::unordered_map<uint64_t, SchedSeq> seqs_;
  std::set<Key> waiting_;
  std::vector<uint64_t> running_;  // sorted by Key: back() is the preemption victim
  uint64_t next_arrival_ = 0;
  uint64_t preemptions_ = 0;
};

}  // namespace tandem
