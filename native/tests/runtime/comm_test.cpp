// TCP collectives with real sockets: each rank is a thread holding its own Communicator.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <future>
#include <thread>

#include "dist/comm.h"

namespace tandem::dist {
namespace {

using Clock = std::chrono::steady_clock;

// A port nobody listens on right now (the kernel's pick for an ephemeral bind).
int free_port() {
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

GroupOptions opts(int rank, int world, int port, uint32_t timeout_ms = 2000) {
  GroupOptions o;
  o.rank = rank;
  o.world_size = world;
  o.leader_addr = "127.0.0.1:" + std::to_string(port);
  o.fingerprint = 42;
  o.rendezvous_timeout_ms = 5000;
  o.timeout_ms = timeout_ms;
  return o;
}

// Runs fn(comm) on every rank of a fresh group, each in its own thread; rethrows the first error.
void run_group(int world, const std::function<void(Communicator&)>& fn, uint32_t timeout_ms = 2000) {
  const int port = free_port();
  std::vector<std::future<void>> ranks;
  for (int r = 0; r < world; r++)
    ranks.push_back(std::async(std::launch::async, [=] {
      auto c = connect_group(opts(r, world, port, timeout_ms));
      fn(*c);
    }));
  for (auto& f : ranks) f.get();
}

TEST(Comm, AllReduceBroadcastGatherAcrossThreeRanks) {
  run_group(3, [](Communicator& c) {
    const int r = c.rank();
    std::vector<float> v = {float(r), 1.f, float(r * r)};
    c.all_reduce_sum(v.data(), v.size());
    EXPECT_EQ(v, (std::vector<float>{3.f, 3.f, 5.f}));

    std::vector<int32_t> b(4, r == 0 ? 7 : -1);
    c.broadcast(b.data(), b.size() * 4);
    EXPECT_EQ(b, std::vector<int32_t>(4, 7));

    std::vector<uint8_t> msg;
    if (r == 0) msg = {1, 2, 3, 4, 5};
    c.broadcast_message(msg);
    EXPECT_EQ(msg, (std::vector<uint8_t>{1, 2, 3, 4, 5}));

    const int32_t mine[2] = {r, 10 * r};
    int32_t all[6] = {-1, -1, -1, -1, -1, -1};
    c.gather(mine, sizeof(mine), all);
    if (r == 0) {
      EXPECT_EQ(std::vector<int32_t>(all, all + 6), (std::vector<int32_t>{0, 0, 1, 10, 2, 20}));
    }
    int32_t every[6] = {};
    c.all_gather(mine, sizeof(mine), every);
    EXPECT_EQ(std::vector<int32_t>(every, every + 6), (std::vector<int32_t>{0, 0, 1, 10, 2, 20}));

    const CommStats s = c.stats();
    EXPECT_EQ(s.ops, 5u);
    EXPECT_GT(s.bytes, 0u);
  });
}

TEST(Comm, LargeAllReduceIsExactAndOrdered) {
  run_group(2, [](Communicator& c) {
    std::vector<float> v(1 << 20);
    for (size_t i = 0; i < v.size(); i++) v[i] = float(i % 1000) * (c.rank() ? 0.5f : 1.f);
    c.all_reduce_sum(v.data(), v.size());
    for (size_t i = 0; i < v.size(); i += 4099) ASSERT_EQ(v[i], float(i % 1000) * 1.5f);
  });
}

TEST(Comm, MissingRankFailsWithinTheRendezvousTimeoutNamingIt) {
  const int port = free_port();
  GroupOptions o = opts(0, 3, port);
  o.rendezvous_timeout_ms = 700;
  auto joiner = std::async(std::launch::async, [&] {
    GroupOptions f = opts(1, 3, port);
    f.rendezvous_timeout_ms = 700;
    try {
      auto c = connect_group(f);
      std::vector<uint8_t> m;
      c->broadcast_message(m);  // the leader gives up: this fails instead of hanging
    } catch (const CommError&) {
    }
  });
  const auto t0 = Clock::now();
  try {
    connect_group(o);
    FAIL() << "rendezvous should fail";
  } catch (const CommError& e) {
    EXPECT_NE(std::string(e.what()).find("rank 2 of 3 did not join"), std::string::npos) << e.what();
    EXPECT_EQ(e.status(), TANDEM_STATUS_UNAVAILABLE);
  }
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_GE(s, 0.6);
  EXPECT_LT(s, 2.0);
  joiner.get();
}

TEST(Comm, FollowerWithoutLeaderGivesUpNamingTheAddress) {
  GroupOptions f = opts(1, 2, free_port());
  f.rendezvous_timeout_ms = 300;
  try {
    connect_group(f);
    FAIL();
  } catch (const CommError& e) {
    EXPECT_NE(std::string(e.what()).find("could not reach rank 0 at 127.0.0.1:"), std::string::npos) << e.what();
  }
}

TEST(Comm, FingerprintMismatchIsRefusedOnBothSides) {
  const int port = free_port();
  auto follower = std::async(std::launch::async, [&] {
    GroupOptions f = opts(1, 2, port);
    f.fingerprint = 43;
    connect_group(f);
  });
  EXPECT_THROW(connect_group(opts(0, 2, port)), CommError);
  try {
    follower.get();
    FAIL();
  } catch (const CommError& e) {
    EXPECT_NE(std::string(e.what()).find("fingerprint"), std::string::npos) << e.what();
  }
}

TEST(Comm, DeadPeerFailsTheCollectiveAtOnce) {
  const int port = free_port();
  auto follower = std::async(std::launch::async, [&] {
    auto c = connect_group(opts(1, 2, port, 10000));
    float x = 1;
    c->all_reduce_sum(&x, 1);
    // then "dies": the communicator closes its socket
  });
  auto c = connect_group(opts(0, 2, port, 10000));
  float x = 2;
  c->all_reduce_sum(&x, 1);
  EXPECT_EQ(x, 3.f);
  follower.get();
  const auto t0 = Clock::now();
  EXPECT_THROW(c->all_reduce_sum(&x, 1), CommError);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 1.0);  // EOF, not the 10 s timeout
  EXPECT_THROW(c->broadcast(&x, 4), CommError);                              // broken for good
}

TEST(Comm, StalledPeerFailsWithinTheTimeout) {
  const int port = free_port();
  std::promise<void> done;
  auto follower = std::async(std::launch::async, [&] {
    auto c = connect_group(opts(1, 2, port, 300));
    done.get_future().wait();  // stalls: never joins the collective
  });
  auto c = connect_group(opts(0, 2, port, 300));
  float x = 1;
  const auto t0 = Clock::now();
  try {
    c->all_reduce_sum(&x, 1);
    FAIL();
  } catch (const CommError& e) {
    EXPECT_NE(std::string(e.what()).find("stalled"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 1.5);
  done.set_value();
  follower.get();
}

}  // namespace
}  // namespace tandem::dist
