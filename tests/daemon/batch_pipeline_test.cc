#include "daemon/batch_pipeline.h"

#include <atomic>
#include <cstdint>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "core/writer_slot.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "modelwatch/v1/ingest.pb.h"

namespace modelwatch::daemon {
namespace {

using ::testing::ElementsAreArray;

constexpr uint64_t kLarge = BatchPipeline::kMinHandOffEvents;
constexpr uint64_t kSmall = 1;

// Tags a batch with its sequence number, in the model name of its only group.
void Tag(v1::Batch& batch, int sequence) {
  batch.Clear();
  batch.add_groups()->set_model(std::to_string(sequence));
}

int SequenceOf(const v1::Batch& batch) { return std::stoi(batch.groups(0).model()); }

std::vector<int> Range(int n) {
  std::vector<int> v;
  for (int i = 0; i < n; ++i) v.push_back(i);
  return v;
}

// Records what `apply` saw. The pipeline never runs two applies at once and orders each before
// the next and before Finish() returns, so the record needs no lock.
class BatchPipelineTest : public ::testing::Test {
 protected:
  struct Applied {
    int sequence;
    const v1::Batch* slot;
    std::thread::id thread;
  };

  BatchPipeline MakePipeline(IngestThreadQuota& quota) {
    return BatchPipeline(
        [this](const v1::Batch& batch) {
          applied_.push_back({SequenceOf(batch), &batch, std::this_thread::get_id()});
        },
        quota);
  }

  // Reads `n` tagged batches of `events` events each into the pipeline, numbered from `first`.
  static void Feed(BatchPipeline& pipeline, int first, int n, uint64_t events) {
    for (int i = first; i < first + n; ++i) {
      Tag(pipeline.NextSlot(), i);
      pipeline.Commit(events);
    }
  }

  std::vector<int> Sequences() const {
    std::vector<int> v;
    for (const Applied& a : applied_) v.push_back(a.sequence);
    return v;
  }

  IngestThreadQuota quota_{1};
  std::vector<Applied> applied_;
};

TEST_F(BatchPipelineTest, LargeBatchesAreAppliedInOrderOnThePipelineThread) {
  BatchPipeline pipeline = MakePipeline(quota_);
  Feed(pipeline, 0, 1000, kLarge);
  pipeline.Finish();

  EXPECT_THAT(Sequences(), ElementsAreArray(Range(1000)));
  EXPECT_TRUE(pipeline.thread_started());
  // The first batch of a stream is applied inline: a one-batch stream starts no thread.
  EXPECT_EQ(pipeline.handed_off(), 999u);
  EXPECT_EQ(applied_[0].thread, std::this_thread::get_id());
  for (size_t i = 1; i < applied_.size(); ++i) {
    ASSERT_NE(applied_[i].thread, std::this_thread::get_id()) << "batch " << i;
  }
  EXPECT_EQ(quota_.taken(), 0);
}

TEST_F(BatchPipelineTest, OneBatchStreamStartsNoThread) {
  BatchPipeline pipeline = MakePipeline(quota_);
  Feed(pipeline, 0, 1, kLarge);
  pipeline.Finish();

  EXPECT_THAT(Sequences(), ElementsAreArray(Range(1)));
  EXPECT_FALSE(pipeline.thread_started());
  EXPECT_EQ(quota_.taken(), 0);
}

TEST_F(BatchPipelineTest, SmallBatchesAreAppliedInlineWhileTheThreadIsIdle) {
  BatchPipeline pipeline = MakePipeline(quota_);
  Feed(pipeline, 0, 100, kSmall);
  EXPECT_FALSE(pipeline.thread_started());

  // Once a large batch started the thread, small ones still go inline when nothing is pending.
  Feed(pipeline, 100, 1, kLarge);
  EXPECT_TRUE(pipeline.thread_started());
  Feed(pipeline, 101, 100, kSmall);
  pipeline.Finish();

  EXPECT_THAT(Sequences(), ElementsAreArray(Range(201)));
  EXPECT_GE(pipeline.handed_off(), 1u);
}

TEST_F(BatchPipelineTest, MixedSizesKeepTheirOrder) {
  BatchPipeline pipeline = MakePipeline(quota_);
  for (int i = 0; i < 2000; ++i) {
    Tag(pipeline.NextSlot(), i);
    pipeline.Commit(i % 3 == 0 ? kSmall : kLarge);
  }
  pipeline.Finish();

  EXPECT_THAT(Sequences(), ElementsAreArray(Range(2000)));
}

TEST_F(BatchPipelineTest, SlotsAreReusedAndBounded) {
  BatchPipeline pipeline = MakePipeline(quota_);
  Feed(pipeline, 0, 500, kLarge);
  pipeline.Finish();

  std::set<const v1::Batch*> slots;
  for (const Applied& a : applied_) slots.insert(a.slot);
  EXPECT_LE(slots.size(), static_cast<size_t>(BatchPipeline::kSlots));
}

TEST_F(BatchPipelineTest, NextSlotWaitsForTheOldestPendingBatch) {
  absl::Notification gate;
  std::atomic<int> applied_on_thread{0};
  BatchPipeline pipeline(
      [&](const v1::Batch& batch) {
        if (SequenceOf(batch) == 1) gate.WaitForNotification();
        if (SequenceOf(batch) >= 1) applied_on_thread.fetch_add(1);
      },
      quota_);

  // Batch 0 is applied inline; batch 1 blocks the pipeline thread, and 2..kSlots queue behind it
  // until every slot is pending.
  std::vector<const v1::Batch*> slots;
  for (int i = 0; i <= BatchPipeline::kSlots; ++i) {
    v1::Batch& batch = pipeline.NextSlot();
    slots.push_back(&batch);
    Tag(batch, i);
    pipeline.Commit(kLarge);
  }
  std::set<const v1::Batch*> pending(slots.begin() + 1, slots.end());
  ASSERT_EQ(pending.size(), static_cast<size_t>(BatchPipeline::kSlots));

  // The next slot is the one batch 1 occupies, handed out only once batch 1 is applied.
  const v1::Batch* next = nullptr;
  int applied_when_handed_out = -1;
  std::thread reader([&] {
    next = &pipeline.NextSlot();
    applied_when_handed_out = applied_on_thread.load();
  });
  gate.Notify();
  reader.join();
  EXPECT_EQ(next, slots[1]);
  EXPECT_GE(applied_when_handed_out, 1);

  pipeline.Finish();
  EXPECT_EQ(applied_on_thread.load(), BatchPipeline::kSlots);
}

TEST_F(BatchPipelineTest, FinishAppliesEveryPendingBatch) {
  absl::Notification gate;
  absl::Notification finishing;
  std::vector<int> sequences;
  BatchPipeline pipeline(
      [&](const v1::Batch& batch) {
        if (SequenceOf(batch) == 1) gate.WaitForNotification();
        sequences.push_back(SequenceOf(batch));
      },
      quota_);
  Feed(pipeline, 0, BatchPipeline::kSlots + 1, kLarge);

  // The pipeline thread is still held at batch 1 when Finish() begins.
  std::thread releaser([&] {
    finishing.WaitForNotification();
    gate.Notify();
  });
  finishing.Notify();
  pipeline.Finish();
  releaser.join();

  EXPECT_THAT(sequences, ElementsAreArray(Range(BatchPipeline::kSlots + 1)));
}

TEST_F(BatchPipelineTest, DestructorDrainsWithoutFinish) {
  {
    BatchPipeline pipeline = MakePipeline(quota_);
    Feed(pipeline, 0, 50, kLarge);
  }
  EXPECT_THAT(Sequences(), ElementsAreArray(Range(50)));
  EXPECT_EQ(quota_.taken(), 0);
}

TEST_F(BatchPipelineTest, SpentQuotaMeansInlineApplying) {
  IngestThreadQuota none(0);
  BatchPipeline pipeline = MakePipeline(none);
  Feed(pipeline, 0, 100, kLarge);
  pipeline.Finish();

  EXPECT_THAT(Sequences(), ElementsAreArray(Range(100)));
  EXPECT_FALSE(pipeline.thread_started());
  EXPECT_EQ(pipeline.handed_off(), 0u);
}

TEST_F(BatchPipelineTest, QuotaIsSharedBetweenPipelines) {
  BatchPipeline first = MakePipeline(quota_);
  Feed(first, 0, 2, kLarge);
  EXPECT_TRUE(first.thread_started());
  EXPECT_EQ(quota_.taken(), 1);

  std::vector<int> second_sequences;
  BatchPipeline second(
      [&](const v1::Batch& batch) { second_sequences.push_back(SequenceOf(batch)); }, quota_);
  Feed(second, 0, 10, kLarge);
  EXPECT_FALSE(second.thread_started());

  first.Finish();
  EXPECT_EQ(quota_.taken(), 0);
  // A later large batch of the second stream takes the thread the first one gave back.
  Feed(second, 10, 1, kLarge);
  EXPECT_TRUE(second.thread_started());
  second.Finish();

  EXPECT_THAT(Sequences(), ElementsAreArray(Range(2)));
  EXPECT_THAT(second_sequences, ElementsAreArray(Range(11)));
  EXPECT_EQ(quota_.taken(), 0);
}

TEST_F(BatchPipelineTest, PipelineThreadHasItsOwnWriterSlotAndReturnsIt) {
  const int reader_slot = core::WriterSlot::Current();
  std::vector<int> slots;
  BatchPipeline pipeline([&](const v1::Batch&) { slots.push_back(core::WriterSlot::Current()); },
                         quota_);
  Feed(pipeline, 0, 3, kLarge);
  pipeline.Finish();

  ASSERT_EQ(slots.size(), 3u);
  EXPECT_EQ(slots[0], reader_slot);
  EXPECT_NE(slots[1], reader_slot);
  EXPECT_NE(slots[1], core::WriterSlot::kOverflow);
  EXPECT_EQ(slots[2], slots[1]);

  // The slot is free again once Finish() returns: the next thread to ask gets it.
  int next_thread_slot = -2;
  std::thread([&] { next_thread_slot = core::WriterSlot::Current(); }).join();
  EXPECT_EQ(next_thread_slot, slots[1]);
}

TEST(IngestThreadQuotaTest, TakesUpToTheLimitAndGivesBack) {
  IngestThreadQuota quota(2);
  EXPECT_TRUE(quota.TryTake());
  EXPECT_TRUE(quota.TryTake());
  EXPECT_FALSE(quota.TryTake());
  EXPECT_EQ(quota.taken(), 2);
  quota.Give();
  EXPECT_TRUE(quota.TryTake());
  EXPECT_FALSE(quota.TryTake());
}

}  // namespace
}  // namespace modelwatch::daemon
