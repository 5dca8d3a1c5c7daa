// CPU collectives over TCP, star-shaped around rank 0: rank 0 holds one connection per follower.
// For the groups this engine runs (2..8 ranks on CPU) the star costs the same bytes on the
// followers' links as a ring and keeps the reduction order fixed (rank order on rank 0), which
// makes results bitwise reproducible. Every frame starts with a header {magic, op, seq, bytes} so a
// desynchronised group fails with a clear message instead of reading garbage. Every wait is a
// poll() against a deadline. This file also holds the TCP rendezvous every transport starts with
// (transport.cpp negotiates shared memory over the sockets it returns).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>

#include "dist/comm_base.h"
#include "dist/transport.h"

namespace tandem::dist {

int64_t ms_left(Clock::time_point deadline) {
  return std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
}

bool wait_fd(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int r = ::poll(&p, 1, int(std::min<int64_t>(ms_left(deadline), 1 << 30)));
    if (r > 0) return true;
    if (r == 0) return false;
    if (errno != EINTR) return false;
  }
}

bool io_exact(int fd, void* data, size_t n, bool sending, Clock::time_point deadline) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    const ssize_t r = sending ? ::send(fd, p, n, MSG_NOSIGNAL) : ::recv(fd, p, n, 0);
    if (r > 0) {
      p += r;
      n -= size_t(r);
    } else if (r == 0 && !sending) {
      return false;
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!wait_fd(fd, sending ? POLLOUT : POLLIN, deadline)) return false;
    } else {
      return false;
    }
  }
  return true;
}

namespace {

constexpr uint32_t kFrameMagic = 0x544e444d;  // "TNDM"
constexpr uint32_t kHelloMagic = 0x54504831;  // "TPH1"

enum Op : uint32_t { kAllReduce = 1, kBroadcast = 2, kMessage = 3, kGather = 4, kAllGather = 5 };

struct FrameHeader {
  uint32_t magic, op;
  uint64_t seq, bytes;
};

struct Hello {
  uint32_t magic, world_size, rank, reserved;
  uint64_t fingerprint;
};

// host:port -> (host, port); throws naming the field.
std::pair<std::string, std::string> split_addr(const std::string& addr) {
  const size_t c = addr.rfind(':');
  if (c == std::string::npos || c == 0 || c + 1 == addr.size())
    throw Error(TANDEM_STATUS_INVALID_ARGUMENT, "leader_addr: \"" + addr + "\" is not host:port");
  const std::string port = addr.substr(c + 1);
  if (port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) > 65535)
    throw Error(TANDEM_STATUS_INVALID_ARGUMENT, "leader_addr: port \"" + port + "\" is not a number in [0, 65535]");
  return {addr.substr(0, c), port};
}

void set_socket_options(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

class TcpComm final : public CommBase {
 public:
  TcpComm(int rank, int world, uint32_t timeout_ms, std::vector<int> fds) : CommBase(rank, world, timeout_ms, std::move(fds)) {}

  const char* transport() const override { return "tcp"; }

  void all_reduce_sum(float* data, size_t n) override {
    Call s(*this);
    if (rank_ == 0) {
      tmp_.resize(n);
      for (int r = 1; r < world_; r++) {
        recv_frame(r, kAllReduce, tmp_.data(), n * 4, s.deadline);
        for (size_t i = 0; i < n; i++) data[i] += tmp_[i];
      }
      for (int r = 1; r < world_; r++) send_frame(r, kAllReduce, data, n * 4, s.deadline);
    } else {
      send_frame(0, kAllReduce, data, n * 4, s.deadline);
      recv_frame(0, kAllReduce, data, n * 4, s.deadline);
    }
  }

  void broadcast(void* data, size_t n) override {
    Call s(*this);
    if (rank_ == 0)
      for (int r = 1; r < world_; r++) send_frame(r, kBroadcast, data, n, s.deadline);
    else
      recv_frame(0, kBroadcast, data, n, s.deadline);
  }

  void broadcast_message(std::vector<uint8_t>& msg, uint32_t timeout_ms) override {
    Call s(*this, timeout_ms);
    if (rank_ == 0) {
      for (int r = 1; r < world_; r++) send_frame(r, kMessage, msg.data(), msg.size(), s.deadline);
    } else {
      const uint64_t n = recv_header(0, kMessage, s.deadline);
      msg.resize(n);
      recv_exact(0, msg.data(), n, s.deadline);
    }
  }

  void gather(const void* send, size_t n, void* recv) override {
    Call s(*this);
    do_gather(kGather, send, n, recv, s.deadline);
  }

  void all_gather(const void* send, size_t n, void* recv) override {
    Call s(*this);
    do_gather(kAllGather, send, n, recv, s.deadline);
    if (rank_ == 0)
      for (int r = 1; r < world_; r++) send_frame(r, kAllGather, recv, n * size_t(world_), s.deadline);
    else
      recv_frame(0, kAllGather, recv, n * size_t(world_), s.deadline);
  }

  void abort(const std::string& reason) override {
    std::lock_guard<std::mutex> lk(mu_);
    mark_broken_locked(reason);
  }

 private:
  [[noreturn]] void fail(int peer, const std::string& what) {
    const std::string msg = peer_message(peer, what);
    abort(msg);
    throw CommError(msg);
  }

  void do_gather(Op op, const void* send, size_t n, void* recv, Clock::time_point deadline) {
    if (rank_ == 0) {
      std::memcpy(recv, send, n);
      for (int r = 1; r < world_; r++) recv_frame(r, op, static_cast<char*>(recv) + size_t(r) * n, n, deadline);
    } else {
      send_frame(0, op, send, n, deadline);
    }
  }

  void send_exact(int peer, const void* data, size_t n, Clock::time_point deadline) {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      const ssize_t w = ::send(fds_[size_t(peer)], p, n, MSG_NOSIGNAL);
      if (w > 0) {
        p += w;
        n -= size_t(w);
        io_bytes_ += uint64_t(w);
        continue;
      }
      if (w < 0 && errno == EINTR) continue;
      if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!wait_fd(fds_[size_t(peer)], POLLOUT, deadline))
          fail(peer, "send timed out after " + std::to_string(timeout_ms_) + " ms: the peer stopped reading");
        continue;
      }
      fail(peer, std::string("connection lost while sending: ") + std::strerror(errno));
    }
  }

  void recv_exact(int peer, void* data, size_t n, Clock::time_point deadline) {
    char* p = static_cast<char*>(data);
    while (n > 0) {
      const ssize_t r = ::recv(fds_[size_t(peer)], p, n, 0);
      if (r > 0) {
        p += r;
        n -= size_t(r);
        io_bytes_ += uint64_t(r);
        continue;
      }
      if (r == 0) fail(peer, "connection closed by the peer (did it exit?)");
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (!wait_fd(fds_[size_t(peer)], POLLIN, deadline))
          fail(peer, "no data within the collective timeout: the peer stalled or is gone");
        continue;
      }
      fail(peer, std::string("connection lost while receiving: ") + std::strerror(errno));
    }
  }

  void send_frame(int peer, Op op, const void* data, size_t n, Clock::time_point deadline) {
    const FrameHeader h{kFrameMagic, op, seq_, n};
    send_exact(peer, &h, sizeof(h), deadline);
    send_exact(peer, data, n, deadline);
  }

  uint64_t recv_header(int peer, Op op, Clock::time_point deadline) {
    FrameHeader h{};
    recv_exact(peer, &h, sizeof(h), deadline);
    if (h.magic != kFrameMagic || h.op != op || h.seq != seq_)
      fail(peer, "out of step: expected op " + std::to_string(op) + " #" + std::to_string(seq_) + ", got op " +
                     std::to_string(h.op) + " #" + std::to_string(h.seq));
    return h.bytes;
  }

  void recv_frame(int peer, Op op, void* data, size_t n, Clock::time_point deadline) {
    const uint64_t got = recv_header(peer, op, deadline);
    if (got != n) fail(peer, "size mismatch: expected " + std::to_string(n) + " bytes, got " + std::to_string(got));
    recv_exact(peer, data, n, deadline);
  }

  std::vector<float> tmp_;  // io_bytes_ counts bytes sent + received, frame headers included
};

// The leader's answer to a hello: empty = accepted, else the reason.
void send_verdict(int fd, const std::string& why, Clock::time_point deadline) {
  uint32_t n = uint32_t(why.size());
  if (io_exact(fd, &n, 4, true, deadline) && n > 0) io_exact(fd, const_cast<char*>(why.data()), n, true, deadline);
}

std::string list_ranks(const std::vector<int>& ranks) {
  std::string s;
  for (size_t i = 0; i < ranks.size(); i++) s += (i ? ", " : "") + std::to_string(ranks[i]);
  return s;
}

// The sockets of a rendezvous in progress: closed unless released to the caller.
struct FdList {
  std::vector<int> fds;
  explicit FdList(int world) : fds(size_t(world), -1) {}
  ~FdList() {
    for (int fd : fds)
      if (fd >= 0) ::close(fd);
  }
  std::vector<int> release() { return std::exchange(fds, {}); }
};

std::vector<int> lead(const GroupOptions& o, const std::string& port) {
  FdList joined_fds(o.world_size);
  std::vector<int>& fds = joined_fds.fds;
  const int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (lfd < 0) throw CommError(std::string("rendezvous: socket: ") + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{lfd};
  int one = 1;
  ::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  a.sin_port = htons(uint16_t(std::stoul(port)));
  if (::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::listen(lfd, 64) != 0)
    throw CommError("rendezvous: cannot listen on port " + port + " (leader_addr " + o.leader_addr + "): " + std::strerror(errno));
  ::fcntl(lfd, F_SETFL, ::fcntl(lfd, F_GETFL) | O_NONBLOCK);

  const auto deadline = Clock::now() + std::chrono::milliseconds(o.rendezvous_timeout_ms);
  int joined = 1;
  while (joined < o.world_size) {
    if (!wait_fd(lfd, POLLIN, deadline)) {
      std::vector<int> missing;
      for (int r = 1; r < o.world_size; r++)
        if (fds[size_t(r)] < 0) missing.push_back(r);
      throw CommError("rendezvous: rank" + std::string(missing.size() > 1 ? "s " : " ") + list_ranks(missing) + " of " +
                      std::to_string(o.world_size) + " did not join " + o.leader_addr + " within " +
                      std::to_string(o.rendezvous_timeout_ms) + " ms");
    }
    const int fd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    set_socket_options(fd);
    Hello h{};
    const auto hello_deadline = std::min(deadline, Clock::now() + std::chrono::seconds(5));
    if (!io_exact(fd, &h, sizeof(h), false, hello_deadline) || h.magic != kHelloMagic) {
      ::close(fd);  // not one of ours (a port scanner, a health check): ignore it
      continue;
    }
    std::string why;
    if (int(h.world_size) != o.world_size)
      why = "world_size " + std::to_string(h.world_size) + " differs from rank 0's " + std::to_string(o.world_size);
    else if (h.rank == 0 || int(h.rank) >= o.world_size)
      why = "rank " + std::to_string(h.rank) + " is outside [1, " + std::to_string(o.world_size - 1) + "]";
    else if (fds[h.rank] >= 0)
      why = "rank " + std::to_string(h.rank) + " joined twice";
    else if (h.fingerprint != o.fingerprint)
      why = "model fingerprint of rank " + std::to_string(h.rank) + " differs from rank 0's (different model folder?)";
    send_verdict(fd, why, hello_deadline);
    if (!why.empty()) {
      ::close(fd);
      for (int f : fds)
        if (f >= 0) ::shutdown(f, SHUT_RDWR);
      throw CommError("rendezvous: " + why);
    }
    fds[h.rank] = fd;
    joined++;
  }
  return joined_fds.release();
}

std::vector<int> follow(const GroupOptions& o, const std::string& host, const std::string& port) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(o.rendezvous_timeout_ms);
  std::string last = "no attempt";
  while (Clock::now() < deadline) {
    addrinfo hints{}, *res = nullptr;
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    const int gai = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
    if (gai != 0) {
      last = std::string("cannot resolve ") + host + ": " + ::gai_strerror(gai);
    } else {
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd >= 0 && ::connect(fd, res->ai_addr, res->ai_addrlen) == 0) {
        ::freeaddrinfo(res);
        set_socket_options(fd);
        Hello h{kHelloMagic, uint32_t(o.world_size), uint32_t(o.rank), 0, o.fingerprint};
        uint32_t n = 0;
        if (!io_exact(fd, &h, sizeof(h), true, deadline) || !io_exact(fd, &n, 4, false, deadline)) {
          ::close(fd);
          throw CommError("rendezvous: rank 0 at " + o.leader_addr + " did not answer the handshake");
        }
        if (n > 0) {
          std::string why(std::min<uint32_t>(n, 4096), '\0');
          io_exact(fd, why.data(), why.size(), false, deadline);
          ::close(fd);
          throw CommError("rendezvous: rank 0 refused rank " + std::to_string(o.rank) + ": " + why);
        }
        std::vector<int> fds(size_t(o.world_size), -1);
        fds[0] = fd;
        return fds;
      }
      last = std::strerror(errno);
      if (fd >= 0) ::close(fd);
      ::freeaddrinfo(res);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(100, ms_left(deadline))));
  }
  throw CommError("rendezvous: rank " + std::to_string(o.rank) + " could not reach rank 0 at " + o.leader_addr + " within " +
                  std::to_string(o.rendezvous_timeout_ms) + " ms (" + last + ")");
}

}  // namespace

std::vector<int> tcp_rendezvous(const GroupOptions& o) {
  const auto [host, port] = split_addr(o.leader_addr);
  return o.rank == 0 ? lead(o, port) : follow(o, host, port);
}

std::unique_ptr<Communicator> make_tcp_comm(int rank, int world, uint32_t timeout_ms, std::vector<int> fds) {
  return std::make_unique<TcpComm>(rank, world, timeout_ms, std::move(fds));
}

}  // namespace tandem::dist
