// all_reduce latency of the tensor-parallel collectives, TCP against shared memory, two ranks in
// two processes (not part of the tests). Build with -DTANDEM_BUILD_BENCH=ON (target comm_bench).
// Run: comm_bench [iterations=2000]
// Prints p50 / p90 / mean microseconds per all_reduce_sum on rank 0 for 4 floats (latency) and
// 16 x 1024 floats (a batch-16 decode step's activations of a 1024-wide model).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "dist/comm.h"
#include "../tests/runtime/group_test_util.h"

using namespace tandem::dist;
using tandem::test::free_port;
using Clock = std::chrono::steady_clock;

namespace {

GroupOptions opts(int rank, int port, Transport t) { return tandem::test::loopback_group(rank, 2, port, t, 5000); }

}  // namespace

int main(int argc, char** argv) {
  const int iters = argc > 1 ? std::max(10, std::atoi(argv[1])) : 2000;
  for (Transport t : {Transport::Tcp, Transport::Shm})
    for (size_t n : {size_t(4), size_t(16 * 1024)}) {
      const int port = free_port();
      const pid_t pid = ::fork();
      if (pid == 0) {
        auto c = connect_group(opts(1, port, t));
        std::vector<float> v(n, 1.f);
        for (int i = 0; i < iters + 100; i++) c->all_reduce_sum(v.data(), n);
        std::_Exit(0);
      }
      auto c = connect_group(opts(0, port, t));
      std::vector<float> v(n, 1.f);
      for (int i = 0; i < 100; i++) c->all_reduce_sum(v.data(), n);  // warm-up
      std::vector<double> us(static_cast<size_t>(iters));
      for (int i = 0; i < iters; i++) {
        const auto t0 = Clock::now();
        c->all_reduce_sum(v.data(), n);
        us[size_t(i)] = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
      }
      double mean = 0;
      for (double u : us) mean += u / iters;
      std::sort(us.begin(), us.end());
      std::printf("all_reduce %-3s %6zu floats: p50 %7.2f us  p90 %7.2f us  mean %7.2f us\n", transport_name(t), n,
                  us[us.size() / 2], us[us.size() * 9 / 10], mean);
      int status = 0;
      ::waitpid(pid, &status, 0);
    }
  return 0;
}
