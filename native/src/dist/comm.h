// Backend-neutral collectives for tensor parallelism (shared/reference/cohere2-architecture.md §5).
// The model and runtime see only this interface. The CPU backend has two transports, picked at
// run time by connect_group: TCP (tcp_comm.cpp, any placement) and shared memory (shm_comm.cpp,
// ranks on one host, same /dev/shm and user). A CUDA backend would implement the same calls with
// NCCL. Every call is collective: all ranks of the group make the same calls in the same order
// with the same sizes (checked on every step, over either transport).
//
// Failure semantics: a peer that dies, closes, stalls past the timeout, or sends something out of
// order makes the call throw CommError on every rank that talks to it; the implementation then
// shuts its sockets down (and, over shared memory, sets the segment's "aborted" word and wakes
// every waiter) so the rest of the group sees the failure at once instead of timing out. Over
// shared memory a dead peer process is noticed through its TCP socket, which the kernel closes.
// A communicator that has thrown is broken for good: every later call throws the same error.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace tandem::dist {

// The group failed (peer gone, timeout, protocol mismatch). Distinct from other errors so a
// follower can tell "the group is dead" from a bug in one request.
class CommError : public Error {
 public:
  explicit CommError(const std::string& message) : Error(TANDEM_STATUS_UNAVAILABLE, message) {}
};

struct CommStats {
  uint64_t ops = 0;         // collective calls
  uint64_t bytes = 0;       // bytes this rank sent plus received (tcp: frame headers included;
                            // shm: payload bytes written to and read from the segment)
  uint64_t nanos = 0;       // wall time inside collective calls (includes waiting for peers)
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // "tcp" or "shm": which transport carries the collectives (for benches and logs).
  virtual const char* transport() const = 0;

  // data[0..n) = elementwise sum over ranks. Summed in rank order on rank 0, so every rank gets
  // bitwise the same result and reruns are deterministic.
  virtual void all_reduce_sum(float* data, size_t n) = 0;
  // Rank 0's bytes[0..n) copied to every rank (n equal everywhere).
  virtual void broadcast(void* data, size_t n) = 0;
  // Rank 0's message to every rank; the size travels with it. timeout_ms 0: the default timeout
  // (followers waiting for the next step plan pass a longer one).
  virtual void broadcast_message(std::vector<uint8_t>& message, uint32_t timeout_ms = 0) = 0;
  // Every rank's send[0..n) into rank 0's recv[rank * n ..); recv is ignored on other ranks.
  virtual void gather(const void* send, size_t n, void* recv) = 0;
  // gather, then the whole [world * n] to every rank.
  virtual void all_gather(const void* send, size_t n, void* recv) = 0;

  // Shuts the connections down so peers fail at once; later calls throw. Safe to call twice.
  virtual void abort(const std::string& reason) = 0;
  virtual CommStats stats() const = 0;
};

// Auto: shared memory when every rank shares rank 0's host (and can map the segment), else TCP.
// Shm: shared memory or a CommError saying why not. Tcp: always TCP. Every rank must agree, except
// that Auto goes along with the others.
enum class Transport { Auto, Tcp, Shm };
// "auto" | "tcp" | "shm"; anything else throws Error(INVALID_ARGUMENT) naming tp_transport.
Transport parse_transport(std::string_view s);
const char* transport_name(Transport t);

struct GroupOptions {
  int rank = 0;
  int world_size = 1;
  std::string leader_addr;              // host:port; rank 0 listens on the port (all interfaces)
  uint64_t fingerprint = 0;             // model identity; every rank must agree
  uint32_t rendezvous_timeout_ms = 60000;
  uint32_t timeout_ms = 5000;           // per collective call
  Transport transport = Transport::Auto;
};

// Rendezvous: rank 0 listens on leader_addr's port and waits for ranks 1..N-1; the others connect
// (retrying until the leader listens) and handshake with world size, rank and fingerprint. Throws
// CommError naming the missing ranks when the rendezvous timeout passes, or naming the field that
// disagrees. Then the transport is negotiated over those connections: followers send rank 0 their
// host identity (boot id, hostname, uid); if all match, rank 0 creates a shared-memory segment,
// every follower maps it and acknowledges, and rank 0 unlinks its name at once (nothing is left
// in /dev/shm even if a rank dies later). Rank 0 decides and tells everyone, so the whole group
// uses the same transport. With shared memory the sockets stay open to notice dead peers.
std::unique_ptr<Communicator> connect_group(const GroupOptions& options);

}  // namespace tandem::dist
