// Follower ranks and the control-message codec (see tp.h). Messages use the host byte order:
// a group runs one build of the engine on one architecture (the handshake's fingerprint and the
// frame headers would catch a mismatch as garbage, not silently).
#include "runtime/tp.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "runtime/kv_manager.h"
#include "runtime/validate.h"
#include "util/status.h"
#include "util/thread_pool.h"

namespace tandem {
namespace {

struct Writer {
  std::vector<uint8_t> b;
  template <class T>
  void put(T v) {
    const size_t n = b.size();
    b.resize(n + sizeof(T));
    std::memcpy(b.data() + n, &v, sizeof(T));
  }
  void put_ids(std::span<const int32_t> ids) {
    put(uint32_t(ids.size()));
    const size_t n = b.size();
    b.resize(n + ids.size_bytes());
    if (!ids.empty()) std::memcpy(b.data() + n, ids.data(), ids.size_bytes());
  }
};

struct Reader {
  const std::vector<uint8_t>& b;
  size_t at = 0;
  void need(size_t n) const {
    if (at + n > b.size()) throw dist::CommError("tensor-parallel control message truncated (" + std::to_string(b.size()) + " bytes)");
  }
  template <class T>
  T get() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, b.data() + at, sizeof(T));
    at += sizeof(T);
    return v;
  }
  std::vector<int32_t> get_ids() {
    const uint32_t n = get<uint32_t>();
    need(size_t(n) * 4);
    std::vector<int32_t> v(n);
    if (n) std::memcpy(v.data(), b.data() + at, size_t(n) * 4);
    at += size_t(n) * 4;
    return v;
  }
};

void expect_kind(const std::vector<uint8_t>& msg, TpMsg kind) {
  if (msg.empty() || msg[0] != uint8_t(kind))
    throw dist::CommError("tensor-parallel control message: expected kind " + std::to_string(int(kind)) + ", got " +
                          (msg.empty() ? std::string("an empty message") : std::to_string(int(msg[0]))));
}

}  // namespace

std::vector<uint8_t> encode_init(const TpInit& init) {
  Writer w;
  w.put(uint8_t(TpMsg::Init));
  w.put(init.sliding_blocks);
  w.put(init.full_blocks);
  w.put(init.block_size);
  return std::move(w.b);
}

TpInit decode_init(const std::vector<uint8_t>& msg) {
  expect_kind(msg, TpMsg::Init);
  Reader r{msg, 1};
  TpInit i;
  i.sliding_blocks = r.get<int32_t>();
  i.full_blocks = r.get<int32_t>();
  i.block_size = r.get<int32_t>();
  return i;
}

std::vector<uint8_t> encode_plan(std::span<const SeqChunk> batch, std::span<const RowNeed> needs) {
  Writer w;
  w.put(uint8_t(TpMsg::Plan));
  w.put(uint32_t(batch.size()));
  for (const SeqChunk& c : batch) {
    w.put(c.start_pos);
    w.put(c.sliding_first);
    w.put(uint8_t(c.all_logits));
    w.put_ids(c.tokens);
    w.put_ids(c.full_blocks);
    w.put_ids(c.sliding_blocks);
  }
  w.put(uint32_t(needs.size()));
  for (const RowNeed& n : needs) {
    w.put(uint8_t(n.kind));
    w.put(n.need.k);
    w.put(n.need.key_scale);
    w.put(n.need.n_top);
  }
  return std::move(w.b);
}

void decode_plan(const std::vector<uint8_t>& msg, TpPlan& out) {
  expect_kind(msg, TpMsg::Plan);
  Reader r{msg, 1};
  const uint32_t n = r.get<uint32_t>();
  out.tokens.assign(n, {});
  out.full.assign(n, {});
  out.sliding.assign(n, {});
  out.chunks.assign(n, {});
  for (uint32_t i = 0; i < n; i++) {
    SeqChunk& c = out.chunks[i];
    c.start_pos = r.get<int64_t>();
    c.sliding_first = r.get<int64_t>();
    c.all_logits = r.get<uint8_t>() != 0;
    out.tokens[i] = r.get_ids();
    out.full[i] = r.get_ids();
    out.sliding[i] = r.get_ids();
    c.tokens = out.tokens[i];
    c.full_blocks = out.full[i];
    c.sliding_blocks = out.sliding[i];
  }
  const uint32_t rows = r.get<uint32_t>();
  r.need(size_t(rows) * 13);
  out.needs.assign(rows, {});
  for (RowNeed& n : out.needs) {
    const uint8_t kind = r.get<uint8_t>();
    if (kind > RowNeed::Candidates) throw dist::CommError("tensor-parallel plan: unknown logits row kind " + std::to_string(kind));
    n.kind = RowNeed::Kind(kind);
    n.need.k = r.get<int32_t>();
    n.need.key_scale = r.get<float>();
    n.need.n_top = r.get<int32_t>();
    if (n.need.k < 0 || n.need.k > Sampler::kMaxCandidates || n.need.n_top < 0 || n.need.n_top > Sampler::kMaxCandidates)
      throw dist::CommError("tensor-parallel plan: candidate counts out of range");
  }
}

dist::GroupOptions group_options(const tandem_engine_options& o, uint64_t fingerprint) {
  dist::GroupOptions g;
  g.rank = int(o.rank);
  g.world_size = int(o.world_size);
  g.leader_addr = o.leader_addr ? o.leader_addr : "";
  g.fingerprint = fingerprint;
  if (o.rendezvous_timeout_ms) g.rendezvous_timeout_ms = o.rendezvous_timeout_ms;
  if (o.collective_timeout_ms) g.timeout_ms = o.collective_timeout_ms;
  if (o.tp_transport && *o.tp_transport) g.transport = dist::parse_transport(o.tp_transport);
  return g;
}

std::vector<std::string> validate_tp_options(const tandem_engine_options& o, bool follower) {
  std::vector<std::string> e;
  if (o.world_size > 1024) e.push_back("world_size: must be <= 1024");
  if (follower) {
    if (o.world_size < 2) e.push_back("world_size: a follower needs a group of at least 2 ranks");
    if (o.rank == 0 || o.rank >= std::max<uint32_t>(o.world_size, 1))
      e.push_back("rank: " + std::to_string(o.rank) + " is not a follower rank in [1, world_size)");
  } else if (o.world_size > 1 && o.rank != 0) {
    e.push_back("rank: " + std::to_string(o.rank) + " is a follower; run it with tandem_engine_run_follower");
  } else if (o.world_size <= 1 && o.rank != 0) {
    e.push_back("rank: must be 0 without a tensor-parallel group (world_size <= 1)");
  }
  if (o.world_size > 1 && (!o.leader_addr || !*o.leader_addr)) e.push_back("leader_addr: required when world_size > 1 (host:port of rank 0)");
  if (o.tp_transport && *o.tp_transport) {
    const std::string t = o.tp_transport;
    if (t != "auto" && t != "tcp" && t != "shm") e.push_back("tp_transport: \"" + t + "\" is not one of auto, tcp, shm");
  }
  return e;
}

void run_follower(const tandem_engine_options& o, tandem_progress_fn progress, void* user) {
  std::vector<std::string> problems = validate_tp_options(o, true);
  if (!o.model_dir || !*o.model_dir) problems.insert(problems.begin(), "model_dir: must not be empty");
  throw_if_invalid(problems);
  auto model = Cohere2Model::load(o.model_dir, progress, user, TpShard{int(o.rank), int(o.world_size)});
  const dist::GroupOptions go = group_options(o, model->fingerprint());
  std::unique_ptr<dist::Communicator> comm = dist::connect_group(go);
  model->set_communicator(comm.get());
  try {
    // Rank 0 sends the pool geometry once its own KV pools are allocated.
    std::vector<uint8_t> msg;
    comm->broadcast_message(msg, go.rendezvous_timeout_ms);
    const TpInit init = decode_init(msg);
    const ModelConfig& c = model->config();
    KvGeometry g;
    g.block_size = init.block_size;
    g.num_sliding_layers = c.num_sliding_layers;
    g.num_full_layers = c.num_full_layers;
    g.num_kv_heads = model->dims().num_kv_heads;
    g.head_dim = c.head_dim;
    const uint64_t floats =
        (uint64_t(init.sliding_blocks) * g.sliding_block_bytes() + uint64_t(init.full_blocks) * g.full_block_bytes()) / 4;
    std::unique_ptr<float, void (*)(void*)> buf(static_cast<float*>(std::calloc(std::max<uint64_t>(floats, 1), sizeof(float))), std::free);
    if (!buf) throw Error(TANDEM_STATUS_RESOURCE_EXHAUSTED, "rank " + std::to_string(o.rank) + ": cannot allocate the KV pools");
    const KvPoolView sliding{buf.get(), init.sliding_blocks, int32_t(c.num_sliding_layers), init.block_size,
                             int32_t(g.num_kv_heads), int32_t(c.head_dim)};
    const KvPoolView full{buf.get() + int64_t(init.sliding_blocks) * sliding.floats_per_block(), init.full_blocks,
                          int32_t(c.num_full_layers), init.block_size, int32_t(g.num_kv_heads), int32_t(c.head_dim)};
    ThreadPool pool(int(o.threads));
    if (progress) progress(user, 1.f, "kv");

    // Waiting for the next message: rank 0 sends one at least every heartbeat while alive.
    const uint32_t idle_timeout = kHeartbeatMs + go.timeout_ms;
    TpPlan plan;
    std::vector<float> logits;
    for (;;) {
      comm->broadcast_message(msg, idle_timeout);
      if (msg.empty()) throw dist::CommError("tensor-parallel control message: empty");
      switch (TpMsg(msg[0])) {
        case TpMsg::Shutdown:
          return;
        case TpMsg::Heartbeat: {
          const uint8_t alive = 1;
          comm->gather(&alive, 1, nullptr);
          break;
        }
        case TpMsg::Plan: {
          decode_plan(msg, plan);
          logits.clear();
          model->forward(plan.chunks, sliding, full, &pool, logits, LogitsOut::LocalSlice);
          const TpDims& d = model->dims();
          const LogitsSlice slice{logits.data(), int64_t(plan.needs.size()), d.vocab_lo, d.vocab_hi, d.vocab_per_rank,
                                  c.vocab_size};
          if (int64_t(logits.size()) != slice.rows * (d.vocab_hi - d.vocab_lo))
            throw dist::CommError("tensor-parallel plan: " + std::to_string(plan.needs.size()) + " logits rows do not match the batch");
          merge_vocab_parallel(*comm, slice, plan.needs, nullptr);
          break;
        }
        default:
          throw dist::CommError("tensor-parallel control message: unknown kind " + std::to_string(int(msg[0])));
      }
    }
  } catch (const std::exception& e) {
    // Whatever went wrong here, rank 0 must not wait for this rank any longer.
    comm->abort(std::string("rank ") + std::to_string(o.rank) + " failed: " + e.what());
    throw;
  }
}

}  // namespace tandem
