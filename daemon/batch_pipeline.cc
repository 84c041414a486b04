#include "daemon/batch_pipeline.h"

#include <system_error>
#include <utility>

#include "daemon/logging.h"

namespace modelwatch::daemon {

bool IngestThreadQuota::TryTake() {
  int taken = taken_.load(std::memory_order_relaxed);
  while (taken < max_threads_) {
    if (taken_.compare_exchange_weak(taken, taken + 1, std::memory_order_relaxed)) return true;
  }
  return false;
}

void IngestThreadQuota::Give() { taken_.fetch_sub(1, std::memory_order_relaxed); }

BatchPipeline::BatchPipeline(absl::AnyInvocable<void(const v1::Batch&)> apply,
                             IngestThreadQuota& quota)
    : apply_(std::move(apply)), quota_(quota) {}

BatchPipeline::~BatchPipeline() { Finish(); }

v1::Batch& BatchPipeline::NextSlot() {
  if (!thread_started_) return slots_[0];
  absl::MutexLock lock(&mu_);
  if (!SlotFree()) mu_.Await(absl::Condition(this, &BatchPipeline::SlotsToRefill));
  return slots_[queued_ % kSlots];
}

void BatchPipeline::Commit(uint64_t events) {
  ++committed_;
  bool hand_off =
      events >= kMinHandOffEvents && committed_ > 1 && (thread_started_ || StartThread());
  if (!thread_started_) {
    apply_(slots_[0]);
    return;
  }

  // A batch not worth a hand-off still queues behind batches in flight, to keep the order.
  uint64_t slot = 0;
  {
    absl::MutexLock lock(&mu_);
    if (hand_off || queued_ != applied_) {
      ++queued_;
      ++handed_off_;
      return;
    }
    slot = queued_ % kSlots;
  }
  apply_(slots_[slot]);
}

void BatchPipeline::Finish() {
  if (finished_) return;
  finished_ = true;
  if (!thread_started_) return;

  {
    absl::MutexLock lock(&mu_);
    closing_ = true;
  }
  thread_.join();
  quota_.Give();
}

bool BatchPipeline::StartThread() {
  if (thread_failed_ || !quota_.TryTake()) return false;

  // std::thread reports a failed start (no memory, a thread limit) only by throwing.
  try {
    thread_ = std::thread([this] { Run(); });
  } catch (const std::system_error& e) {
    quota_.Give();
    thread_failed_ = true;
    IngestLog()->warn("event=pipeline_thread_failed error=\"{}\" fallback=inline", e.what());
    return false;
  }
  thread_started_ = true;
  return true;
}

void BatchPipeline::Run() {
  mu_.Lock();
  for (;;) {
    // A busy stream hands over batches faster than kMaxApplyDelay: waking for every second one
    // halves the wake-ups. A stream that went quiet is waited for without a timer.
    if (!mu_.AwaitWithTimeout(absl::Condition(this, &BatchPipeline::WakeBatchesOrClosing),
                              kMaxApplyDelay) &&
        applied_ == queued_) {
      mu_.Await(absl::Condition(this, &BatchPipeline::WorkOrClosing));
    }
    if (applied_ == queued_) break;

    while (applied_ != queued_) {
      // The slot stays the pipeline's until applied_ moves past it, so it is read without mu_.
      const v1::Batch& batch = slots_[applied_ % kSlots];
      mu_.Unlock();
      apply_(batch);
      mu_.Lock();
      ++applied_;
    }
  }
  mu_.Unlock();
}

}  // namespace modelwatch::daemon
