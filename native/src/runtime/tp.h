// Tensor parallelism at the runtime level: rank 0 (the Engine) owns scheduling, KV bookkeeping and
// sampling and broadcasts each step's batch; ranks 1..N-1 run `run_follower`, which executes the
// same forward pass on their weight slices and per-rank KV pools (their KV heads only).
//
// Control messages (dist::Communicator::broadcast_message from rank 0), first byte = kind:
//   Init      after the rendezvous: the KV pool geometry every rank must allocate
//   Plan      one step: the SeqChunks (tokens, positions, block tables) and what rank 0 needs of
//             each logits row (vocab_parallel.h); all ranks then forward and merge the logits
//   Heartbeat sent when rank 0 is idle; followers answer with a 1-byte gather, so a dead or
//             stalled rank is noticed within about a second even without traffic
//   Shutdown  rank 0's engine is closing; followers return OK
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "dist/comm.h"
#include "model/cohere2.h"
#include "runtime/vocab_parallel.h"
#include "tandem/engine.h"

namespace tandem {

enum class TpMsg : uint8_t { Init = 1, Plan = 2, Heartbeat = 3, Shutdown = 4 };

// Rank 0 is idle this long before it sends a heartbeat.
constexpr uint32_t kHeartbeatMs = 1000;

struct TpInit {
  int32_t sliding_blocks = 0, full_blocks = 0, block_size = 0;
};

// A decoded Plan: owns the storage SeqChunk spans point into.
struct TpPlan {
  std::vector<std::vector<int32_t>> tokens, full, sliding;
  std::vector<SeqChunk> chunks;
  std::vector<RowNeed> needs;  // one per logits row, in forward()'s row order
};

std::vector<uint8_t> encode_init(const TpInit& init);
TpInit decode_init(const std::vector<uint8_t>& msg);
std::vector<uint8_t> encode_plan(std::span<const SeqChunk> batch, std::span<const RowNeed> needs);
// Throws CommError on a malformed message (a protocol bug or a version mismatch).
void decode_plan(const std::vector<uint8_t>& msg, TpPlan& out);

// Group options from the public options (defaults for zero timeouts).
dist::GroupOptions group_options(const tandem_engine_options& o, uint64_t fingerprint);
// Problems with the TP fields of the options (rank, world_size, leader_addr), each naming its field.
std::vector<std::string> validate_tp_options(const tandem_engine_options& o, bool follower);

// Runs rank o.rank (>= 1) until rank 0 shuts down (returns) or the group fails (throws).
void run_follower(const tandem_engine_options& o, tandem_progress_fn progress, void* progress_user);

}  // namespace tandem
