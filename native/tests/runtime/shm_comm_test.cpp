// The shared-memory transport: bitwise equal to TCP, picked (or refused) at run time, and failing as
// a group when a real process is SIGKILLed. Ranks are threads, or forked children where the test
// needs a real process (SIGKILL) or a process with its own /dev/shm or hostname (namespaces: those
// tests skip when the kernel refuses unshare, e.g. without CAP_SYS_ADMIN).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <random>
#include <thread>

#include "dist/comm.h"
#include "runtime/group_test_util.h"

namespace tandem::dist {
using test::free_port;

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

GroupOptions opts(int rank, int world, int port, Transport t, uint32_t timeout_ms = 5000) {
  return test::loopback_group(rank, world, port, t, timeout_ms);
}

template <class T>
void append(std::vector<uint8_t>& out, const T* p, size_t n) {
  const auto* b = reinterpret_cast<const uint8_t*>(p);
  out.insert(out.end(), b, b + n * sizeof(T));
}

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(-1000.f, 1000.f);
  std::vector<float> v(n);
  for (float& x : v) x = d(g);
  return v;
}

// The sizes: empty, one, odd, and more than a 4 MiB slot (chunked over shm).
const size_t kSizes[] = {0, 1, 1001, (size_t(1) << 20) + 7};

// Runs every op on every rank and returns each rank's outputs, concatenated.
std::vector<std::vector<uint8_t>> run_all_ops(int world, Transport t) {
  const int port = free_port();
  std::vector<std::future<std::vector<uint8_t>>> ranks;
  for (int r = 0; r < world; r++)
    ranks.push_back(std::async(std::launch::async, [=] {
      auto c = connect_group(opts(r, world, port, t));
      EXPECT_STREQ(c->transport(), t == Transport::Tcp ? "tcp" : "shm");
      std::vector<uint8_t> out;
      for (size_t n : kSizes) {
        std::vector<float> v = random_floats(n, uint32_t(n * 31 + size_t(r)));
        c->all_reduce_sum(v.data(), v.size());
        append(out, v.data(), v.size());

        std::vector<float> b = random_floats(n, uint32_t(n * 17 + size_t(r)));
        c->broadcast(b.data(), b.size() * 4);
        append(out, b.data(), b.size());

        std::vector<uint8_t> m;
        if (r == 0) m.assign(n * 4 + 3, uint8_t(n));
        c->broadcast_message(m);
        append(out, m.data(), m.size());

        std::vector<float> all(n * size_t(world), -1.f);
        c->gather(b.data(), n * 4, all.data());
        if (r == 0) append(out, all.data(), all.size());
        std::fill(all.begin(), all.end(), -1.f);
        std::vector<float> mine = random_floats(n, uint32_t(n * 7 + size_t(r)));
        c->all_gather(mine.data(), n * 4, all.data());
        append(out, all.data(), all.size());
      }
      return out;
    }));
  std::vector<std::vector<uint8_t>> outs;
  for (auto& f : ranks) outs.push_back(f.get());
  return outs;
}

TEST(Shm, EveryOpMatchesTcpBitwiseOnTwoAndThreeRanks) {
  for (int world : {2, 3}) {
    const auto tcp = run_all_ops(world, Transport::Tcp);
    const auto shm = run_all_ops(world, Transport::Shm);
    for (int r = 0; r < world; r++) {
      ASSERT_EQ(tcp[size_t(r)].size(), shm[size_t(r)].size()) << "world " << world << " rank " << r;
      EXPECT_TRUE(tcp[size_t(r)] == shm[size_t(r)]) << "world " << world << " rank " << r << ": outputs differ";
    }
    // And they are right: the all_reduce result of the odd size is the rank-order sum.
    std::vector<float> want = random_floats(1001, 1001 * 31);
    for (int r = 1; r < world; r++) {
      const std::vector<float> x = random_floats(1001, uint32_t(1001 * 31 + r));
      for (size_t i = 0; i < want.size(); i++) want[i] += x[i];
    }
    // Rank 1's output: size 0 contributes 3 bytes (the message), size 1 contributes its ops, ...
    {
      // Recompute the offset of size 1001's all_reduce in rank 1's output.
      size_t off = 0;
      for (size_t n : {size_t(0), size_t(1)}) off += n * 4 * 2 + (n * 4 + 3) + n * 4 * size_t(world);
      ASSERT_EQ(std::memcmp(shm[1].data() + off, want.data(), want.size() * 4), 0) << "world " << world;
    }
  }
}

TEST(Shm, AutoPicksShmOnOneHostAndAgreesWithExplicitChoices) {
  auto group = [](std::vector<Transport> ts) {
    const int port = free_port();
    std::vector<std::future<std::string>> ranks;
    for (int r = 0; r < int(ts.size()); r++)
      ranks.push_back(std::async(std::launch::async, [=] {
        try {
          auto c = connect_group(opts(r, int(ts.size()), port, ts[size_t(r)]));
          float x = float(r + 1);
          c->all_reduce_sum(&x, 1);
          EXPECT_EQ(x, float(ts.size() * (ts.size() + 1) / 2));
          return std::string(c->transport());
        } catch (const CommError& e) {
          return std::string("error: ") + e.what();
        }
      }));
    std::vector<std::string> got;
    for (auto& f : ranks) got.push_back(f.get());
    return got;
  };
  using T = Transport;
  EXPECT_EQ(group({T::Auto, T::Auto}), (std::vector<std::string>{"shm", "shm"}));
  EXPECT_EQ(group({T::Auto, T::Auto, T::Auto}), (std::vector<std::string>{"shm", "shm", "shm"}));
  EXPECT_EQ(group({T::Tcp, T::Tcp}), (std::vector<std::string>{"tcp", "tcp"}));
  EXPECT_EQ(group({T::Auto, T::Tcp, T::Auto}), (std::vector<std::string>{"tcp", "tcp", "tcp"}));
  EXPECT_EQ(group({T::Shm, T::Auto}), (std::vector<std::string>{"shm", "shm"}));
  for (const std::string& s : group({T::Shm, T::Tcp}))
    EXPECT_NE(s.find("error: tp_transport: rank 1 asks for tcp but rank 0 for shm"), std::string::npos) << s;
}

// Forks a child that runs body() and exits with its result (0 = as expected). The child must not
// return into GoogleTest, so it leaves with _exit.
pid_t spawn(const std::function<int()>& body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    int rc = 99;
    try {
      rc = body();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child: unexpected exception: %s\n", e.what());
    }
    std::fflush(stderr);
    ::_exit(rc);
  }
  return pid;
}

int wait_child(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Can this process give a child its own mount / UTS namespace? Probed in a child.
bool can_unshare(int flags) {
  const pid_t pid = spawn([flags] { return ::unshare(flags) == 0 ? 0 : 1; });
  return wait_child(pid) == 0;
}

// A follower in a child process that cannot share memory with rank 0: either its own /dev/shm
// (a private tmpfs, as a separate pod or container has: the identity matches but mapping fails)
// or its own hostname (another pod). Returns rank 0's outcome; `child_rc` the child's.
enum class Apart { OwnDevShm, OwnHostname };

std::string leader_with_apart_follower(Apart how, Transport t, int& child_rc) {
  const int port = free_port();
  const pid_t pid = spawn([=] {
    if (how == Apart::OwnDevShm) {
      if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
          ::mount("tmpfs", "/dev/shm", "tmpfs", 0, "size=1m") != 0)
        return 3;
    } else if (::unshare(CLONE_NEWUTS) != 0 || ::sethostname("tandem-other-pod", 16) != 0) {
      return 3;
    }
    try {
      auto c = connect_group(opts(1, 2, port, t));
      float x = 2;
      c->all_reduce_sum(&x, 1);
      return std::string(c->transport()) == "tcp" && x == 3.f ? 0 : 4;
    } catch (const CommError& e) {
      std::fprintf(stderr, "child rank 1: %s\n", e.what());
      return t == Transport::Shm ? 0 : 5;
    }
  });
  std::string outcome;
  try {
    auto c = connect_group(opts(0, 2, port, t));
    float x = 1;
    c->all_reduce_sum(&x, 1);
    outcome = std::string(c->transport()) + (x == 3.f ? "" : " (wrong sum)");
  } catch (const CommError& e) {
    outcome = std::string("error: ") + e.what();
  }
  child_rc = wait_child(pid);
  return outcome;
}

TEST(Shm, ForcedShmFailsClearlyWhenAFollowerCannotMapAndAutoFallsBackToTcp) {
  if (!can_unshare(CLONE_NEWNS)) GTEST_SKIP() << "no mount namespaces here (needs CAP_SYS_ADMIN)";
  int rc = -1;
  std::string got = leader_with_apart_follower(Apart::OwnDevShm, Transport::Shm, rc);
  EXPECT_NE(got.find("error: tp_transport shm: rank 1 cannot map the shared-memory segment: shm_open /tandem-tp-"), std::string::npos)
      << got;
  EXPECT_NE(got.find("No such file or directory"), std::string::npos) << got;
  EXPECT_EQ(rc, 0) << "the follower should fail with a CommError too";

  got = leader_with_apart_follower(Apart::OwnDevShm, Transport::Auto, rc);
  EXPECT_EQ(got, "tcp");
  EXPECT_EQ(rc, 0) << "the follower should run over tcp";
}

TEST(Shm, ForcedShmFailsClearlyForAnotherPodAndAutoFallsBackToTcp) {
  if (!can_unshare(CLONE_NEWUTS)) GTEST_SKIP() << "no UTS namespaces here (needs CAP_SYS_ADMIN)";
  int rc = -1;
  std::string got = leader_with_apart_follower(Apart::OwnHostname, Transport::Shm, rc);
  EXPECT_NE(got.find("error: tp_transport shm: rank 1 is on another host or pod (hostname \"tandem-other-pod\""), std::string::npos) << got;
  EXPECT_EQ(rc, 0);
  got = leader_with_apart_follower(Apart::OwnHostname, Transport::Auto, rc);
  EXPECT_EQ(got, "tcp");
  EXPECT_EQ(rc, 0);
}

TEST(Shm, NothingIsLeftInDevShm) {
  auto count = [] {
    int n = 0;
    if (FILE* p = ::popen("ls /dev/shm 2>/dev/null | grep -c '^tandem-tp-'", "r")) {
      if (std::fscanf(p, "%d", &n) != 1) n = -1;
      ::pclose(p);
    }
    return n;
  };
  const int before = count();
  const int port = free_port();
  auto f = std::async(std::launch::async, [&] { return connect_group(opts(1, 2, port, Transport::Shm)); });
  auto c0 = connect_group(opts(0, 2, port, Transport::Shm));
  auto c1 = f.get();
  EXPECT_EQ(count(), before);  // unlinked as soon as every follower mapped it, while the group runs
  float x = 1, y = 2;
  auto r1 = std::async(std::launch::async, [&] { c1->all_reduce_sum(&y, 1); });
  c0->all_reduce_sum(&x, 1);
  r1.get();
  EXPECT_EQ(x, 3.f);
  EXPECT_EQ(y, 3.f);
}

// A real process SIGKILLed while it waits inside a collective: the survivors throw a CommError
// naming it within a second (their timeout is 20 s). Three ranks: the victim is blocked in an
// all_reduce because the third rank has not arrived yet; the third arrives after the kill.
void kill_mid_collective(int victim) {
  const int port = free_port();
  const uint32_t timeout = 20000;
  const pid_t pid = spawn([=] {
    auto c = connect_group(opts(victim, 3, port, Transport::Shm, timeout));
    float x = 1;
    c->all_reduce_sum(&x, 1);  // the warm-up
    c->all_reduce_sum(&x, 1);  // blocks until killed
    return 6;
  });
  const int late = 2;
  const int early = victim == 0 ? 1 : 0;
  std::promise<void> killed;
  auto late_rank = std::async(std::launch::async, [&] {
    auto c = connect_group(opts(late, 3, port, Transport::Shm, timeout));
    float x = 1;
    c->all_reduce_sum(&x, 1);
    killed.get_future().wait();
    const auto t0 = Clock::now();
    EXPECT_THROW(c->all_reduce_sum(&x, 1), CommError);
    return seconds_since(t0);
  });
  auto c = connect_group(opts(early, 3, port, Transport::Shm, timeout));
  EXPECT_STREQ(c->transport(), "shm");
  float x = 1;
  c->all_reduce_sum(&x, 1);
  EXPECT_EQ(x, 3.f);
  auto killer = std::async(std::launch::async, [&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ::kill(pid, SIGKILL);
    return Clock::now();
  });
  try {
    c->all_reduce_sum(&x, 1);
    ADD_FAILURE() << "rank " << early << " should fail";
  } catch (const CommError& e) {
    EXPECT_NE(std::string(e.what()).find("peer rank " + std::to_string(victim)), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("did it exit?"), std::string::npos) << e.what();
  }
  const double detect = std::chrono::duration<double>(Clock::now() - killer.get()).count();
  EXPECT_LT(detect, 1.0);
  killed.set_value();
  EXPECT_LT(late_rank.get(), 1.0);
  EXPECT_EQ(wait_child(pid), 128 + SIGKILL);
}

TEST(Shm, SigkilledFollowerFailsTheGroupWithinASecond) { kill_mid_collective(1); }
TEST(Shm, SigkilledLeaderFailsTheGroupWithinASecond) { kill_mid_collective(0); }

// A stalled (alive, silent) peer in another process: the timeout fires, not before.
TEST(Shm, StalledProcessHitsTheTimeout) {
  const int port = free_port();
  const pid_t pid = spawn([=] {
    auto c = connect_group(opts(1, 2, port, Transport::Shm, 400));
    ::pause();  // stalls until killed
    return 0;
  });
  auto c = connect_group(opts(0, 2, port, Transport::Shm, 400));
  const auto t0 = Clock::now();
  float x = 1;
  try {
    c->all_reduce_sum(&x, 1);
    ADD_FAILURE();
  } catch (const CommError& e) {
    EXPECT_NE(std::string(e.what()).find("stalled"), std::string::npos) << e.what();
  }
  EXPECT_GE(seconds_since(t0), 0.39);
  EXPECT_LT(seconds_since(t0), 1.5);
  ::kill(pid, SIGKILL);
  wait_child(pid);
}

}  // namespace
}  // namespace tandem::dist
