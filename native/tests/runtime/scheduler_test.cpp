// Scheduler step tables with no model (vLLM tests/v1/core style): a fake "forward" commits the
// plan and appends a deterministic token to every sequence whose chunk completed.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "runtime/scheduler.h"

namespace tandem {
namespace {

KvGeometry geo(int64_t B = 4, int64_t W = 6) {
  KvGeometry g;
  g.block_size = B;
  g.sliding_window = W;
  g.num_sliding_layers = 3;
  g.num_full_layers = 1;
  g.num_kv_heads = 1;
  g.head_dim = 4;
  return g;
}

SchedSeq seq(uint64_t id, int64_t prompt_len, int32_t priority = 0) {
  SchedSeq s;
  s.id = id;
  s.priority = priority;
  for (int64_t i = 0; i < prompt_len; ++i) s.tokens.push_back(int32_t(i % 50));
  return s;
}

// The token a request produces as its k-th output: lets tests check no output is lost.
int32_t fake_token(uint64_t id, size_t k) { return int32_t(1000 + id * 100 + k); }

struct Harness {
  KvManager kv;
  Scheduler sched;
  std::map<uint64_t, size_t> prompt_len, want, got;
  Harness(int32_t sliding, int32_t full, SchedulerLimits lim, KvGeometry g = geo())
      : kv(g, sliding, full), sched(lim, kv) {}
  void add(uint64_t id, int64_t plen, size_t max_new, int32_t prio = 0) {
    sched.add(seq(id, plen, prio));
    prompt_len[id] = size_t(plen);
    want[id] = max_new;
  }
  // One step; returns the plan as "id:start+n" strings for compact step tables.
  std::vector<std::string> step(StepPlan* out = nullptr) {
    StepPlan p = sched.schedule();
    sched.commit(p);
    std::vector<std::string> desc;
    for (const auto& c : p.chunks) {
      desc.push_back(std::to_string(c.id) + ":" + std::to_string(c.start) + "+" + std::to_string(c.n));
      if (!c.completes) continue;
      const SchedSeq* s = sched.get(c.id);
      const size_t k = s->tokens.size() - prompt_len[c.id];
      sched.append_token(c.id, fake_token(c.id, k));
      if (++got[c.id] >= want[c.id]) {
        // Check the full history survived any preemption before finishing.
        const SchedSeq* f = sched.get(c.id);
        for (size_t j = 0; j < want[c.id]; ++j) EXPECT_EQ(f->tokens[prompt_len[c.id] + j], fake_token(c.id, j));
        sched.remove(c.id);
      }
    }
    if (out) *out = p;
    return desc;
  }
};

using Plan = std::vector<std::string>;

TEST(Scheduler, DecodesFirstThenPartialPrefillsThenAdmissionWithinBudget) {
  Harness h(100, 100, {8, 64});
  h.add(1, 5, 3);
  h.add(2, 10, 3);
  EXPECT_EQ(h.step(), (Plan{"1:0+5", "2:0+3"}));  // 1 fully prefilled, 2 chunked
  h.add(3, 4, 2);
  EXPECT_EQ(h.step(), (Plan{"1:5+1", "2:3+7"}));  // decode first, then 2's rest; budget full
  EXPECT_EQ(h.step(), (Plan{"1:6+1", "2:10+1", "3:0+4"}));
  EXPECT_EQ(h.step(), (Plan{"2:11+1", "3:4+1"}));  // 1 finished after 3 tokens; 2 and 3 now
  EXPECT_EQ(h.step(), (Plan{}));
  EXPECT_FALSE(h.sched.has_work());
  EXPECT_EQ(h.kv.full_pool().used(), 0);
  EXPECT_EQ(h.kv.sliding_pool().used(), 0);
}

TEST(Scheduler, AdmitsByPriorityThenArrival) {
  Harness h(100, 100, {4, 64});
  h.add(1, 4, 1, 0);
  h.add(2, 4, 1, 5);
  h.add(3, 4, 1, 5);
  h.add(4, 4, 1, 9);
  EXPECT_EQ(h.step(), (Plan{"4:0+4"}));
  EXPECT_EQ(h.step(), (Plan{"2:0+4"}));
  EXPECT_EQ(h.step(), (Plan{"3:0+4"}));
  EXPECT_EQ(h.step(), (Plan{"1:0+4"}));
}

TEST(Scheduler, RespectsMaxRunning) {
  Harness h(100, 100, {64, 2});
  h.add(1, 2, 3);
  h.add(2, 2, 3);
  h.add(3, 2, 3);
  EXPECT_EQ(h.step(), (Plan{"1:0+2", "2:0+2"}));
  EXPECT_EQ(h.sched.num_waiting(), 1u);
  EXPECT_EQ(h.step(), (Plan{"1:2+1", "2:2+1"}));
  EXPECT_EQ(h.step(), (Plan{"1:3+1", "2:3+1"}));  // both finish (3 tokens each)
  EXPECT_EQ(h.step(), (Plan{"3:0+2"}));
}

TEST(Scheduler, PreemptsLowestPriorityLatestAndKeepsGeneratedTokens) {
  // Full pool of 4 blocks of 4 positions: two sequences of 8 fit, growth past that does not.
  Harness h(100, 4, {64, 64});
  h.add(1, 7, 4, 1);
  h.add(2, 7, 4, 0);
  EXPECT_EQ(h.step(), (Plan{"1:0+7", "2:0+7"}));
  EXPECT_EQ(h.step(), (Plan{"1:7+1", "2:7+1"}));
  StepPlan p;
  // 1 needs a third block at position 8; 2 (lower priority) is preempted, then 1 decodes.
  EXPECT_EQ(h.step(&p), (Plan{"1:8+1"}));
  EXPECT_EQ(p.preempted, (std::vector<uint64_t>{2}));
  EXPECT_EQ(h.sched.preemptions(), 1u);
  const SchedSeq* s2 = h.sched.get(2);
  ASSERT_NE(s2, nullptr);
  EXPECT_EQ(s2->num_computed, 0);
  EXPECT_EQ(s2->tokens.size(), 9u);  // 7 prompt + 2 generated, recomputed later as prompt
  EXPECT_EQ(h.sched.num_waiting(), 1u);
  EXPECT_EQ(h.step(), (Plan{"1:9+1"}));  // 1 done (4 tokens): blocks back
  EXPECT_EQ(h.step(), (Plan{"2:0+9"}));  // recompute prompt + generated, samples token 3
  EXPECT_EQ(h.step(), (Plan{"2:9+1"}));
  EXPECT_FALSE(h.sched.has_work());
  EXPECT_EQ(h.kv.full_pool().used(), 0);
}

TEST(Scheduler, PreemptsItselfWhenItIsTheLowestPriority) {
  Harness h(100, 4, {64, 64});
  h.add(1, 6, 10, 5);
  h.add(2, 7, 10, 0);
  EXPECT_EQ(h.step(), (Plan{"1:0+6", "2:0+7"}));  // 2 + 2 full blocks: the pool is full
  EXPECT_EQ(h.step(), (Plan{"1:6+1", "2:7+1"}));
  StepPlan p;
  // 1 still fits its blocks; 2 needs a third block and is itself the lowest priority.
  EXPECT_EQ(h.step(&p), (Plan{"1:7+1"}));
  EXPECT_EQ(p.preempted, (std::vector<uint64_t>{2}));
  EXPECT_EQ(h.sched.num_running(), 1u);
  EXPECT_EQ(h.kv.full_pool().used(), 2);
}

TEST(Scheduler, RemoveFromWaitingAndRunningFreesBlocks) {
  Harness h(100, 100, {8, 64});
  h.add(1, 6, 10);
  h.add(2, 6, 10);
  h.step();  // 1 fully, 2 partially
  EXPECT_GT(h.kv.full_pool().used(), 0);
  h.add(3, 3, 1);
  EXPECT_TRUE(h.sched.remove(3));  // waiting
  EXPECT_TRUE(h.sched.remove(2));  // running, partial prefill
  EXPECT_TRUE(h.sched.remove(1));  // running
  EXPECT_FALSE(h.sched.remove(1));
  EXPECT_EQ(h.kv.full_pool().used(), 0);
  EXPECT_EQ(h.kv.sliding_pool().used(), 0);
  EXPECT_FALSE(h.sched.has_work());
}

TEST(Scheduler, RandomLoadUnderTinyPoolsFinishesEverythingWithoutLosingTokens) {
  const KvGeometry g = geo(4, 6);
  const int64_t max_seq_len = 48, max_batch = 16;
  const KvPoolPlan plan = plan_kv_pools(g, uint64_t(5 * g.sliding_block_bytes() + 12 * g.full_block_bytes()) * 2,
                                        max_seq_len, max_batch);
  Harness h(plan.sliding_blocks, plan.full_blocks, {max_batch, 8}, g);
  std::mt19937 rng(7);
  uint64_t next = 1;
  for (int stepno = 0; stepno < 2000 && (next <= 40 || h.sched.has_work()); ++stepno) {
    if (next <= 40 && rng() % 3 == 0) {
      const int64_t plen = 1 + int64_t(rng() % 30);
      const size_t max_new = 1 + rng() % size_t(max_seq_len - plen);
      h.add(next, plen, max_new, int32_t(rng() % 3));
      ++next;
    }
    h.step();
    EXPECT_LE(h.kv.full_pool().used(), plan.full_blocks);
  }
  EXPECT_FALSE(h.sched.has_work());
  for (const auto& [id, n] : h.want) EXPECT_EQ(h.got[id], n) << "request " << id;
  EXPECT_GT(h.sched.preemptions(), 0u);
  EXPECT_EQ(h.kv.full_pool().used(), 0);
  EXPECT_EQ(h.kv.sliding_pool().used(), 0);
}

}  // namespace
}  // namespace tandem
