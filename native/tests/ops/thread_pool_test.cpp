// ThreadPool: every index exactly once, chunk sizes, exceptions, reuse, nesting, sizing.
#include "util/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "util/status.h"

using tandem::ThreadPool;

TEST(ThreadPool, CoversEveryIndexExactlyOnceWithChunksNoSmallerThanMinChunk) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    for (int64_t n : {1, 2, 3, 7, 17, 64, 1000, 100003}) {
      for (int64_t min_chunk : {1, 3, 64, 1000}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        std::atomic<int64_t> smallest{n};
        pool.parallel_for(n, min_chunk, [&](int64_t b, int64_t e) {
          ASSERT_LT(b, e);
          int64_t len = e - b, cur = smallest.load();
          while (len < cur && !smallest.compare_exchange_weak(cur, len)) {
          }
          for (int64_t i = b; i < e; i++) hits[size_t(i)]++;
        });
        for (int64_t i = 0; i < n; i++) ASSERT_EQ(hits[size_t(i)].load(), 1) << "i=" << i << " n=" << n;
        EXPECT_GE(smallest.load(), std::min(n, min_chunk)) << "n=" << n << " min_chunk=" << min_chunk;
      }
    }
  }
}

TEST(ThreadPool, ZeroOrNegativeNRunsNothing) {
  ThreadPool pool(2);
  int calls = 0;
  pool.parallel_for(0, 1, [&](int64_t, int64_t) { calls++; });
  pool.parallel_for(-5, 1, [&](int64_t, int64_t) { calls++; });
  EXPECT_EQ(calls, 0);
}

TEST(ThreadPool, RunsChunksOnSeveralThreads) {
  ThreadPool pool(3);
  std::mutex mu;
  std::set<std::thread::id> ids;
  pool.parallel_for(48, 1, [&](int64_t, int64_t) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    std::lock_guard<std::mutex> lk(mu);
    ids.insert(std::this_thread::get_id());
  });
  EXPECT_GE(ids.size(), 2u);
}

TEST(ThreadPool, PropagatesAChunkExceptionAndStaysUsable) {
  ThreadPool pool(3);
  for (int rep = 0; rep < 20; rep++) {
    try {
      pool.parallel_for(1000, 1, [&](int64_t b, int64_t e) {
        if (b <= 500 && 500 < e) throw std::runtime_error("chunk with 500 failed");
      });
      FAIL() << "expected the chunk's exception";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "chunk with 500 failed");
    }
    std::atomic<int64_t> sum{0};
    pool.parallel_for(1000, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; i++) sum += i;
    });
    EXPECT_EQ(sum.load(), 999 * 1000 / 2);
  }
}

TEST(ThreadPool, PropagatesTandemErrorWithItsStatus) {
  ThreadPool pool(2);
  try {
    pool.parallel_for(10, 1, [](int64_t, int64_t) { throw tandem::Error(TANDEM_STATUS_RESOURCE_EXHAUSTED, "full"); });
    FAIL();
  } catch (const tandem::Error& e) {
    EXPECT_EQ(e.status(), TANDEM_STATUS_RESOURCE_EXHAUSTED);
  }
}

TEST(ThreadPool, ManyRepeatedCallsStayCorrect) {
  ThreadPool pool(2);
  std::vector<int64_t> data(257);
  for (int call = 0; call < 20000; call++) {
    pool.parallel_for(int64_t(data.size()), 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; i++) data[size_t(i)]++;
    });
  }
  for (int64_t v : data) ASSERT_EQ(v, 20000);
}

TEST(ThreadPool, NestedCallsRunInlineInsteadOfDeadlocking) {
  ThreadPool pool(2);
  std::atomic<int64_t> total{0};
  pool.parallel_for(8, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; i++)
      pool.parallel_for(10, 1, [&](int64_t ib, int64_t ie) { total += ie - ib; });
  });
  EXPECT_EQ(total.load(), 80);
}

TEST(ThreadPool, ConcurrentCallersBothComplete) {
  ThreadPool pool(2);
  std::atomic<int64_t> a{0}, b{0};
  auto hammer = [&](std::atomic<int64_t>& out) {
    for (int i = 0; i < 2000; i++) pool.parallel_for(100, 1, [&](int64_t s, int64_t e) { out += e - s; });
  };
  std::thread t1(hammer, std::ref(a)), t2(hammer, std::ref(b));
  t1.join();
  t2.join();
  EXPECT_EQ(a.load(), 200000);
  EXPECT_EQ(b.load(), 200000);
}

TEST(ThreadPool, SizeAndTandemThreadsEnvironment) {
  EXPECT_EQ(ThreadPool(3).size(), 3);
  const char* old = std::getenv("TANDEM_THREADS");
  std::string saved = old ? old : "";
  setenv("TANDEM_THREADS", "5", 1);
  EXPECT_EQ(ThreadPool::default_thread_count(), 5);
  EXPECT_EQ(ThreadPool(0).size(), 5);
  int cores = int(std::max(1u, std::thread::hardware_concurrency()));
  for (const char* bad : {"abc", "0", "-2", "4x", ""}) {
    setenv("TANDEM_THREADS", bad, 1);
    EXPECT_EQ(ThreadPool::default_thread_count(), cores) << "TANDEM_THREADS=" << bad;
  }
  if (old) setenv("TANDEM_THREADS", saved.c_str(), 1);
  else unsetenv("TANDEM_THREADS");
}

TEST(ThreadPool, CreatingAndDestroyingPoolsIsCheap) {
  for (int i = 0; i < 200; i++) {
    ThreadPool pool(3);
    std::atomic<int> n{0};
    pool.parallel_for(30, 1, [&](int64_t b, int64_t e) { n += int(e - b); });
    ASSERT_EQ(n.load(), 30);
  }
}

// Regression: jobs with alternating chunk counts back to back. A worker still holding the used-up
// ticket of a small job once combined it with the next, larger job's chunk count, ran a chunk of a
// job it had not been handed and let the caller return early (a use-after-return in the engine).
// Every call must see each of its own indices exactly once, and nothing of any other call.
TEST(ThreadPool, BackToBackJobsWithDifferentChunkCountsNeverLeakIntoEachOther) {
  ThreadPool pool(4);
  for (int iter = 0; iter < 20000; iter++) {
    const int64_t n = (iter % 2 == 0) ? 2 : 64;  // 2 chunks, then 16 chunks, ...
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    for (auto& h : hits) h.store(0);
    std::atomic<bool> foreign{false};
    const int64_t expected_n = n;
    pool.parallel_for(n, 1, [&](int64_t b, int64_t e) {
      if (e > expected_n) foreign.store(true);
      for (int64_t i = b; i < e && i < expected_n; i++) hits[size_t(i)].fetch_add(1);
    });
    ASSERT_FALSE(foreign.load()) << "iteration " << iter;
    for (int64_t i = 0; i < n; i++) ASSERT_EQ(hits[size_t(i)].load(), 1) << "iteration " << iter << " index " << i;
  }
}
