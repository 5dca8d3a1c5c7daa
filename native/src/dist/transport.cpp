// connect_group: the TCP rendezvous, then the transport negotiation over the same sockets.
// Rank 0 decides for the whole group so that no rank can end up on shared memory while another
// talks TCP. Messages are {u32 kind, u32 length, bytes}.
#include <sys/socket.h>
#include <unistd.h>

#include <utility>

#include "dist/transport.h"

namespace tandem::dist {

Transport parse_transport(std::string_view s) {
  if (s == "auto") return Transport::Auto;
  if (s == "tcp") return Transport::Tcp;
  if (s == "shm") return Transport::Shm;
  throw Error(TANDEM_STATUS_INVALID_ARGUMENT, "tp_transport: \"" + std::string(s) + "\" is not one of auto, tcp, shm");
}

const char* transport_name(Transport t) {
  switch (t) {
    case Transport::Auto: return "auto";
    case Transport::Tcp: return "tcp";
    case Transport::Shm: return "shm";
  }
  return "?";
}

namespace {

constexpr uint32_t kProposalMagic = 0x54505331;  // "TPS1"
constexpr uint32_t kMaxText = 4096;
enum Verdict : uint32_t { kUseTcp = 0, kUseShm = 1, kFail = 2 };  // kUseShm before the acks = "map this"

// Sockets owned until handed to a communicator; closing them on an error path makes every peer
// still negotiating fail at once with EOF instead of waiting for its deadline.
struct Sockets {
  std::vector<int> fds;
  ~Sockets() {
    for (int fd : fds)
      if (fd >= 0) ::close(fd);
  }
  std::vector<int> release() { return std::exchange(fds, {}); }
};

bool send_msg(int fd, uint32_t kind, const std::string& text, Clock::time_point deadline) {
  uint32_t h[2] = {kind, uint32_t(text.size())};
  return io_exact(fd, h, sizeof(h), true, deadline) && io_exact(fd, const_cast<char*>(text.data()), text.size(), true, deadline);
}

bool recv_msg(int fd, uint32_t& kind, std::string& text, Clock::time_point deadline) {
  uint32_t h[2] = {};
  if (!io_exact(fd, h, sizeof(h), false, deadline) || h[1] > kMaxText) return false;
  kind = h[0];
  text.assign(h[1], '\0');
  return io_exact(fd, text.data(), text.size(), false, deadline);
}

[[noreturn]] void lost(int peer, const GroupOptions& o) {
  throw CommError("rendezvous: rank " + std::to_string(peer) + " closed the connection or stalled during transport negotiation (" +
                  o.leader_addr + ")");
}

std::unique_ptr<Communicator> negotiate_as_leader(const GroupOptions& o, Sockets& s) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(o.rendezvous_timeout_ms);
  const int world = o.world_size;
  std::vector<HostId> ids(static_cast<size_t>(world));
  std::vector<Transport> asked(size_t(world), o.transport);
  ids[0] = host_id();
  for (int r = 1; r < world; r++) {
    uint32_t magic = 0, transport = 0;
    std::string id;
    if (!io_exact(s.fds[size_t(r)], &magic, 4, false, deadline) || magic != kProposalMagic ||
        !recv_msg(s.fds[size_t(r)], transport, id, deadline) || transport > uint32_t(Transport::Shm))
      lost(r, o);
    asked[size_t(r)] = Transport(transport);
    ids[size_t(r)] = HostId::decode(id);
  }
  auto tell_all = [&](uint32_t kind, const std::string& text) {
    for (int r = 1; r < world; r++)
      if (!send_msg(s.fds[size_t(r)], kind, text, deadline)) lost(r, o);
  };

  // The group's choice: Auto goes along with an explicit choice; tcp and shm together is a mistake.
  int tcp_rank = -1, shm_rank = -1;
  for (int r = 0; r < world; r++) {
    if (asked[size_t(r)] == Transport::Tcp && tcp_rank < 0) tcp_rank = r;
    if (asked[size_t(r)] == Transport::Shm && shm_rank < 0) shm_rank = r;
  }
  if (tcp_rank >= 0 && shm_rank >= 0) {
    const std::string why = "tp_transport: rank " + std::to_string(tcp_rank) + " asks for tcp but rank " + std::to_string(shm_rank) +
                            " for shm (every rank must agree, or say auto)";
    tell_all(kFail, why);
    throw CommError(why);
  }
  const bool need_shm = shm_rank >= 0;
  auto use_tcp = [&] {
    tell_all(kUseTcp, "");
    return make_tcp_comm(0, world, o.timeout_ms, s.release());
  };
  auto give_up = [&](const std::string& why) {
    if (!need_shm) return use_tcp();
    tell_all(kFail, "tp_transport shm: " + why);
    throw CommError("tp_transport shm: " + why);
  };
  if (tcp_rank >= 0) return use_tcp();

  for (int r = 1; r < world; r++) {
    const std::string m = host_mismatch(ids[0], ids[size_t(r)]);
    if (!m.empty()) return give_up("rank " + std::to_string(r) + " " + m);
  }
  std::string name;
  ShmSegmentPtr seg;
  try {
    seg = create_shm_segment(world, name);
  } catch (const Error& e) {
    return give_up(std::string("rank 0 cannot create the shared-memory segment: ") + e.what());
  }
  // Unlinked once every follower answered (or on any error): after that, nothing is left behind
  // in /dev/shm whichever rank dies, and nobody else can open the segment.
  struct Unlink {
    std::string name;
    ~Unlink() { unlink_shm_segment(name); }
  } unlink{name};
  tell_all(kUseShm, name);
  std::string failure;
  for (int r = 1; r < world; r++) {
    uint32_t ok = 0;
    std::string why;
    if (!recv_msg(s.fds[size_t(r)], ok, why, deadline)) lost(r, o);
    if (ok != 1 && failure.empty()) failure = "rank " + std::to_string(r) + " cannot map the shared-memory segment: " + why;
  }
  unlink_shm_segment(name);
  if (!failure.empty()) return give_up(failure);
  tell_all(kUseShm, "");
  return make_shm_comm(0, world, o.timeout_ms, s.release(), std::move(seg));
}

std::unique_ptr<Communicator> negotiate_as_follower(const GroupOptions& o, Sockets& s) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(o.rendezvous_timeout_ms);
  const int fd = s.fds[0];
  uint32_t magic = kProposalMagic;
  if (!io_exact(fd, &magic, 4, true, deadline) || !send_msg(fd, uint32_t(o.transport), host_id().encode(), deadline)) lost(0, o);
  uint32_t kind = 0;
  std::string text;
  if (!recv_msg(fd, kind, text, deadline)) lost(0, o);
  if (kind == kFail) throw CommError(text);
  if (kind == kUseTcp) return make_tcp_comm(o.rank, o.world_size, o.timeout_ms, s.release());
  ShmSegmentPtr seg;
  std::string why;
  try {
    seg = open_shm_segment(text, o.world_size);
  } catch (const Error& e) {
    why = e.what();
  }
  if (!send_msg(fd, seg ? 1 : 0, why, deadline) || !recv_msg(fd, kind, text, deadline)) lost(0, o);
  if (kind == kFail) throw CommError(text);
  if (kind == kUseTcp) return make_tcp_comm(o.rank, o.world_size, o.timeout_ms, s.release());
  return make_shm_comm(o.rank, o.world_size, o.timeout_ms, s.release(), std::move(seg));
}

}  // namespace

std::unique_ptr<Communicator> connect_group(const GroupOptions& o) {
  if (o.world_size < 2) throw Error(TANDEM_STATUS_INVALID_ARGUMENT, "world_size: a group needs at least 2 ranks");
  if (o.rank < 0 || o.rank >= o.world_size)
    throw Error(TANDEM_STATUS_INVALID_ARGUMENT, "rank: " + std::to_string(o.rank) + " is outside [0, " + std::to_string(o.world_size) + ")");
  if (o.transport != Transport::Auto && o.transport != Transport::Tcp && o.transport != Transport::Shm)
    throw Error(TANDEM_STATUS_INVALID_ARGUMENT, "tp_transport: not one of auto, tcp, shm");
  Sockets s{tcp_rendezvous(o)};
  return o.rank == 0 ? negotiate_as_leader(o, s) : negotiate_as_follower(o, s);
}

}  // namespace tandem::dist
