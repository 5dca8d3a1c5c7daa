// KV manager bookkeeping: pool sizing, sliding-window release, all-or-nothing allocation.
#include <gtest/gtest.h>

#include "runtime/kv_manager.h"
#include "util/status.h"

namespace tandem {
namespace {

KvGeometry tiny_geometry(int64_t B = 4, int64_t W = 6) {
  KvGeometry g;
  g.block_size = B;
  g.sliding_window = W;
  g.num_sliding_layers = 6;
  g.num_full_layers = 2;
  g.num_kv_heads = 2;
  g.head_dim = 16;
  return g;
}

TEST(KvPlan, SplitsBudgetSoBothPoolsServeTheSameNumberOfSequences) {
  const KvGeometry g = tiny_geometry(4, 6);
  // ns = min(ceil((6-1+8)/4)+1, 16) = 5, nf = ceil(64/4) = 16.
  const int64_t unit = 5 * g.sliding_block_bytes() + 16 * g.full_block_bytes();
  const KvPoolPlan p = plan_kv_pools(g, uint64_t(unit) * 10, 64, 8);
  EXPECT_EQ(p.sliding_per_seq, 5);
  EXPECT_EQ(p.full_per_seq, 16);
  EXPECT_EQ(p.full_blocks, 160);
  EXPECT_EQ(p.sliding_blocks, 50);
  EXPECT_LE(p.total_bytes, uint64_t(unit) * 10);
}

TEST(KvPlan, TooSmallBudgetIsResourceExhaustedAndSaysWhy) {
  const KvGeometry g = tiny_geometry();
  try {
    plan_kv_pools(g, 1000, 64, 8);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), TANDEM_STATUS_RESOURCE_EXHAUSTED);
    EXPECT_NE(std::string(e.what()).find("kv_memory_bytes"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("max_seq_len 64"), std::string::npos);
  }
}

TEST(KvManager, FullTableGrowsAndFreeReturnsEverything) {
  KvManager kv(tiny_geometry(4, 6), 10, 10);
  ASSERT_TRUE(kv.ensure(1, 9, 0));  // positions 0..8: 3 full blocks, sliding blocks 0..2
  EXPECT_EQ(kv.blocks(1)->full.size(), 3u);
  EXPECT_EQ(kv.blocks(1)->sliding.size(), 3u);
  EXPECT_EQ(kv.blocks(1)->sliding_first, 0);
  ASSERT_TRUE(kv.ensure(1, 10, 9));  // same blocks cover position 9
  EXPECT_EQ(kv.full_pool().used(), 3);
  kv.free(1);
  EXPECT_EQ(kv.full_pool().used(), 0);
  EXPECT_EQ(kv.sliding_pool().used(), 0);
  EXPECT_EQ(kv.blocks(1), nullptr);
}

TEST(KvManager, AllOrNothingWhenAPoolIsShort) {
  KvManager kv(tiny_geometry(4, 6), 10, 2);
  EXPECT_FALSE(kv.ensure(1, 9, 0));  // needs 3 full blocks, only 2
  EXPECT_EQ(kv.full_pool().used(), 0);
  EXPECT_EQ(kv.sliding_pool().used(), 0);
  EXPECT_EQ(kv.blocks(1), nullptr);
}

TEST(KvManager, ChunkStartingLateAllocatesOnlyTheWindowBehindIt) {
  KvManager kv(tiny_geometry(4, 6), 10, 10);
  // A chunk at [20, 24): the window reaches back to position 15 -> sliding blocks 3..5.
  const auto need = kv.need(7, 24, 20);
  EXPECT_EQ(need.sliding, 3);
  EXPECT_EQ(need.full, 6);
}

TEST(KvManager, LongDecodeHoldsAtMostWindowBlocksPlusOne) {
  for (int64_t B : {1, 2, 4, 16}) {
    for (int64_t W : {1, 2, 6, 17}) {
      KvManager kv(tiny_geometry(B, W), 1000, 1000);
      const int64_t bound = (W + B - 1) / B + 1;
      ASSERT_TRUE(kv.ensure(1, 3, 0));  // prefill 3 tokens
      kv.release_out_of_window(1, 3);
      for (int64_t pos = 3; pos < 300; ++pos) {
        ASSERT_TRUE(kv.ensure(1, pos + 1, pos));
        EXPECT_LE(kv.sliding_pool().used(), bound) << "B=" << B << " W=" << W << " pos=" << pos;
        const SeqBlocks* b = kv.blocks(1);
        // The chunk's window must be covered: logical block of max(0, pos-W+1) .. pos/B.
        EXPECT_LE(b->sliding_first, std::max<int64_t>(0, pos - W + 1) / B);
        EXPECT_EQ(b->sliding_first + int64_t(b->sliding.size()) - 1, pos / B);
        kv.release_out_of_window(1, pos + 1);
      }
      EXPECT_EQ(kv.full_pool().used(), (300 + B - 1) / B);
      kv.free(1);
      EXPECT_EQ(kv.sliding_pool().used(), 0);
      EXPECT_EQ(kv.full_pool().used(), 0);
    }
  }
}

TEST(KvManager, ModelWithoutSlidingLayersUsesNoSlidingBlocks) {
  KvGeometry g = tiny_geometry();
  g.num_sliding_layers = 0;
  KvManager kv(g, 10, 10);
  ASSERT_TRUE(kv.ensure(1, 8, 0));
  EXPECT_EQ(kv.sliding_pool().total(), 0);
  EXPECT_TRUE(kv.blocks(1)->sliding.empty());
  EXPECT_EQ(kv.full_pool().used(), 2);
}

}  // namespace
}  // namespace tandem
