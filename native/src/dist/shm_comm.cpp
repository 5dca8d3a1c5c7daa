// CPU collectives over shared memory for ranks on one host, star-shaped around rank 0 like TCP
// so that reductions run in the same order (bitwise equal results between the transports).
//
// Protocol: a call is one or more steps (one per kSlotCapacity chunk). In step k every follower
// writes its chunk (if it sends one) into its own slot and publishes seq_r = k; rank 0 waits for
// every seq_r >= k, checks the headers (op, call number, size: a mismatch is "out of step"), reads
// or reduces, writes its answer to slot 0 and publishes seq_0 = k; followers wait for seq_0 >= k
// and read slot 0. Each step is thus a barrier, which is what makes reusing the slots safe with no
// further acknowledgement: nobody writes slot r for step k+1 before everyone is done with step k.
//
// Waiting spins briefly, then sleeps on the futex of the awaited word in short slices; between
// slices it checks the deadline, the segment's "aborted" word and the peers' TCP sockets, which
// stay open only so that a dead peer process (its sockets closed by the kernel) is noticed in a
// few ms instead of at the timeout.
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "dist/comm_base.h"
#include "dist/shm_segment.h"

namespace tandem::dist {
namespace {

enum Op : uint32_t { kAllReduce = 1, kBroadcast = 2, kMessage = 3, kGather = 4, kAllGather = 5 };

constexpr int64_t kMaxSliceNs = 8'000'000;  // a dead peer is noticed within ~8 ms

// How long to spin before sleeping on the futex. Spinning only pays when the peer runs on another
// core at the same time; when cores are scarce it steals the very CPU the peer needs to answer
// (measured on a loaded 2-core host: a 30 us spin made a 4-float all_reduce 5x slower than no
// spin). So: a 20 us spin with at least two CPUs per rank, else 2 us, which still catches an
// answer already on its way.
std::chrono::nanoseconds spin_budget(int world) {
  cpu_set_t set;
  CPU_ZERO(&set);
  const int cpus = ::sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
  return std::chrono::microseconds(cpus >= 2 * world ? 20 : 2);
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

inline bool reached(uint32_t seq, uint32_t target) { return int32_t(seq - target) >= 0; }

// fds_ (CommBase) serve liveness only: after the negotiation no bytes flow on them.
class ShmComm final : public CommBase {
 public:
  ShmComm(int rank, int world, uint32_t timeout_ms, std::vector<int> fds, ShmSegmentPtr seg)
      : CommBase(rank, world, timeout_ms, std::move(fds)), seg_(std::move(seg)), spin_(spin_budget(world)) {}

  const char* transport() const override { return "shm"; }

  void all_reduce_sum(float* data, size_t n) override {
    Call s(*this);
    const size_t chunk = kSlotCapacity / sizeof(float);
    size_t off = 0;
    do {
      const size_t len = std::min(chunk, n - off);
      float* mine = data + off;
      if (rank_ == 0) {
        gather_step(kAllReduce, n * sizeof(float), s.deadline);
        // The same order as TCP: rank 0's values, then + rank 1, + rank 2, ...
        for (int r = 1; r < world_; r++) {
          const float* theirs = reinterpret_cast<const float*>(seg_->payload(r));
          for (size_t i = 0; i < len; i++) mine[i] += theirs[i];
          io_bytes_ += len * sizeof(float);
        }
        reply_step(kAllReduce, n * sizeof(float), mine, len * sizeof(float));
      } else {
        send_step(kAllReduce, n * sizeof(float), mine, len * sizeof(float));
        await_reply(kAllReduce, n * sizeof(float), true, s.deadline);
        read_reply(mine, len * sizeof(float));
      }
      off += len;
    } while (off < n);
  }

  void broadcast(void* data, size_t n) override {
    Call s(*this);
    bcast(kBroadcast, static_cast<char*>(data), n, s.deadline);
  }

  void broadcast_message(std::vector<uint8_t>& msg, uint32_t timeout_ms) override {
    Call s(*this, timeout_ms);
    if (rank_ == 0) {
      bcast(kMessage, reinterpret_cast<char*>(msg.data()), msg.size(), s.deadline);
      return;
    }
    // The length travels in rank 0's header; followers learn it in the first step.
    size_t off = 0, total = 0;
    do {
      send_step(kMessage, 0, nullptr, 0);
      total = await_reply(kMessage, 0, false, s.deadline);
      if (off == 0) msg.resize(total);
      const size_t len = std::min(kSlotCapacity, total - off);
      read_reply(msg.data() + off, len);
      off += len;
    } while (off < total);
  }

  void gather(const void* send, size_t n, void* recv) override {
    Call s(*this);
    do_gather(kGather, static_cast<const char*>(send), n, static_cast<char*>(recv), s.deadline);
  }

  void all_gather(const void* send, size_t n, void* recv) override {
    Call s(*this);
    const size_t total = n * size_t(world_);
    char* out = static_cast<char*>(recv);
    if (total > kSlotCapacity) {
      do_gather(kAllGather, static_cast<const char*>(send), n, out, s.deadline);
      bcast(kAllGather, out, total, s.deadline);
      return;
    }
    // Small (the common case, e.g. per-rank top-k): one step, rank 0 answers with the whole set.
    if (rank_ == 0) {
      gather_step(kAllGather, n, s.deadline);
      std::memcpy(out, send, n);
      for (int r = 1; r < world_; r++) std::memcpy(out + size_t(r) * n, seg_->payload(r), n);
      io_bytes_ += (total - n);
      reply_step(kAllGather, n, out, total);
    } else {
      send_step(kAllGather, n, send, n);
      await_reply(kAllGather, n, true, s.deadline);
      read_reply(out, total);
    }
  }

  void abort(const std::string& reason) override {
    std::lock_guard<std::mutex> lk(mu_);
    abort_locked(reason.empty() ? "aborted" : reason, true);
  }

 private:
  // Marks this communicator broken; when `publish`, also tells the group through the segment
  // (the first aborter's reason wins) and shuts the sockets so peers fail at once.
  void abort_locked(const std::string& reason, bool publish) {
    if (publish && !published_abort_) {
      published_abort_ = true;
      SlotHeader& me = seg_->slot(rank_);
      const size_t len = std::min(reason.size(), kReasonBytes - 1);
      std::memcpy(me.reason, reason.data(), len);
      me.reason[len] = '\0';
      uint32_t none = 0;
      seg_->header().aborted.compare_exchange_strong(none, uint32_t(rank_) + 1, std::memory_order_seq_cst);
      for (int r = 0; r < world_; r++) futex_wake_all(&seg_->slot(r).seq);
    }
    mark_broken_locked(reason);
  }

  [[noreturn]] void fail(int peer, const std::string& what) {
    const std::string msg = peer_message(peer, what);
    {
      std::lock_guard<std::mutex> lk(mu_);
      abort_locked(msg, true);
    }
    throw CommError(msg);
  }

  // The group was aborted through the segment (by a peer, or by abort() on another thread here).
  [[noreturn]] void fail_aborted(uint32_t by) {
    const int who = int(by) - 1;
    std::string msg;
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (who == rank_ && !broken_.empty()) {
        msg = broken_;
      } else {
        const SlotHeader& h = seg_->slot(who);
        msg = "rank " + std::to_string(rank_) + ": the group was aborted by rank " + std::to_string(who) + ": " +
              std::string(h.reason, strnlen(h.reason, kReasonBytes)) + " (peer rank " + std::to_string(who) + ")";
      }
      abort_locked(msg, false);
    }
    throw CommError(msg);
  }

  // The first peer whose socket reports the peer process gone, or -1. After the negotiation no
  // bytes flow on these sockets, so readable means EOF (or an error).
  int dead_peer() {
    pollfd ps[64];
    int peers[64];
    int n = 0;
    for (int r = 0; r < world_ && n < 64; r++)
      if (r != rank_ && fds_[size_t(r)] >= 0) {
        ps[n] = {fds_[size_t(r)], POLLIN, 0};
        peers[n++] = r;
      }
    if (::poll(ps, nfds_t(n), 0) <= 0) return -1;
    for (int i = 0; i < n; i++) {
      if (ps[i].revents & (POLLHUP | POLLERR | POLLNVAL)) return peers[i];
      if (ps[i].revents & POLLIN) {
        char c;
        const ssize_t r = ::recv(ps[i].fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return peers[i];
      }
    }
    return -1;
  }

  // Waits until `peer` has published step `target`.
  void wait_for(int peer, uint32_t target, Clock::time_point deadline) {
    SlotHeader& slot = seg_->slot(peer);
    std::atomic<uint32_t>& word = slot.seq;
    if (reached(word.load(std::memory_order_acquire), target)) return;
    const auto spin_end = Clock::now() + spin_;
    do {
      for (int i = 0; i < 64; i++) {
        if (reached(word.load(std::memory_order_acquire), target)) return;
        cpu_relax();
      }
    } while (Clock::now() < spin_end);

    // Sleep. The waiter count and the word are both seq_cst, as are the publisher's store and its
    // read of the count: either we see the new value, or the publisher sees us and wakes us.
    slot.waiters.fetch_add(1, std::memory_order_seq_cst);
    struct Leave {
      std::atomic<uint32_t>& w;
      ~Leave() { w.fetch_sub(1, std::memory_order_seq_cst); }
    } leave{slot.waiters};
    int64_t slice = 1'000'000;
    for (;;) {
      const uint32_t v = word.load(std::memory_order_seq_cst);
      if (reached(v, target)) return;
      if (const uint32_t by = seg_->header().aborted.load(std::memory_order_acquire)) fail_aborted(by);
      if (const int dead = dead_peer(); dead >= 0) {
        // A peer that aborts sets the word before shutting its sockets: prefer its reason.
        if (const uint32_t by = seg_->header().aborted.load(std::memory_order_acquire)) fail_aborted(by);
        fail(dead, "connection closed by the peer (did it exit?)");
      }
      const int64_t left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - Clock::now()).count();
      if (left <= 0) fail(peer, "no data within the collective timeout: the peer stalled or is gone");
      futex_wait(&word, v, std::min(slice, left));
      slice = std::min(slice * 2, kMaxSliceNs);
    }
  }

  void publish(uint32_t step) {
    SlotHeader& me = seg_->slot(rank_);
    me.seq.store(step, std::memory_order_seq_cst);
    if (me.waiters.load(std::memory_order_seq_cst) != 0) futex_wake_all(&me.seq);
  }

  void set_header(uint32_t op, uint64_t bytes) {
    SlotHeader& me = seg_->slot(rank_);
    me.op = op;
    me.op_seq = seq_;
    me.bytes = bytes;
  }

  // --- follower side of a step ---
  void send_step(uint32_t op, uint64_t call_bytes, const void* chunk, size_t len) {
    if (len) std::memcpy(seg_->payload(rank_), chunk, len);
    io_bytes_ += len;
    set_header(op, call_bytes);
    publish(++step_);
  }
  // Returns rank 0's call size (the message length for kMessage).
  uint64_t await_reply(uint32_t op, uint64_t call_bytes, bool check_size, Clock::time_point deadline) {
    wait_for(0, step_, deadline);
    const SlotHeader& h = seg_->slot(0);
    check(0, h, op, call_bytes, check_size);
    return h.bytes;
  }
  void read_reply(void* out, size_t len) {
    if (len) std::memcpy(out, seg_->payload(0), len);
    io_bytes_ += len;
  }

  // --- rank 0 side of a step ---
  void gather_step(uint32_t op, uint64_t call_bytes, Clock::time_point deadline) {
    ++step_;
    for (int r = 1; r < world_; r++) {
      wait_for(r, step_, deadline);
      check(r, seg_->slot(r), op, call_bytes, op != kMessage);
    }
  }
  void reply_step(uint32_t op, uint64_t call_bytes, const void* chunk, size_t len) {
    if (len) std::memcpy(seg_->payload(0), chunk, len);
    io_bytes_ += len;
    set_header(op, call_bytes);
    publish(step_);
  }

  void check(int peer, const SlotHeader& h, uint32_t op, uint64_t call_bytes, bool check_size) {
    if (h.op != op || h.op_seq != seq_)
      fail(peer, "out of step: expected op " + std::to_string(op) + " #" + std::to_string(seq_) + ", got op " + std::to_string(h.op) +
                     " #" + std::to_string(h.op_seq));
    if (check_size && h.bytes != call_bytes)
      fail(peer, "size mismatch: expected " + std::to_string(call_bytes) + " bytes, got " + std::to_string(h.bytes));
  }

  // Rank 0's data[0..n) to every rank, in chunks (followers only say "ready" in each step).
  void bcast(uint32_t op, char* data, size_t n, Clock::time_point deadline) {
    size_t off = 0;
    do {
      const size_t len = std::min(kSlotCapacity, n - off);
      if (rank_ == 0) {
        gather_step(op, n, deadline);
        reply_step(op, n, data + off, len);
      } else {
        send_step(op, n, nullptr, 0);
        await_reply(op, n, op != kMessage, deadline);
        read_reply(data + off, len);
      }
      off += len;
    } while (off < n);
  }

  void do_gather(uint32_t op, const char* send, size_t n, char* recv, Clock::time_point deadline) {
    if (rank_ == 0) std::memcpy(recv, send, n);
    size_t off = 0;
    do {
      const size_t len = std::min(kSlotCapacity, n - off);
      if (rank_ == 0) {
        gather_step(op, n, deadline);
        for (int r = 1; r < world_; r++) std::memcpy(recv + size_t(r) * n + off, seg_->payload(r), len);
        io_bytes_ += len * size_t(world_ - 1);
        reply_step(op, n, nullptr, 0);
      } else {
        send_step(op, n, send + off, len);
        await_reply(op, n, true, deadline);
      }
      off += len;
    } while (off < n);
  }

  ShmSegmentPtr seg_;
  const std::chrono::nanoseconds spin_;
  uint32_t step_ = 0;     // last step of this rank (the same count on every rank of a healthy group)
  bool published_abort_ = false;  // io_bytes_ counts payload bytes written + read
};

}  // namespace

std::unique_ptr<Communicator> make_shm_comm(int rank, int world, uint32_t timeout_ms, std::vector<int> fds, ShmSegmentPtr seg) {
  return std::make_unique<ShmComm>(rank, world, timeout_ms, std::move(fds), std::move(seg));
}

}  // namespace tandem::dist
