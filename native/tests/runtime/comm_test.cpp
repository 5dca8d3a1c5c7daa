// Collectives with real sockets (and shared memory): each rank is a thread holding its own
// Communicator. The collective tests run once per transport (Comm/CommOver.*/tcp and /shm); the
// rendezvous tests are transport-neutral. Shared-memory specifics live in shm_comm_test.cpp.
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
#include "runtime/group_test_util.h"

namespace tandem::dist {
using test::free_port;

namespace {

using Clock = std::chrono::steady_clock;

GroupOptions opts(int rank, int world, int port, uint32_t timeout_ms = 2000, Transport transport = Transport::Auto) {
  return test::loopback_group(rank, world, port, transport, timeout_ms);
}

// Runs fn(comm) on every rank of a fresh group, each in its own thread; rethrows the first error.
void run_group(int world, const std::function<void(Communicator&)>& fn, uint32_t timeout_ms = 2000,
               Transport transport = Transport::Auto) {
  const int port = free_port();
  std::vector<std::future<void>> ranks;
  for (int r = 0; r < world; r++)
    ranks.push_back(std::async(std::launch::async, [=] {
      auto c = connect_group(opts(r, world, port, timeout_ms, transport));
      fn(*c);
    }));
  for (auto& f : ranks) f.get();
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// The collective tests, once per transport (both forced, so a fallback cannot hide a failure).
class CommOver : public ::testing::TestWithParam<Transport> {
 protected:
  Transport t() const { return GetParam(); }
  GroupOptions o(int rank, int world, int port, uint32_t timeout_ms) const { return opts(rank, world, port, timeout_ms, t()); }
};

INSTANTIATE_TEST_SUITE_P(Comm, CommOver, ::testing::Values(Transport::Tcp, Transport::Shm),
                         [](const ::testing::TestParamInfo<Transport>& i) { return std::string(transport_name(i.param)); });

TEST_P(CommOver, AllReduceBroadcastGatherAcrossThreeRanks) {
  const std::string want = transport_name(t());
  run_group(3, [&](Communicator& c) {
    EXPECT_EQ(c.transport(), want);
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
    EXPECT_GT(s.nanos, 0u);
  }, 2000, t());
}

TEST_P(CommOver, LargeAllReduceIsExactAndOrdered) {
  run_group(2, [](Communicator& c) {
    std::vector<float> v((1 << 20) + 3);  // over shm: more than one 4 MiB slot, so chunked
    for (size_t i = 0; i < v.size(); i++) v[i] = float(i % 1000) * (c.rank() ? 0.5f : 1.f);
    c.all_reduce_sum(v.data(), v.size());
    for (size_t i = 0; i < v.size(); i += 4099) ASSERT_EQ(v[i], float(i % 1000) * 1.5f);
    ASSERT_EQ(v.back(), float((v.size() - 1) % 1000) * 1.5f);
  }, 2000, t());
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

TEST_P(CommOver, DeadPeerFailsTheCollectiveAtOnce) {
  const int port = free_port();
  auto follower = std::async(std::launch::async, [&] {
    auto c = connect_group(o(1, 2, port, 10000));
    float x = 1;
    c->all_reduce_sum(&x, 1);
    // then "dies": the communicator closes its socket
  });
  auto c = connect_group(o(0, 2, port, 10000));
  float x = 2;
  c->all_reduce_sum(&x, 1);
  EXPECT_EQ(x, 3.f);
  follower.get();
  const auto t0 = Clock::now();
  try {
    c->all_reduce_sum(&x, 1);
    FAIL();
  } catch (const CommError& e) {
    EXPECT_NE(std::string(e.what()).find("peer rank 1"), std::string::npos) << e.what();
  }
  EXPECT_LT(seconds_since(t0), 1.0);  // EOF, not the 10 s timeout
  EXPECT_THROW(c->broadcast(&x, 4), CommError);                              // broken for good
}

TEST_P(CommOver, StalledPeerFailsWithinTheTimeout) {
  const int port = free_port();
  std::promise<void> done;
  auto follower = std::async(std::launch::async, [&] {
    auto c = connect_group(o(1, 2, port, 300));
    done.get_future().wait();  // stalls: never joins the collective
  });
  auto c = connect_group(o(0, 2, port, 300));
  float x = 1;
  const auto t0 = Clock::now();
  try {
    c->all_reduce_sum(&x, 1);
    FAIL();
  } catch (const CommError& e) {
    EXPECT_NE(std::string(e.what()).find("stalled"), std::string::npos) << e.what();
  }
  EXPECT_LT(seconds_since(t0), 1.5);
  EXPECT_GE(seconds_since(t0), 0.29);
  done.set_value();
  follower.get();
}

// broadcast_message's own timeout wins over the group's: shorter (a follower gives up) and longer
// (a follower waiting for the next step plan outlives the per-call timeout).
TEST_P(CommOver, BroadcastMessageHonoursItsTimeout) {
  const int port = free_port();
  std::promise<void> go;
  auto leader = std::async(std::launch::async, [&] {
    auto c = connect_group(o(0, 2, port, 300));
    std::this_thread::sleep_for(std::chrono::milliseconds(800));  // longer than the 300 ms call timeout
    std::vector<uint8_t> m(5000000, 9);                         // over shm: chunked
    c->broadcast_message(m);
    go.get_future().wait();
  });
  auto c = connect_group(o(1, 2, port, 300));
  std::vector<uint8_t> m;
  c->broadcast_message(m, 3000);
  EXPECT_EQ(m.size(), 5000000u);
  EXPECT_EQ(m.back(), 9);
  go.set_value();
  leader.get();

  const int port2 = free_port();
  std::promise<void> done;
  auto stalled = std::async(std::launch::async, [&] {
    auto l = connect_group(o(0, 2, port2, 10000));
    done.get_future().wait();
  });
  auto f = connect_group(o(1, 2, port2, 10000));
  const auto t0 = Clock::now();
  EXPECT_THROW(f->broadcast_message(m, 250), CommError);
  EXPECT_GE(seconds_since(t0), 0.24);
  EXPECT_LT(seconds_since(t0), 1.5);
  done.set_value();
  stalled.get();
}

// abort() on one rank (here: rank 1, between collectives) makes the others fail promptly, far
// below their 10 s timeout, and every later call throws.
TEST_P(CommOver, AbortOnOneRankFailsTheOthersPromptly) {
  const int port = free_port();
  std::vector<std::future<double>> ranks;
  for (int r = 0; r < 3; r++)
    ranks.push_back(std::async(std::launch::async, [&, r] {
      auto c = connect_group(o(r, 3, port, 10000));
      float x = 1;
      c->all_reduce_sum(&x, 1);
      const auto t0 = Clock::now();
      if (r == 1) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        c->abort("engine shutting down");
        EXPECT_THROW(c->all_reduce_sum(&x, 1), CommError);
        c->abort("twice is fine");
        return 0.0;
      }
      try {
        c->all_reduce_sum(&x, 1);
        ADD_FAILURE() << "rank " << r << " should fail";
      } catch (const CommError& e) {
        if (t() == Transport::Shm) {  // the segment carries the reason
          EXPECT_NE(std::string(e.what()).find("aborted by rank 1: engine shutting down"), std::string::npos) << e.what();
        }
      }
      EXPECT_THROW(c->broadcast(&x, 4), CommError);  // broken for good
      return seconds_since(t0);
    }));
  for (int r = 0; r < 3; r++) EXPECT_LT(ranks[size_t(r)].get(), 1.0) << "rank " << r;
}

// abort() from another thread while this rank waits inside a collective wakes it at once.
TEST_P(CommOver, AbortFromAnotherThreadWakesAWaitingCall) {
  const int port = free_port();
  std::promise<void> done;
  auto follower = std::async(std::launch::async, [&] {
    auto c = connect_group(o(1, 2, port, 10000));
    done.get_future().wait();
  });
  auto c = connect_group(o(0, 2, port, 10000));
  auto killer = std::async(std::launch::async, [&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    c->abort("shutdown requested");
  });
  const auto t0 = Clock::now();
  float x = 1;
  EXPECT_THROW(c->all_reduce_sum(&x, 1), CommError);
  EXPECT_LT(seconds_since(t0), 1.0);
  killer.get();
  done.set_value();
  follower.get();
}

TEST(Comm, ParseTransportAcceptsTheThreeNamesAndNamesTheField) {
  EXPECT_EQ(parse_transport("auto"), Transport::Auto);
  EXPECT_EQ(parse_transport("tcp"), Transport::Tcp);
  EXPECT_EQ(parse_transport("shm"), Transport::Shm);
  for (Transport t : {Transport::Auto, Transport::Tcp, Transport::Shm}) EXPECT_EQ(parse_transport(transport_name(t)), t);
  try {
    parse_transport("SHM ");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), TANDEM_STATUS_INVALID_ARGUMENT);
    EXPECT_NE(std::string(e.what()).find("tp_transport"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("auto, tcp, shm"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace tandem::dist
