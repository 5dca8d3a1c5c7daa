// Serial stand-in until the worker pool lands: runs every chunk on the calling thread.
#include "util/thread_pool.h"

#include <cstdlib>
#include <thread>

namespace tandem {

struct ThreadPool::Impl {
  int n = 1;
};

ThreadPool::ThreadPool(int n_threads) : impl_(new Impl) { impl_->n = n_threads > 0 ? n_threads : default_thread_count(); }
ThreadPool::~ThreadPool() { delete impl_; }
int ThreadPool::size() const { return impl_->n; }
void ThreadPool::parallel_for(int64_t n, int64_t, const std::function<void(int64_t, int64_t)>& fn) {
  if (n > 0) fn(0, n);
}
int ThreadPool::default_thread_count() {
  if (const char* env = std::getenv("TANDEM_THREADS")) {
    int v = std::atoi(env);
    if (v > 0) return v;
  }
  unsigned hc = std::thread::hardware_concurrency();
  return hc > 0 ? int(hc) : 1;
}

}  // namespace tandem
