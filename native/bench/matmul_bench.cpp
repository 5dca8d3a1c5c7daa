// Matmul throughput for one kernel variant, weight dtype and thread count (not part of the tests).
// Build (from native/, after building tandem_ops into BUILD):
//   c++ -std=c++20 -O3 -Isrc -Iinclude bench/matmul_bench.cpp BUILD/libtandem_ops.a -lpthread -o matmul_bench
// Run: matmul_bench [isa=avx2] [dtype=bf16] [rows=4096] [cols=4096] [m=1] [threads=1] [seconds=2]
// Prints GFLOP/s (2·m·rows·cols per call) and GB/s of weight bytes streamed per call.
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "ops/ops.h"
#include "util/thread_pool.h"

using namespace tandem;
using namespace tandem::ops;

int main(int argc, char** argv) {
  const char* isa = argc > 1 ? argv[1] : "avx2";
  std::string dt_name = argc > 2 ? argv[2] : "bf16";
  int64_t rows = argc > 3 ? std::atoll(argv[3]) : 4096;
  int64_t cols = argc > 4 ? std::atoll(argv[4]) : 4096;
  int64_t m = argc > 5 ? std::atoll(argv[5]) : 1;
  int threads = argc > 6 ? std::atoi(argv[6]) : 1;
  double seconds = argc > 7 ? std::atof(argv[7]) : 2.0;
  if (!force_isa(isa)) {
    std::fprintf(stderr, "this CPU cannot run isa=%s\n", isa);
    return 2;
  }
  DType dt = dt_name == "f32" ? DType::F32 : dt_name == "f16" ? DType::F16 : DType::BF16;
  size_t es = dt == DType::F32 ? 4 : 2;

  std::mt19937 rng(1);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  std::vector<float> wf, x(size_t(m * cols)), y(size_t(m * rows));
  std::vector<uint16_t> wh;
  if (dt == DType::F32) {
    wf.resize(size_t(rows * cols));
    for (auto& v : wf) v = d(rng);
  } else {
    wh.resize(size_t(rows * cols));
    for (auto& v : wh) v = dt == DType::BF16 ? f32_to_bf16(d(rng)) : uint16_t(0x3000 | (rng() & 0x83ff));
  }
  for (auto& v : x) v = d(rng);
  WeightView w{dt == DType::F32 ? static_cast<const void*>(wf.data()) : wh.data(), dt, rows, cols};
  ThreadPool pool(threads);

  matmul(x.data(), m, w, y.data(), &pool);  // warm-up: page in weights, start workers
  // CPU time as well as wall time: on a shared machine wall time also counts other processes.
  auto cpu_now = [] {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
  };
  int64_t calls = 0;
  const double c0 = cpu_now();
  auto t0 = std::chrono::steady_clock::now();
  double elapsed = 0;
  while (elapsed < seconds || calls < 2) {
    matmul(x.data(), m, w, y.data(), &pool);
    calls++;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  double per_call = elapsed / double(calls);
  double cpu_per_call = (cpu_now() - c0) / double(calls);
  double gflops = 2.0 * double(m) * double(rows) * double(cols) / per_call / 1e9;
  double gbps = double(rows) * double(cols) * double(es) / per_call / 1e9;
  std::printf("isa=%s dtype=%s %lldx%lld m=%lld threads=%d: %.3f ms/call  %.2f GFLOP/s  %.2f GB/s weights"
              "  (cpu %.3f ms/call: %.2f GFLOP/s per cpu-second)\n",
              active_isa(), dt_name.c_str(), (long long)rows, (long long)cols, (long long)m, threads, per_call * 1e3, gflops,
              gbps, cpu_per_call * 1e3, 2.0 * double(m) * double(rows) * double(cols) / cpu_per_call / 1e9);
  return 0;
}
