// Persistent worker pool. The engine calls parallel_for several times per layer per decode step,
// so a call must cost microseconds, not a thread start: workers live for the pool's lifetime,
// spin briefly on a generation counter after each job (the next op usually follows at once) and
// only then sleep on a condition variable. Chunks are claimed from an atomic ticket and the
// caller waits only for chunks someone actually claimed, never for a worker that has not woken
// up yet: on an oversubscribed machine (2 shared cores, load 10) waiting for every worker to
// check in cost 200-300 us per call; claiming keeps it near 1 us, the caller simply doing more
// of the chunks itself.
#include "util/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TANDEM_CPU_RELAX() _mm_pause()
#else
#define TANDEM_CPU_RELAX() std::this_thread::yield()
#endif

namespace tandem {

namespace {

// How long an idle worker (or a waiting caller) spins before blocking. Long enough to bridge the
// gap between two ops of one layer, short enough not to steal a shared core from other work.
constexpr auto kSpin = std::chrono::microseconds(50);

// Set while a thread runs a chunk: a parallel_for issued from inside a chunk runs inline rather
// than deadlocking on the pool it is already part of.
thread_local bool tls_inside_pool = false;

template <typename Pred>
bool spin_until(Pred pred) {
  auto deadline = std::chrono::steady_clock::now() + kSpin;
  for (;;) {
    for (int i = 0; i < 64; i++) {
      if (pred()) return true;
      TANDEM_CPU_RELAX();
    }
    if (std::chrono::steady_clock::now() >= deadline) return pred();
  }
}

}  // namespace

struct ThreadPool::Impl {
  int n_threads = 1;
  std::vector<std::thread> workers;

  std::mutex mu;                    // guards sleeping on the two condition variables
  std::condition_variable cv_work;  // workers wait here for a new generation
  std::condition_variable cv_done;  // the caller waits here for the last chunk to finish
  std::atomic<bool> stop{false};

  // (generation << 32) | (chunk count << 16) | next chunk index. The chunk count travels in the
  // same word as the generation, so a claim always sees the count of the job it claims from: a
  // worker holding a used-up ticket of the previous job can never combine it with the next job's
  // larger count (which would let it run a chunk of a job whose data is not yet published, and
  // let the caller return before that chunk ends). A claim is a CAS on the whole word, so a
  // worker that wakes late can never take a chunk of a job that has moved on, and the caller
  // never waits for a worker that has not started: it only waits for chunks actually claimed.
  std::atomic<uint64_t> ticket{0};
  // The current job. Written by the caller before the ticket is published (release); a worker
  // reads them only between an acquire load of a ticket of the same generation and a successful
  // claim, during which the job cannot finish.
  std::atomic<const std::function<void(int64_t, int64_t)>*> fn{nullptr};
  std::atomic<int64_t> n{0};
  std::atomic<int64_t> done{0};  // chunks finished in this generation
  std::atomic<bool> failed{false};
  std::mutex error_mu;
  std::exception_ptr error;

  std::mutex call_mu;  // one parallel_for at a time; a concurrent caller runs inline instead

  static constexpr int64_t kMaxChunks = 0xffff;
  static uint32_t gen_of(uint64_t t) { return uint32_t(t >> 32); }
  static int64_t total_of(uint64_t t) { return int64_t((t >> 16) & 0xffffu); }
  static int64_t index_of(uint64_t t) { return int64_t(t & 0xffffu); }

  // Claims the next chunk of generation `gen`; false when none is left or the job has moved on.
  bool claim(uint32_t gen, int64_t& chunk, int64_t& total) {
    uint64_t cur = ticket.load(std::memory_order_acquire);
    for (;;) {
      if (gen_of(cur) != gen) return false;
      const int64_t idx = index_of(cur);
      total = total_of(cur);
      if (idx >= total) return false;
      if (ticket.compare_exchange_weak(cur, cur + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
        chunk = idx;
        return true;
      }
    }
  }

  // Runs chunks of generation `gen` until none are left. Chunk c covers
  // [c*n/n_chunks, (c+1)*n/n_chunks), so every chunk is at least floor(n/n_chunks) long.
  void run_chunks(uint32_t gen) {
    int64_t c, total;
    while (claim(gen, c, total)) {
      if (!failed.load(std::memory_order_relaxed)) {
        const int64_t len = n.load(std::memory_order_relaxed);
        tls_inside_pool = true;
        try {
          (*fn.load(std::memory_order_relaxed))(c * len / total, (c + 1) * len / total);
        } catch (...) {
          std::lock_guard<std::mutex> lk(error_mu);
          if (!error) error = std::current_exception();
          failed.store(true, std::memory_order_relaxed);
        }
        tls_inside_pool = false;
      }
      if (done.fetch_add(1, std::memory_order_acq_rel) + 1 == total) {
        std::lock_guard<std::mutex> lk(mu);  // pairs with the caller's predicate check
        cv_done.notify_one();
      }
    }
  }

  void worker_loop() {
    uint32_t seen = 0;
    for (;;) {
      auto fresh = [&] { return gen_of(ticket.load(std::memory_order_acquire)) != seen; };
      if (!spin_until(fresh)) {
        std::unique_lock<std::mutex> lk(mu);
        cv_work.wait(lk, fresh);
      }
      seen = gen_of(ticket.load(std::memory_order_acquire));
      if (stop.load(std::memory_order_acquire)) return;
      run_chunks(seen);
    }
  }

  // Publishes a new generation of `total` chunks, the chunk index starting at 0.
  void publish(int64_t total) {
    {
      std::lock_guard<std::mutex> lk(mu);
      const uint64_t gen = uint64_t(gen_of(ticket.load(std::memory_order_relaxed)) + 1u);
      ticket.store((gen << 32) | (uint64_t(total) << 16), std::memory_order_release);
    }
    cv_work.notify_all();
  }
};

ThreadPool::ThreadPool(int n_threads) : impl_(new Impl) {
  impl_->n_threads = n_threads > 0 ? n_threads : default_thread_count();
  impl_->workers.reserve(size_t(impl_->n_threads - 1));
  for (int i = 1; i < impl_->n_threads; i++) impl_->workers.emplace_back([this] { impl_->worker_loop(); });
}

ThreadPool::~ThreadPool() {
  impl_->stop.store(true, std::memory_order_release);
  impl_->publish(0);
  for (auto& t : impl_->workers) t.join();
  delete impl_;
}

int ThreadPool::size() const { return impl_->n_threads; }

void ThreadPool::parallel_for(int64_t n, int64_t min_chunk, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (min_chunk < 1) min_chunk = 1;
  Impl& p = *impl_;
  // A few chunks per thread balance uneven progress; never below min_chunk each.
  const int64_t n_chunks = std::min<int64_t>({int64_t(p.n_threads) * 4, n / min_chunk, Impl::kMaxChunks});
  if (n_chunks <= 1 || p.workers.empty() || tls_inside_pool) {
    fn(0, n);
    return;
  }
  std::unique_lock<std::mutex> call(p.call_mu, std::try_to_lock);
  if (!call.owns_lock()) {  // another thread is using the pool: correct, just not parallel
    fn(0, n);
    return;
  }

  p.fn.store(&fn, std::memory_order_relaxed);
  p.n.store(n, std::memory_order_relaxed);
  p.done.store(0, std::memory_order_relaxed);
  p.failed.store(false, std::memory_order_relaxed);
  p.error = nullptr;
  p.publish(n_chunks);

  p.run_chunks(Impl::gen_of(p.ticket.load(std::memory_order_relaxed)));

  // Wait only for chunks other threads claimed and are still running.
  auto all_done = [&] { return p.done.load(std::memory_order_acquire) == n_chunks; };
  if (!spin_until(all_done)) {
    std::unique_lock<std::mutex> lk(p.mu);
    p.cv_done.wait(lk, all_done);
  }
  if (p.error) {
    std::exception_ptr e = p.error;
    p.error = nullptr;
    std::rethrow_exception(e);
  }
}

int ThreadPool::default_thread_count() {
  if (const char* env = std::getenv("TANDEM_THREADS")) {
    char* end = nullptr;
    long v = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && v > 0 && v <= 1024) return int(v);
  }
  unsigned hc = std::thread::hardware_concurrency();
  return hc > 0 ? int(hc) : 1;
}

}  // namespace tandem
