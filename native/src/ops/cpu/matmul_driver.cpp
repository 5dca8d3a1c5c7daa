// The matmul loop nest shared by every variant; only the innermost tile differs per ISA.
//
// Work is split over blocks of kRowBlock output rows (weight rows), one block at a time per
// thread. Inside a block, input features are cut into k blocks small enough that the block's
// weights (kRowBlock × kc in the stored dtype, 128 KB) stay in L2 while every group of x rows
// passes over them: each weight element comes from DRAM once per call and is reused for all m
// rows of x. Decode (m = 1..16) is therefore bound by weight streaming bandwidth, prefill (large
// m) by the FMA units in the tile. Row blocks, k blocks and tile shapes never change the order in
// which one output is summed, so results are bitwise independent of m and of the thread count.
#include <algorithm>
#include <cstring>
#include <string>

#include "ops/cpu/kernels.h"
#include "util/status.h"
#include "util/thread_pool.h"

namespace tandem::ops::cpu {

namespace {

constexpr int64_t kRowBlock = 16;   // output rows per unit of thread work; a multiple of every tile's R
// Input features per k block: a unit's weights (16 × kc: 128 KB) stay in L2 across the x row
// groups. Longer blocks amortise each tile's setup and horizontal sums; measured on Zen 3,
// kc = 1024 → 4096 (bf16) raised m=64 throughput from ~50 to ~66 GFLOP/s per core.
constexpr int64_t kKBlockBytes = 8192;
constexpr int64_t kMinChunkFma = 1 << 16;  // below this many FMAs per chunk, waking a thread costs more

size_t dtype_size(DType dt) {
  switch (dt) {
    case DType::F32:
      return 4;
    case DType::BF16:
    case DType::F16:
      return 2;
  }
  throw Error(TANDEM_STATUS_INVALID_ARGUMENT, "matmul: weight dtype " + std::to_string(int(dt)) + " is not f32, bf16 or f16");
}

}  // namespace

void matmul_blocked(const Kernels& kt, const float* x, int64_t m, const WeightView& w, float* y, ThreadPool* pool) {
  if (m < 0 || w.rows < 0 || w.cols < 0)
    throw Error(TANDEM_STATUS_INVALID_ARGUMENT, "matmul: negative size (m=" + std::to_string(m) + ", rows=" +
                                                    std::to_string(w.rows) + ", cols=" + std::to_string(w.cols) + ")");
  const size_t es = dtype_size(w.dtype);
  if (m == 0 || w.rows == 0) return;
  if (w.cols == 0) {
    std::fill(y, y + m * w.rows, 0.f);
    return;
  }
  if (!x || !y || !w.data) throw Error(TANDEM_STATUS_INVALID_ARGUMENT, "matmul: null x, y or weight data");

  const int64_t rows = w.rows, cols = w.cols;
  const int64_t kc = std::min<int64_t>(cols, kKBlockBytes / int64_t(es));
  const MatmulTiles& t = kt.matmul;
  const int mg = m == 1 ? 1 : t.max_m;
  const int rt = m == 1 ? t.max_r_single : t.max_r;
  // Resolve the tile kernels once; index [r][m] with r <= 8, m <= 4.
  TileFn tiles[9][5] = {};
  for (int r = 1; r <= rt; r++)
    for (int i = 1; i <= mg; i++) {
      tiles[r][i] = t.pick(w.dtype, r, i);
      if (!tiles[r][i])
        throw Error(TANDEM_STATUS_INTERNAL, std::string("matmul: variant ") + kt.name + " has no " + std::to_string(r) + "x" +
                                                std::to_string(i) + " tile");
    }
  const char* wbase = static_cast<const char*>(w.data);

  auto run_units = [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; u++) {
      const int64_t r0 = u * kRowBlock, r1 = std::min(rows, r0 + kRowBlock);
      for (int64_t k0 = 0; k0 < cols; k0 += kc) {
        const int64_t kn = std::min(kc, cols - k0);
        for (int64_t i0 = 0; i0 < m; i0 += mg) {
          const int mi = int(std::min<int64_t>(mg, m - i0));
          for (int64_t r = r0; r < r1; r += rt) {
            const int ri = int(std::min<int64_t>(rt, r1 - r));
            tiles[ri][mi](x + i0 * cols + k0, cols, wbase + size_t(r * cols + k0) * es, cols, kn, y + i0 * rows + r, rows,
                          k0 > 0);
          }
        }
      }
    }
  };

  const int64_t n_units = (rows + kRowBlock - 1) / kRowBlock;
  if (!pool || pool->size() <= 1) {
    run_units(0, n_units);
    return;
  }
  const int64_t fma_per_unit = kRowBlock * cols * m;
  const int64_t min_chunk = std::max<int64_t>(1, kMinChunkFma / fma_per_unit);
  pool->parallel_for(n_units, min_chunk, run_units);
}

}  // namespace tandem::ops::cpu
