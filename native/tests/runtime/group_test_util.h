// Test groups on loopback: a free rendezvous port and the group options the collective tests and
// native/bench/comm_bench.cpp use.
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "dist/comm.h"

namespace tandem::test {

inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

// Rank `rank` of a `world`-rank group meeting on 127.0.0.1:port.
inline dist::GroupOptions loopback_group(int rank, int world, int port, dist::Transport transport,
                                         uint32_t timeout_ms) {
  dist::GroupOptions o;
  o.rank = rank;
  o.world_size = world;
  o.leader_addr = "127.0.0.1:" + std::to_string(port);
  o.fingerprint = 42;
  o.rendezvous_timeout_ms = 10000;
  o.timeout_ms = timeout_ms;
  o.transport = transport;
  return o;
}

}  // namespace tandem::test
