// Creating, opening and unmapping the group's shared-memory segment; futex wait/wake on its words.
#include "dist/shm_segment.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <new>
#include <random>

namespace tandem::dist {
namespace {

std::string sys_error(const std::string& what) { return what + ": " + std::strerror(errno); }

// 64 bits from the kernel's CSPRNG: the name must not be guessable by another local user racing
// to open it before rank 0 unlinks it (it is 0600 as well).
uint64_t random_u64() {
  uint64_t v = 0;
  if (::getrandom(&v, sizeof(v), 0) == ssize_t(sizeof(v))) return v;
  std::random_device rd;
  return (uint64_t(rd()) << 32) ^ rd();
}

}  // namespace

ShmSegment::~ShmSegment() { ::munmap(base_, size_); }

void ShmSegmentDeleter::operator()(ShmSegment* s) const { delete s; }

ShmSegmentPtr create_shm_segment(int world, std::string& name) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "/tandem-tp-%d-%016llx", int(::getpid()), static_cast<unsigned long long>(random_u64()));
  name = buf;
  const size_t size = segment_bytes(world);
  const int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0) throw Error(TANDEM_STATUS_UNAVAILABLE, sys_error("shm_open " + name));
  auto fail = [&](const std::string& why) {
    ::close(fd);
    ::shm_unlink(name.c_str());
    throw Error(TANDEM_STATUS_UNAVAILABLE, why);
  };
  if (::ftruncate(fd, off_t(size)) != 0) fail(sys_error("ftruncate " + name + " to " + std::to_string(size) + " bytes"));
  // Reserve the pages now: a /dev/shm too small for the segment (64 MiB is a common container
  // default) fails here with ENOSPC instead of killing a rank with SIGBUS on its first write.
  if (const int e = ::posix_fallocate(fd, 0, off_t(size)); e != 0 && e != EOPNOTSUPP && e != EINVAL)
    fail("reserving " + std::to_string(size) + " bytes in /dev/shm for " + name + ": " + std::strerror(e));
  void* base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) fail(sys_error("mmap " + name));
  ::close(fd);
  auto seg = ShmSegmentPtr(new ShmSegment(base, size));
  // The file starts zeroed; construct the atomics in place for form's sake.
  SegmentHeader& h = seg->header();
  new (&h.aborted) std::atomic<uint32_t>(0);
  for (int r = 0; r < world; r++) {
    new (&seg->slot(r).seq) std::atomic<uint32_t>(0);
    new (&seg->slot(r).waiters) std::atomic<uint32_t>(0);
  }
  h.world = uint32_t(world);
  h.slot_capacity = kSlotCapacity;
  std::atomic_thread_fence(std::memory_order_release);
  h.magic = kSegmentMagic;
  return seg;
}

ShmSegmentPtr open_shm_segment(const std::string& name, int world) {
  const int fd = ::shm_open(name.c_str(), O_RDWR, 0);
  if (fd < 0) throw Error(TANDEM_STATUS_UNAVAILABLE, sys_error("shm_open " + name));
  const size_t size = segment_bytes(world);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || size_t(st.st_size) != size) {
    ::close(fd);
    throw Error(TANDEM_STATUS_UNAVAILABLE, name + " has " + std::to_string(st.st_size) + " bytes, expected " + std::to_string(size) +
                                               " (a different engine build on another rank?)");
  }
  void* base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  const int err = errno;
  ::close(fd);
  if (base == MAP_FAILED) throw Error(TANDEM_STATUS_UNAVAILABLE, "mmap " + name + ": " + std::strerror(err));
  auto seg = ShmSegmentPtr(new ShmSegment(base, size));
  const SegmentHeader& h = seg->header();
  if (h.magic != kSegmentMagic || h.world != uint32_t(world) || h.slot_capacity != kSlotCapacity)
    throw Error(TANDEM_STATUS_UNAVAILABLE, name + " does not hold a segment for " + std::to_string(world) + " ranks of this engine build");
  return seg;
}

void unlink_shm_segment(const std::string& name) {
  if (!name.empty()) ::shm_unlink(name.c_str());
}

void futex_wait(std::atomic<uint32_t>* word, uint32_t expected, int64_t timeout_ns) {
  if (timeout_ns <= 0) return;
  timespec ts{time_t(timeout_ns / 1000000000), long(timeout_ns % 1000000000)};
  ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT, expected, &ts, nullptr, 0);
}

void futex_wake_all(std::atomic<uint32_t>* word) {
  ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

}  // namespace tandem::dist
