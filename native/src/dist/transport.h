// Internal pieces shared by the transports (not part of the collective interface in comm.h):
// the TCP rendezvous, which every transport starts with, the deadline-bound socket helpers the
// negotiation reuses, and the constructors of the two Communicator implementations.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dist/comm.h"

namespace tandem::dist {

using Clock = std::chrono::steady_clock;

int64_t ms_left(Clock::time_point deadline);
// Waits for fd to become readable / writable before the deadline. Returns false on timeout.
bool wait_fd(int fd, short events, Clock::time_point deadline);
// Sends or receives exactly n bytes on a non-blocking socket; false on EOF, error or deadline.
bool io_exact(int fd, void* data, size_t n, bool sending, Clock::time_point deadline);

// Handshake (world size, rank, fingerprint) with every rank; returns the connected sockets:
// fds[peer], rank 0 one per follower, followers only fds[0]. Throws CommError as documented on
// connect_group.
std::vector<int> tcp_rendezvous(const GroupOptions& options);

// Takes ownership of the sockets.
std::unique_ptr<Communicator> make_tcp_comm(int rank, int world, uint32_t timeout_ms, std::vector<int> fds);

// A mapped shared-memory segment (shm_comm.cpp). Rank 0 creates it, followers open it by name.
class ShmSegment;
struct ShmSegmentDeleter {
  void operator()(ShmSegment* s) const;
};
using ShmSegmentPtr = std::unique_ptr<ShmSegment, ShmSegmentDeleter>;

// Creates /tandem-tp-<pid>-<random> (O_EXCL, 0600), sized and reserved for `world` ranks. Sets
// `name`. Throws Error with the reason (e.g. /dev/shm full) on failure.
ShmSegmentPtr create_shm_segment(int world, std::string& name);
// Opens and maps a segment rank 0 created; throws Error with the reason on failure.
ShmSegmentPtr open_shm_segment(const std::string& name, int world);
// Removes the name; the mappings stay valid. Safe to call on an already unlinked name.
void unlink_shm_segment(const std::string& name);

// Takes ownership of the sockets (kept open only to notice a peer process that died) and the segment.
std::unique_ptr<Communicator> make_shm_comm(int rank, int world, uint32_t timeout_ms, std::vector<int> fds, ShmSegmentPtr seg);

// Who this process is, for "do we share a host (and its /dev/shm)?". Pods on one node have their
// own hostname and /dev/shm, so the hostname is part of it; the uid because the segment is 0600.
struct HostId {
  std::string boot_id;   // /proc/sys/kernel/random/boot_id: differs between machines and reboots
  std::string hostname;
  uint32_t uid = 0;
  std::string encode() const;
  static HostId decode(const std::string& s);
};
HostId host_id();
// "" when a and b can share memory, else why not, phrased after "rank N " ("is on another host ...").
std::string host_mismatch(const HostId& leader, const HostId& follower);

}  // namespace tandem::dist
