// Host identity for the shared-memory decision. It is only a pre-check that gives a readable
// reason: the real proof that two ranks share /dev/shm is the follower mapping rank 0's segment.
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "dist/transport.h"

namespace tandem::dist {

HostId host_id() {
  HostId h;
  std::ifstream f("/proc/sys/kernel/random/boot_id");
  std::getline(f, h.boot_id);
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) == 0) h.hostname = name;
  h.uid = uint32_t(::geteuid());
  return h;
}

std::string HostId::encode() const { return boot_id + "\n" + hostname + "\n" + std::to_string(uid); }

HostId HostId::decode(const std::string& s) {
  HostId h;
  std::istringstream in(s);
  std::string uid;
  std::getline(in, h.boot_id);
  std::getline(in, h.hostname);
  std::getline(in, uid);
  h.uid = uid.empty() || uid.find_first_not_of("0123456789") != std::string::npos ? ~0u : uint32_t(std::stoul(uid));
  return h;
}

std::string host_mismatch(const HostId& leader, const HostId& follower) {
  // An unreadable boot id (no /proc) is treated as unknown, never as a match.
  if (leader.boot_id.empty() || follower.boot_id.empty() || leader.boot_id != follower.boot_id)
    return "is on another host (boot id \"" + follower.boot_id + "\" vs rank 0's \"" + leader.boot_id + "\")";
  if (leader.hostname != follower.hostname)
    return "is on another host or pod (hostname \"" + follower.hostname + "\" vs rank 0's \"" + leader.hostname + "\")";
  if (leader.uid != follower.uid)
    return "runs as another user (uid " + std::to_string(follower.uid) + " vs rank 0's " + std::to_string(leader.uid) + ")";
  return "";
}

}  // namespace tandem::dist
