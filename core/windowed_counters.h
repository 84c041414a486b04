#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/bucket_layout.h"
#include "core/model_spec.h"

namespace modelwatch::core {

// The counters of one model version: cumulative since start, and per sliding window.
//
// Writers: each writer thread owns a shard (see WriterSlot), so the per-event path is a plain
// relaxed load and store on memory no other thread writes. A shard has one *active* bucket for
// the current base epoch (the base granularity is the greatest common divisor of the window
// granularities). When a writer's batch arrives in a later epoch than its active bucket, the
// writer folds the active bucket into its shard's cumulative bucket and into each window's ring
// slot, then clears it: that happens once per base granularity per shard, never per event, and
// never waits for a reader. A seqlock per shard lets readers see a fold either wholly or not at
// all.
//
// Readers (scrapes) sum over shards: the cumulative bucket plus the active bucket, or the ring
// slots whose epoch lies inside the window plus the active bucket if its epoch does. A reader
// never blocks a writer; it retries when a fold overlapped its read.
//
// Memory: (shards written so far) x (2 + sum over windows of (length/granularity + 1)) x
// layout.num_counts() + num_sums()) x 8 bytes; shards are allocated on a thread's first write.
class WindowedCounters {
 public:
  WindowedCounters(std::shared_ptr<const BucketLayout> layout, std::vector<WindowSpec> windows);
  ~WindowedCounters();

  WindowedCounters(const WindowedCounters&) = delete;
  WindowedCounters& operator=(const WindowedCounters&) = delete;

  // A handle on the calling thread's active bucket for one batch, all of whose events arrive at
  // `now`. Obtain one per batch (or group) with Writer(now); it rotates the bucket if needed. Not
  // to be shared between threads or kept across batches. In overflow mode it holds the overflow
  // shard's mutex until destroyed.
  class BucketWriter {
   public:
    BucketWriter(BucketWriter&&) noexcept;
    ~BucketWriter();

    // Adds to a count or a sum slot (see BucketLayout). A relaxed load and store.
    void Add(size_t count_slot, uint64_t n = 1) {
      std::atomic<uint64_t>& c = counts_[count_slot];
      c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    void AddSum(size_t sum_slot, double v);

   private:
    friend class WindowedCounters;
    BucketWriter(std::atomic<uint64_t>* counts, std::atomic<uint64_t>* sums, absl::Mutex* held);
    std::atomic<uint64_t>* counts_;
    std::atomic<uint64_t>* sums_;
    absl::Mutex* held_;
  };

  BucketWriter Writer(absl::Time now);

  // Everything since start.
  Counts Cumulative() const;
  // The window `index` (into the windows given at construction) as seen at `now`.
  Counts Window(int index, absl::Time now) const;

  const BucketLayout& layout() const { return *layout_; }
  const std::vector<WindowSpec>& windows() const { return windows_; }
  absl::Duration base_granularity() const { return base_; }
  // Bytes held by the shards allocated so far.
  size_t MemoryBytes() const;

 private:
  struct Shard;
  Shard* ShardFor(int slot);
  void Rotate(Shard& shard, int64_t epoch);
  // Adds a shard's buckets selected by `select` into `out`, retrying while a fold overlaps.
  template <typename Select>
  void ReadShard(const Shard& shard, Select select, Counts& out) const;

  // Set at construction.
  const std::shared_ptr<const BucketLayout> layout_;
  const std::vector<WindowSpec> windows_;
  const absl::Duration base_;
  // One entry per writer slot plus one overflow shard at the end; allocated on first write.
  std::vector<std::atomic<Shard*>> shards_;
  absl::Mutex overflow_mu_;
};

}  // namespace modelwatch::core
