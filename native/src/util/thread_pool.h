// A fixed pool of worker threads for data-parallel kernels. parallel_for splits [0, n) into
// contiguous chunks, runs them on the workers plus the calling thread, and returns when all
// are done. Size: TANDEM_THREADS, else the hardware cores. One parallel_for at a time.
#pragma once
#include <cstdint>
#include <functional>

namespace tandem {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);  // n_threads <= 0 -> default_thread_count()
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const;  // threads including the caller
  // fn(begin, end) over contiguous chunks of [0, n); chunks no smaller than min_chunk.
  void parallel_for(int64_t n, int64_t min_chunk, const std::function<void(int64_t, int64_t)>& fn);

  static int default_thread_count();  // TANDEM_THREADS if set and valid, else cores

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace tandem
