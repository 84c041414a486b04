#include "core/windowed_counters.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <latch>
#include <memory>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/writer_slot.h"
#include "gtest/gtest.h"

namespace modelwatch::core {
namespace {

// Midnight UTC, so every window granularity (15s, 2m, 1h) starts a bucket here.
const absl::Time kMidnight = absl::FromUnixSeconds(19'675 * 86'400);
constexpr int k5m = 0, k1h = 1, k24h = 2;

class WindowedCountersTest : public ::testing::Test {
 protected:
  static std::shared_ptr<const BucketLayout> Layout(int classes) {
    ModelSpec spec;
    spec.name = "m";
    for (int c = 0; c < classes; ++c) spec.classes.push_back("c" + std::to_string(c));
    return std::make_shared<const BucketLayout>(spec);
  }

  // Writes `n` predictions of class `cls` at the clock's time, each with confidence 0.5.
  void Predict(WindowedCounters& counters, int cls, int n = 1) {
    WindowedCounters::BucketWriter writer = counters.Writer(clock_.Now());
    for (int i = 0; i < n; ++i) {
      writer.Add(layout_->prediction(cls));
      writer.AddSum(layout_->confidence_sum(), 0.5);
    }
  }

  // Predictions per class in `counts`.
  std::vector<uint64_t> PerClass(const Counts& counts) const {
    std::vector<uint64_t> out;
    for (int c = 0; c < layout_->num_classes(); ++c)
      out.push_back(counts.count(layout_->prediction(c)));
    return out;
  }
  uint64_t Total(const Counts& counts) const {
    uint64_t total = 0;
    for (uint64_t n : PerClass(counts)) total += n;
    return total;
  }

  ManualClock clock_{kMidnight};
  std::shared_ptr<const BucketLayout> layout_ = Layout(3);
  WindowedCounters counters_{layout_, DefaultWindows()};
};

using V = std::vector<uint64_t>;

TEST_F(WindowedCountersTest, BaseGranularityIsTheGcdOfGranularities) {
  EXPECT_EQ(counters_.base_granularity(), absl::Seconds(15));
  WindowedCounters other(layout_, {{"a", absl::Minutes(1), absl::Seconds(20)},
                                   {"b", absl::Hours(1), absl::Seconds(30)}});
  EXPECT_EQ(other.base_granularity(), absl::Seconds(10));
}

TEST_F(WindowedCountersTest, ValidateWindowsRejectsUnusableGranularities) {
  EXPECT_TRUE(WindowedCounters::ValidateWindows(DefaultWindows()).ok());
  EXPECT_EQ(
      WindowedCounters::ValidateWindows({{"x", absl::Seconds(10), absl::Milliseconds(500)}}).code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(WindowedCounters::ValidateWindows({{"x", absl::Minutes(5), absl::Seconds(7)}}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      WindowedCounters::ValidateWindows({{"x", absl::ZeroDuration(), absl::Seconds(1)}}).code(),
      absl::StatusCode::kInvalidArgument);
}

TEST_F(WindowedCountersTest, EmptyCountersReadZero) {
  EXPECT_EQ(Total(counters_.Cumulative()), 0u);
  EXPECT_EQ(Total(counters_.Window(k5m, clock_.Now())), 0u);
  EXPECT_EQ(Total(counters_.Window(7, clock_.Now())), 0u);
  EXPECT_EQ(Total(counters_.Window(-1, clock_.Now())), 0u);
}

TEST_F(WindowedCountersTest, EventsBeforeAndAfterRotationsLandInTheirWindows) {
  Predict(counters_, 0, 1);
  clock_.Advance(absl::Seconds(20));
  Predict(counters_, 1, 2);
  clock_.Advance(absl::Minutes(10));
  Predict(counters_, 2, 4);

  const absl::Time now = clock_.Now();
  EXPECT_EQ(PerClass(counters_.Window(k5m, now)), (V{0, 0, 4}));
  EXPECT_EQ(PerClass(counters_.Window(k1h, now)), (V{1, 2, 4}));
  EXPECT_EQ(PerClass(counters_.Window(k24h, now)), (V{1, 2, 4}));
  EXPECT_EQ(PerClass(counters_.Cumulative()), (V{1, 2, 4}));
  EXPECT_EQ(counters_.Cumulative().sum(layout_->confidence_sum()), 3.5);
  EXPECT_EQ(counters_.Window(k5m, now).sum(layout_->confidence_sum()), 2.0);

  // A reader looking at the earlier moment still sees the first two batches in the 5m window.
  EXPECT_EQ(PerClass(counters_.Window(k5m, kMidnight + absl::Seconds(20))), (V{1, 2, 0}));
}

// The event at 00:00:05 is in the 15s bucket [00:00:00, 00:00:15); the 5m window at `now` holds
// the 20 buckets ending with now's, so the event is inside until 00:04:59 and gone at 00:05:00.
TEST_F(WindowedCountersTest, EventLeavesFiveMinuteWindowWhenItsBucketSlidesOutAfterRotation) {
  clock_.Advance(absl::Seconds(5));
  Predict(counters_, 0);
  clock_.Set(kMidnight + absl::Seconds(100));
  Predict(counters_, 1);  // folds the first bucket into the rings

  EXPECT_EQ(PerClass(counters_.Window(k5m, kMidnight + absl::Seconds(299))), (V{1, 1, 0}));
  EXPECT_EQ(PerClass(counters_.Window(k5m, kMidnight + absl::Seconds(300))), (V{0, 1, 0}));
  EXPECT_EQ(PerClass(counters_.Window(k24h, kMidnight + absl::Seconds(300))), (V{1, 1, 0}));
  EXPECT_EQ(PerClass(counters_.Window(k1h, kMidnight + absl::Seconds(3599))), (V{1, 1, 0}));
  EXPECT_EQ(PerClass(counters_.Window(k1h, kMidnight + absl::Seconds(3600))), (V{0, 0, 0}));
  EXPECT_EQ(PerClass(counters_.Window(k24h, kMidnight + absl::Hours(24) - absl::Seconds(1))),
            (V{1, 1, 0}));
  EXPECT_EQ(PerClass(counters_.Window(k24h, kMidnight + absl::Hours(24))), (V{0, 0, 0}));
  EXPECT_EQ(PerClass(counters_.Cumulative()), (V{1, 1, 0}));
}

TEST_F(WindowedCountersTest, StaleActiveBucketOfIdleShardCountsOnlyWhileInsideTheWindow) {
  // Another thread writes once and exits; its shard's active bucket is never rotated again.
  std::thread([&] { Predict(counters_, 2, 3); }).join();
  clock_.Advance(absl::Minutes(10));
  Predict(counters_, 0);

  const absl::Time now = clock_.Now();
  EXPECT_EQ(PerClass(counters_.Window(k5m, now)), (V{1, 0, 0}));
  EXPECT_EQ(PerClass(counters_.Window(k1h, now)), (V{1, 0, 3}));
  EXPECT_EQ(PerClass(counters_.Window(k5m, kMidnight + absl::Seconds(299))), (V{0, 0, 3}));
  EXPECT_EQ(PerClass(counters_.Window(k5m, kMidnight + absl::Seconds(300))), (V{0, 0, 0}));
  EXPECT_EQ(PerClass(counters_.Cumulative()), (V{1, 0, 3}));
}

TEST_F(WindowedCountersTest, LateBatchCountsInTheActiveBucket) {
  clock_.Set(kMidnight + absl::Seconds(60));
  Predict(counters_, 0);
  clock_.Set(kMidnight + absl::Seconds(10));  // earlier than the active bucket
  Predict(counters_, 1);

  // Both live in the bucket [60s, 75s): inside at 359s, gone at 360s.
  EXPECT_EQ(PerClass(counters_.Window(k5m, kMidnight + absl::Seconds(359))), (V{1, 1, 0}));
  EXPECT_EQ(PerClass(counters_.Window(k5m, kMidnight + absl::Seconds(360))), (V{0, 0, 0}));
  EXPECT_EQ(PerClass(counters_.Cumulative()), (V{1, 1, 0}));
}

// Against a brute-force oracle: every event remembered with the base epoch it was counted in
// (the latest epoch the writer has seen, since time never goes backwards per shard).
TEST_F(WindowedCountersTest, RandomBatchesMatchABruteForceOracle) {
  struct Event {
    int64_t epoch;  // base epoch, in 15s
    int cls;
    uint64_t n;
  };
  const std::vector<WindowSpec> windows = DefaultWindows();
  std::vector<Event> events;
  std::mt19937_64 rng(20'261'203);
  int64_t active_epoch = std::numeric_limits<int64_t>::min();
  absl::Time latest = kMidnight;

  for (int batch = 0; batch < 3000; ++batch) {
    // Mostly small steps, sometimes long idle gaps, sometimes late (out-of-order) batches.
    const int kind = static_cast<int>(rng() % 20);
    absl::Duration step = absl::Seconds(static_cast<int64_t>(rng() % 40));
    if (kind == 0) step = absl::Seconds(static_cast<int64_t>(rng() % 20'000));
    if (kind == 1) step = -absl::Seconds(static_cast<int64_t>(rng() % 60));
    clock_.Set(std::max(kMidnight, clock_.Now() + step));
    latest = std::max(latest, clock_.Now());

    const int cls = static_cast<int>(rng() % 3);
    const uint64_t n = 1 + rng() % 5;
    Predict(counters_, cls, static_cast<int>(n));
    active_epoch = std::max(active_epoch, absl::ToUnixSeconds(clock_.Now()) / 15);
    events.push_back({active_epoch, cls, n});

    if (batch % 7 != 0) continue;
    const absl::Time now = latest + absl::Seconds(static_cast<int64_t>(rng() % 4000));
    for (int w = 0; w < 3; ++w) {
      const int64_t per = absl::ToInt64Seconds(windows[w].granularity) / 15;
      const int64_t span = windows[w].length / windows[w].granularity;
      const int64_t newest = absl::ToUnixSeconds(now) / 15 / per;
      V want(3);
      for (const Event& e : events) {
        if (e.epoch / per > newest - span && e.epoch / per <= newest) want[e.cls] += e.n;
      }
      ASSERT_EQ(PerClass(counters_.Window(w, now)), want) << "batch " << batch << " window " << w;
    }
  }

  V all(3);
  for (const Event& e : events) all[e.cls] += e.n;
  EXPECT_EQ(PerClass(counters_.Cumulative()), all);
}

// One event per 15s for 20 minutes: the 5m window before the current one holds 20 events when
// the rings keep it, and only what the ring has not reused otherwise.
TEST_F(WindowedCountersTest, KeepPreviousKeepsTheWindowBeforeTheCurrentOne) {
  WindowedCounters kept(layout_, DefaultWindows(), /*keep_previous=*/true);
  for (int i = 0; i < 80; ++i) {
    clock_.Set(kMidnight + absl::Seconds(15 * i));
    Predict(kept, 0);
    Predict(counters_, 0);
  }

  const absl::Time now = clock_.Now();  // 00:19:45, in the 80th 15s bucket
  EXPECT_EQ(Total(kept.Window(k5m, now)), 20u);
  EXPECT_EQ(Total(kept.Window(k5m, now - absl::Minutes(5))), 20u);
  EXPECT_EQ(Total(kept.Window(k1h, now - absl::Hours(1))), 0u);
  EXPECT_EQ(Total(counters_.Window(k5m, now)), 20u);
  // Without it the ring (21 folded buckets, 00:14:30 to 00:19:30; 00:19:45 is still active)
  // keeps only the previous window's last two buckets.
  EXPECT_EQ(Total(counters_.Window(k5m, now - absl::Minutes(5))), 2u);

  const size_t width = layout_->num_counts() + layout_->num_sums();
  const size_t extra_slots = 20 + 30 + 24;
  EXPECT_EQ(kept.MemoryBytes() - counters_.MemoryBytes(), extra_slots * (width + 1) * 8);
}

TEST_F(WindowedCountersTest, SeveralWritersGiveExactTotals) {
  constexpr int kThreads = 4, kBatches = 2000, kPerBatch = 37;
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int b = 0; b < kBatches; ++b) {
        // Each writer walks its own clock forward, rotating its buckets every few batches.
        WindowedCounters::BucketWriter writer =
            counters_.Writer(kMidnight + absl::Seconds(b * 4 + t));
        for (int i = 0; i < kPerBatch; ++i) {
          writer.Add(layout_->prediction(t % 3));
          writer.Add(layout_->confusion(t % 3, (t + i) % 3));
          writer.AddSum(layout_->confidence_sum(), 0.25);
        }
      }
    });
  }
  for (std::thread& w : writers) w.join();

  const uint64_t per_thread = uint64_t{kBatches} * kPerBatch;
  Counts all = counters_.Cumulative();
  EXPECT_EQ(PerClass(all), (V{2 * per_thread, per_thread, per_thread}));
  uint64_t confusion = 0;
  for (int a = 0; a < 3; ++a) {
    for (int p = 0; p < 3; ++p) confusion += all.count(layout_->confusion(a, p));
  }
  EXPECT_EQ(confusion, kThreads * per_thread);
  EXPECT_EQ(all.sum(layout_->confidence_sum()), 0.25 * kThreads * per_thread);
  // Every event is within the last 24h of the last batch.
  EXPECT_EQ(Total(counters_.Window(k24h, kMidnight + absl::Seconds(kBatches * 4))),
            kThreads * per_thread);
}

TEST_F(WindowedCountersTest, MoreThreadsThanSlotsShareTheOverflowShardExactly) {
  WriterSlot::SetCapacity(2);
  WindowedCounters counters(layout_, DefaultWindows());
  const long overflows_before = WriterSlot::OverflowAcquisitions();

  constexpr int kThreads = 6, kBatches = 500, kPerBatch = 10;
  std::vector<int> slots(kThreads);
  std::latch all_hold(kThreads);
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      slots[t] = WriterSlot::Current();
      all_hold.arrive_and_wait();  // all threads hold their slot (or none) at once
      for (int b = 0; b < kBatches; ++b) {
        WindowedCounters::BucketWriter writer = counters.Writer(kMidnight + absl::Seconds(b * 7));
        for (int i = 0; i < kPerBatch; ++i) writer.Add(layout_->prediction(0));
      }
    });
  }
  for (std::thread& w : writers) w.join();
  WriterSlot::SetCapacity(WriterSlot::kDefaultCapacity);

  const long overflowed = std::count(slots.begin(), slots.end(), WriterSlot::kOverflow);
  EXPECT_GE(overflowed, kThreads - 2);
  EXPECT_EQ(WriterSlot::OverflowAcquisitions() - overflows_before, overflowed);
  EXPECT_EQ(Total(counters.Cumulative()), uint64_t{kThreads} * kBatches * kPerBatch);
  EXPECT_EQ(Total(counters.Window(k1h, kMidnight + absl::Seconds(kBatches * 7))),
            uint64_t{kThreads} * kBatches * kPerBatch);
}

// A reader racing writers that fold every few batches never sees a fold half done: its totals
// stay between the events finished before the read and the events started before it ended, and
// never shrink. The writers run until the reader has read many times, however the threads get
// scheduled.
TEST_F(WindowedCountersTest, ConcurrentReadersSeeMonotonicBoundedTotals) {
  constexpr int kThreads = 2, kPerBatch = 1024;
  constexpr uint64_t kReads = 5'000, kMaxBatches = 1'000'000;
  // Wide buckets make each fold long, so reads overlap folds often.
  std::shared_ptr<const BucketLayout> wide = Layout(32);
  WindowedCounters counters(wide, DefaultWindows());
  auto total = [&](const Counts& counts) { return counts.count(wide->prediction(1)); };
  std::atomic<uint64_t> started{0}, finished{0}, reads{0};
  std::atomic<bool> reader_gone{false};

  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&] {
      for (uint64_t b = 0; b < kMaxBatches && !reader_gone.load(std::memory_order_relaxed); ++b) {
        started.fetch_add(kPerBatch, std::memory_order_seq_cst);
        {
          // Every 15th batch starts a new 15s epoch and folds.
          WindowedCounters::BucketWriter writer =
              counters.Writer(kMidnight + absl::Seconds(static_cast<int64_t>(b)));
          for (int i = 0; i < kPerBatch; ++i) writer.Add(wide->prediction(1));
        }
        finished.fetch_add(kPerBatch, std::memory_order_release);
      }
    });
  }

  std::thread reader([&] {
    struct Gone {
      std::atomic<bool>& flag;
      ~Gone() { flag.store(true); }
    } gone{reader_gone};
    uint64_t last = 0;
    for (uint64_t r = 0; r < kReads; ++r) {
      const uint64_t low = finished.load(std::memory_order_acquire);
      const uint64_t cumulative = total(counters.Cumulative());
      const uint64_t high = started.load(std::memory_order_seq_cst);
      ASSERT_GE(cumulative, low) << "read " << r;
      ASSERT_LE(cumulative, high) << "read " << r;
      ASSERT_GE(cumulative, last) << "read " << r;
      last = cumulative;
      reads.fetch_add(1, std::memory_order_relaxed);
    }
  });
  reader.join();
  for (std::thread& w : writers) w.join();

  EXPECT_EQ(reads.load(), kReads);
  EXPECT_EQ(total(counters.Cumulative()), finished.load());
}

TEST_F(WindowedCountersTest, MemoryBytesFollowsTheDocumentedFormula) {
  const size_t table = (static_cast<size_t>(WriterSlot::Capacity()) + 1) * 8;
  // Rings of 5m/15s, 1h/2m and 24h/1h windows, each one slot longer than the window.
  const size_t ring_slots = 21 + 31 + 25;
  const size_t width = layout_->num_counts() + layout_->num_sums();
  const size_t per_shard = (2 + ring_slots) * width * 8 + ring_slots * 8 + 64;

  EXPECT_EQ(counters_.MemoryBytes(), table);
  Predict(counters_, 0);
  EXPECT_EQ(counters_.MemoryBytes(), table + per_shard);
  std::thread([&] { Predict(counters_, 1); }).join();
  EXPECT_EQ(counters_.MemoryBytes(), table + 2 * per_shard);
}

TEST_F(WindowedCountersTest, TenClassesDefaultWindowsTwoShardsFitInTwoMebibytes) {
  std::shared_ptr<const BucketLayout> layout = Layout(10);
  WindowedCounters counters(layout, DefaultWindows());
  counters.Writer(clock_.Now()).Add(layout->prediction(3));
  std::thread([&] { counters.Writer(clock_.Now()).Add(layout->prediction(4)); }).join();

  const size_t bytes = counters.MemoryBytes();
  std::printf("10 classes, default windows, 2 shards: %zu bytes (%.1f KiB)\n", bytes,
              bytes / 1024.0);
  EXPECT_LT(bytes, size_t{2} << 20);
  Counts all = counters.Cumulative();
  EXPECT_EQ(all.count(layout->prediction(3)), 1u);
  EXPECT_EQ(all.count(layout->prediction(4)), 1u);
}

}  // namespace
}  // namespace modelwatch::core
