#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "modelwatch/v1/ingest.pb.h"

namespace modelwatch::daemon {

// Caps how many batch-applying threads run at once across all streams.
//
// A pipeline thread adds throughput only while a core would otherwise sit idle, and each one is
// a counter writer that holds a core::WriterSlot while it runs. A stream that finds the quota
// spent applies its batches on its handler thread, as a stream with no pipeline would.
//
// Thread-safe; TryTake() and Give() are one atomic operation each.
class IngestThreadQuota {
 public:
  explicit IngestThreadQuota(int max_threads) : max_threads_(max_threads) {}

  // Takes one thread from the quota; false when all are taken.
  bool TryTake();
  // Returns a thread taken by a successful TryTake().
  void Give();

  int max_threads() const { return max_threads_; }
  int taken() const { return taken_.load(std::memory_order_relaxed); }

 private:
  // Set at construction.
  const int max_threads_;

  std::atomic<int> taken_{0};
};

// Applies the batches of one client stream in the order they were read, letting the reading of
// a batch (gRPC and protobuf decoding, on the stream's handler thread) overlap the applying of
// earlier ones (on a thread of the pipeline's own).
//
// The reader loops NextSlot(), reads into it, Commit(); and calls Finish() at the end of the
// stream. The pipeline owns kSlots reusable messages: a committed batch is applied from its slot
// and the slot goes back to the reader, so once warm nothing is allocated per batch, memory stays
// bounded, and a client that sends faster than batches are applied is held back by gRPC flow
// control while NextSlot() waits.
//
// The thread is per stream rather than a shared pool so that batches of a stream need no
// cross-stream queue to stay in order, and so that streams scale with cores without contending
// on one. It starts lazily, at the first batch worth handing off (at least kMinHandOffEvents
// events) that is not the stream's first: a one-batch stream, or a stream of small messages whose
// decoding dwarfs applying them, never pays a thread start or a wake-up per batch. A batch that is
// not handed off is applied inline on the reader's thread when the pipeline thread is idle, or
// queued behind the batches in flight otherwise, so order always holds. The thread is taken from an
// IngestThreadQuota; without one, every batch is applied inline.
//
// Thread safety: NextSlot(), Commit() and Finish() are for the one reader thread. `apply` runs on
// the reader's thread or on the pipeline's thread, never on both at once, and every call
// happens-before the next one and before Finish() returns, so `apply` may write state the reader
// reads after Finish() without a lock of its own. Per batch the hand-off costs one or two
// uncontended mutex acquisitions on each side; a side that runs out of work sleeps until it has
// kWakeBatches batches (or slots) to work on, so a busy stream pays about one wake-up per two
// batches. A lone batch waits at most kMaxApplyDelay for a second one before it is applied.
// Memory: up to kSlots decoded batches per stream, each at most the gRPC receive limit.
class BatchPipeline {
 public:
  // How many messages the pipeline owns: one being read, and up to three waiting or being applied.
  static constexpr int kSlots = 4;
  // Smaller batches are applied inline when the pipeline thread is idle: waking a thread costs
  // microseconds, about what applying 64 events costs.
  static constexpr uint64_t kMinHandOffEvents = 64;
  // Each side sleeps until it has at least this many batches (or free slots) to work on, so a
  // busy stream pays one wake-up per two batches instead of one per batch.
  static constexpr uint64_t kWakeBatches = 2;
  // How long a lone batch may wait for the next one before the pipeline thread applies it anyway.
  static constexpr absl::Duration kMaxApplyDelay = absl::Milliseconds(1);

  // `apply` must outlive the pipeline's Finish(). `quota` must outlive the pipeline.
  BatchPipeline(absl::AnyInvocable<void(const v1::Batch&)> apply, IngestThreadQuota& quota);
  // Finishes (applies every committed batch) if Finish() was not called.
  ~BatchPipeline();

  BatchPipeline(const BatchPipeline&) = delete;
  BatchPipeline& operator=(const BatchPipeline&) = delete;

  // The message to read the next batch into; the reader may overwrite it until Commit(). When
  // every slot holds a batch not yet applied, waits until kWakeBatches slots are free. Returns
  // the same slot until Commit().
  v1::Batch& NextSlot();

  // Takes the batch read into NextSlot()'s message; `events` is how many events it holds (the
  // cost of applying it). Applies it inline or hands it to the pipeline thread, starting the
  // thread when needed (see the class comment). If the thread cannot start, the pipeline logs a
  // warning and applies every batch inline.
  void Commit(uint64_t events);

  // Applies every committed batch that is not applied yet, then stops the thread and returns its
  // quota. Idempotent. After it returns, NextSlot() and Commit() must not be called.
  void Finish();

  // Batches applied on the pipeline thread so far (for logs and tests; reader thread only).
  uint64_t handed_off() const { return handed_off_; }
  // Whether the pipeline thread was started (reader thread only).
  bool thread_started() const { return thread_started_; }

 private:
  // Starts the pipeline thread if the quota allows; false if it did not start.
  bool StartThread();
  // The pipeline thread: applies handed-off batches in order until Finish() and the queue drain.
  void Run();

  // Conditions for mu_.
  bool SlotFree() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return queued_ - applied_ < kSlots; }
  bool SlotsToRefill() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return queued_ - applied_ <= kSlots - kWakeBatches;
  }
  bool WorkOrClosing() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return applied_ != queued_ || closing_;
  }
  bool WakeBatchesOrClosing() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return queued_ - applied_ >= kWakeBatches || closing_;
  }

  // Set at construction.
  absl::AnyInvocable<void(const v1::Batch&)> apply_;
  IngestThreadQuota& quota_;

  // Batch `k` of those handed to the thread lives in slots_[k % kSlots]; batches applied inline
  // are read into and applied from the slot the next hand-off would use.
  std::array<v1::Batch, kSlots> slots_;

  absl::Mutex mu_;
  // Batches handed to the pipeline thread, and how many of those it has applied.
  uint64_t queued_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t applied_ ABSL_GUARDED_BY(mu_) = 0;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;

  // Reader thread only.
  std::thread thread_;
  uint64_t committed_ = 0;
  uint64_t handed_off_ = 0;
  bool thread_started_ = false;
  bool thread_failed_ = false;
  bool finished_ = false;
};

}  // namespace modelwatch::daemon
