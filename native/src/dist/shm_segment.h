// Layout of the shared-memory segment of a same-host group, and the futex helpers on it.
//
//   [SegmentHeader, one page] [slot 0] [slot 1] ... [slot world-1]
//   slot = [SlotHeader, one page] [payload, kSlotCapacity bytes]
//
// Each rank writes only its own slot. The atomics live in memory shared between processes: they
// are lock-free 32-bit words (address-free), and the futex calls are not FUTEX_PRIVATE.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "dist/transport.h"

namespace tandem::dist {

constexpr uint32_t kSegmentMagic = 0x54534831;   // "TSH1"
constexpr size_t kSegmentPage = 4096;
constexpr size_t kSlotCapacity = size_t(4) << 20;  // payload bytes per rank and step; larger calls are chunked
constexpr size_t kReasonBytes = 512;

struct SegmentHeader {
  uint32_t magic;
  uint32_t world;
  uint64_t slot_capacity;
  alignas(64) std::atomic<uint32_t> aborted;  // 0, or the rank that aborted the group + 1
};

struct SlotHeader {
  // The futex word: the last step this rank published. Compared wrap-safely.
  alignas(64) std::atomic<uint32_t> seq;
  std::atomic<uint32_t> waiters;  // processes asleep on seq: the publisher skips the wake syscall when 0
  // Describes the step's payload; written before seq is published, read after it is seen.
  alignas(64) uint32_t op;
  uint32_t reserved;
  uint64_t op_seq;  // collective call number on this rank
  uint64_t bytes;   // the call's size (all_reduce: bytes of the whole vector; message: its length)
  char reason[kReasonBytes];  // why this rank aborted the group (set before `aborted`)
};
static_assert(sizeof(SegmentHeader) <= kSegmentPage && sizeof(SlotHeader) <= kSegmentPage);
static_assert(std::atomic<uint32_t>::is_always_lock_free);

constexpr size_t kSlotStride = kSegmentPage + kSlotCapacity;
constexpr size_t segment_bytes(int world) { return kSegmentPage + size_t(world) * kSlotStride; }

class ShmSegment {
 public:
  ShmSegment(void* base, size_t size) : base_(static_cast<char*>(base)), size_(size) {}
  ~ShmSegment();
  ShmSegment(const ShmSegment&) = delete;
  ShmSegment& operator=(const ShmSegment&) = delete;

  SegmentHeader& header() { return *reinterpret_cast<SegmentHeader*>(base_); }
  SlotHeader& slot(int r) { return *reinterpret_cast<SlotHeader*>(base_ + kSegmentPage + size_t(r) * kSlotStride); }
  char* payload(int r) { return base_ + kSegmentPage + size_t(r) * kSlotStride + kSegmentPage; }

 private:
  char* base_;
  size_t size_;
};

// Sleeps while *word == expected, at most timeout_ns (spurious returns are fine: callers re-check).
void futex_wait(std::atomic<uint32_t>* word, uint32_t expected, int64_t timeout_ns);
void futex_wake_all(std::atomic<uint32_t>* word);

}  // namespace tandem::dist
