// What the TCP and shared-memory communicators share: identity, the sockets (data for TCP,
// liveness for shm), the broken state, and the bookkeeping of one collective call.
#pragma once
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "dist/comm.h"

namespace tandem::dist {

class CommBase : public Communicator {
 public:
  CommBase(int rank, int world, uint32_t timeout_ms, std::vector<int> fds)
      : rank_(rank), world_(world), timeout_ms_(timeout_ms), fds_(std::move(fds)) {}
  ~CommBase() override {
    for (int fd : fds_)
      if (fd >= 0) ::close(fd);
  }
  int rank() const override { return rank_; }
  int world_size() const override { return world_; }
  CommStats stats() const override {
    std::lock_guard<std::mutex> lk(mu_);
    return stats_;
  }

 protected:
  using Clock = std::chrono::steady_clock;

  // One collective call: checks the group is healthy, sets the deadline, numbers the call and
  // counts its stats. A failure inside turns into an abort (each transport's fail()) so the rest
  // of the group learns about it at once.
  struct Call {
    CommBase& c;
    Clock::time_point start, deadline;
    explicit Call(CommBase& comm, uint32_t timeout_ms = 0) : c(comm), start(Clock::now()) {
      {
        std::lock_guard<std::mutex> lk(c.mu_);
        if (!c.broken_.empty()) throw CommError("tensor-parallel group is down: " + c.broken_);
      }
      deadline = start + std::chrono::milliseconds(timeout_ms ? timeout_ms : c.timeout_ms_);
      ++c.seq_;
    }
    ~Call() {
      std::lock_guard<std::mutex> lk(c.mu_);
      c.stats_.ops++;
      c.stats_.bytes += c.io_bytes_;
      c.io_bytes_ = 0;
      c.stats_.nanos += uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count());
    }
  };

  // Under mu_: keeps the first reason, and shuts the sockets down (not close: the fds stay valid
  // for a racing call, which then fails promptly) so peers see the failure at once.
  void mark_broken_locked(const std::string& reason) {
    if (broken_.empty()) broken_ = reason.empty() ? "aborted" : reason;
    for (int fd : fds_)
      if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
  }

  std::string peer_message(int peer, const std::string& what) const {
    return "rank " + std::to_string(rank_) + ": " + what + " (peer rank " + std::to_string(peer) + ")";
  }

  const int rank_, world_;
  const uint32_t timeout_ms_;
  std::vector<int> fds_;  // fds_[peer]; rank 0 has one per follower, followers only fds_[0]
  uint64_t seq_ = 0;      // number of the call in progress (the same on every rank of a healthy group)
  uint64_t io_bytes_ = 0;  // bytes moved by the call in progress
  mutable std::mutex mu_;
  std::string broken_;
  CommStats stats_;
};

}  // namespace tandem::dist
