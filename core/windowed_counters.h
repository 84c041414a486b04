#pragma once

#include <atomic>
#include <bit>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/bucket_layout.h"
#include "core/model_spec.h"

namespace modelwatch::core {

// The counters of one model version: cumulative since start, and per sliding window.
//
// Writers: each writer thread owns a shard (see WriterSlot), so the per-event path is a plain
// relaxed load and store on memory no other thread writes. A shard has one *active* bucket for
// the current base epoch (floor(unix time / base granularity), where the base granularity is the
// greatest common divisor of the window granularities). When a writer's batch arrives in a later
// epoch than its active bucket, the writer folds the active bucket into its shard's cumulative
// bucket and into each window's ring slot, then clears it: that happens once per base
// granularity per shard, never per event, and never waits for a reader. A seqlock per shard lets
// readers see a fold either wholly or not at all. Time never goes backwards inside a shard: a
// batch stamped earlier than the active bucket's epoch is counted in the active bucket.
//
// Readers (scrapes) sum over shards: the cumulative bucket plus the active bucket, or the ring
// slots whose epoch lies inside the window plus the active bucket if its epoch does. A reader
// never blocks a writer; it retries when a fold overlapped its read (a bounded number of times,
// then it keeps its last read, which may then be off by one fold).
//
// Windows: each window's granularity is used in whole seconds, at least 1s, and its length in
// whole granularities, at least one (rounded up); ValidateWindows() says whether a list needs no
// such adjustment. A window keeps length/granularity + 1 ring slots, so a reader whose `now`
// lags a writer by one granularity still sees its whole window. With `keep_previous` a window
// keeps 2 x length/granularity + 1 slots, so Window(i, now - length) also reads the window just
// before the current one (a drift reference of the same length).
//
// Memory: per shard written so far, (2 + R) x (layout.num_counts() + layout.num_sums()) x 8
// bytes of buckets, plus R x 8 bytes of ring epoch tags, plus 64 bytes of shard header, where R
// is the sum over windows of their ring slots; plus 8 bytes per shard table entry
// (Capacity() + 1 entries, fixed at construction). Shards are allocated on a slot's first write
// and kept until destruction.
//
// Thread-safe as described: any number of writer threads (one BucketWriter per thread at a
// time) and readers.
class WindowedCounters {
 public:
  WindowedCounters(std::shared_ptr<const BucketLayout> layout, std::vector<WindowSpec> windows,
                   bool keep_previous = false);
  ~WindowedCounters();

  WindowedCounters(const WindowedCounters&) = delete;
  WindowedCounters& operator=(const WindowedCounters&) = delete;

  // OK when every window has a granularity of whole seconds, at least 1s, and a length that is a
  // positive multiple of it; otherwise InvalidArgument naming the window.
  static absl::Status ValidateWindows(const std::vector<WindowSpec>& windows);

  // A handle on the calling thread's active bucket for one batch, all of whose events arrive at
  // `now`. Obtain one per batch (or group) with Writer(now); it rotates the bucket if needed. Not
  // to be shared between threads or kept across batches, and a thread holds at most one per
  // WindowedCounters at a time. In overflow mode it holds the overflow shard's mutex until
  // destroyed.
  class BucketWriter {
   public:
    BucketWriter(BucketWriter&& other) noexcept;
    BucketWriter& operator=(BucketWriter&&) = delete;
    ~BucketWriter();

    // Adds to a count or a sum slot (see BucketLayout). A relaxed load and store, no
    // lock-prefixed instruction; the slot must be in range.
    void Add(size_t count_slot, uint64_t n = 1) {
      std::atomic<uint64_t>& c = counts_[count_slot];
      c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    void AddSum(size_t sum_slot, double v) {
      std::atomic<uint64_t>& s = sums_[sum_slot];
      double sum = std::bit_cast<double>(s.load(std::memory_order_relaxed)) + v;
      s.store(std::bit_cast<uint64_t>(sum), std::memory_order_relaxed);
    }

   private:
    friend class WindowedCounters;
    BucketWriter(std::atomic<uint64_t>* counts, std::atomic<uint64_t>* sums, absl::Mutex* held);
    std::atomic<uint64_t>* counts_;
    std::atomic<uint64_t>* sums_;
    absl::Mutex* held_;
  };

  // Costs a thread_local read, a shard pointer load and an integer division; and, once per base
  // granularity per shard, a fold of (1 + number of windows) buckets.
  BucketWriter Writer(absl::Time now);

  // Everything since start.
  Counts Cumulative() const;
  // The window `index` (into the windows given at construction) as seen at `now`; zero counts
  // for an index out of range. A ring keeps one window plus one granularity, so `now` must not
  // lag the shards' latest writes by more than one granularity, or by one window plus one
  // granularity with `keep_previous`; an earlier `now` sees only what the rings have not reused
  // yet, which is incomplete.
  Counts Window(int index, absl::Time now) const;

  const BucketLayout& layout() const { return *layout_; }
  const std::vector<WindowSpec>& windows() const { return windows_; }
  absl::Duration base_granularity() const { return absl::Seconds(base_seconds_); }
  // Bytes held by the shards allocated so far (see "Memory" above).
  size_t MemoryBytes() const;

 private:
  struct Shard;
  // Where one window's ring lives among a shard's buckets, and how its epochs relate to the
  // base epoch.
  struct Ring {
    int64_t base_per_epoch;  // window granularity / base granularity
    int64_t epochs;          // window length / window granularity
    size_t first_slot;       // index of the ring's first slot among the ring slots
    size_t slots;            // epochs + 1
  };

  Shard* ShardFor(int slot);
  void Rotate(Shard& shard, int64_t epoch);
  // Adds a shard's buckets selected by `select` into `out`, retrying while a fold overlaps.
  template <typename Select>
  void ReadShard(const Shard& shard, Select select, Counts& out) const;
  int64_t EpochOf(absl::Time t) const;
  size_t width() const { return layout_->num_counts() + layout_->num_sums(); }

  // Set at construction.
  const std::shared_ptr<const BucketLayout> layout_;
  const std::vector<WindowSpec> windows_;
  int64_t base_seconds_;
  std::vector<Ring> rings_;
  size_t ring_slots_;  // R: the sum of the rings' slots
  // One entry per writer slot plus one overflow shard at the end; allocated on first write.
  std::vector<std::atomic<Shard*>> shards_;
  absl::Mutex overflow_mu_;
};

}  // namespace modelwatch::core
