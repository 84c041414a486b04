#include "core/label_joiner.h"

#include <algorithm>
#include <map>
#include <random>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace modelwatch::core {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::IsEmpty;

const absl::Time kStart = absl::FromUnixSeconds(1'700'000'000);

class LabelJoinerTest : public ::testing::Test {
 protected:
  static JoinSpec Spec(int64_t capacity, absl::Duration ttl) {
    JoinSpec spec;
    spec.capacity = capacity;
    spec.ttl = ttl;
    return spec;
  }

  // `scores` must outlive the call that adds the prediction.
  static PendingPrediction Prediction(uint64_t id, int32_t predicted, int64_t ts_ms,
                                      std::span<const float> scores = {}, uint32_t version = 0) {
    return PendingPrediction{id, version, predicted, ts_ms, scores};
  }

  // Adds one prediction and returns what joined.
  static Joined AddPrediction(LabelJoiner& joiner, PendingPrediction p, absl::Time now) {
    std::vector<PendingPrediction> batch = {p};
    Joined joined;
    joiner.AddPredictions(batch, now, joined);
    return joined;
  }

  static Joined AddLabel(LabelJoiner& joiner, uint64_t id, int32_t actual, int64_t ts_ms,
                         absl::Time now) {
    std::vector<PendingLabel> batch = {PendingLabel{id, actual, ts_ms}};
    Joined joined;
    joiner.AddLabels(batch, now, joined);
    return joined;
  }
};

TEST_F(LabelJoinerTest, LabelAfterPredictionJoins) {
  LabelJoiner joiner(Spec(1000, absl::Hours(1)));
  const std::vector<float> scores = {0.25f, 0.75f};
  EXPECT_THAT(AddPrediction(joiner, Prediction(7, 1, 10'000, scores, 3), kStart).pairs, IsEmpty());
  EXPECT_EQ(joiner.Stats().pending_predictions, 1);

  Joined joined = AddLabel(joiner, 7, 0, 13'500, kStart + absl::Seconds(4));
  ASSERT_EQ(joined.pairs.size(), 1u);
  EXPECT_EQ(joined.pairs[0].id, 7u);
  EXPECT_EQ(joined.pairs[0].version, 3u);
  EXPECT_EQ(joined.pairs[0].predicted, 1);
  EXPECT_EQ(joined.pairs[0].prediction_timestamp_ms, 10'000);
  EXPECT_THAT(joined.ScoresOf(joined.pairs[0]), ElementsAre(0.25f, 0.75f));
  EXPECT_EQ(joined.pairs[0].actual, 0);
  EXPECT_DOUBLE_EQ(joined.pairs[0].lag_seconds, 3.5);

  JoinStats stats = joiner.Stats();
  EXPECT_EQ(stats.joined, 1u);
  EXPECT_EQ(stats.pending_predictions, 0);
  EXPECT_EQ(stats.pending_labels, 0);
}

TEST_F(LabelJoinerTest, LabelBeforePredictionStillJoins) {
  LabelJoiner joiner(Spec(1000, absl::Hours(1)));
  EXPECT_THAT(AddLabel(joiner, 9, 2, 70'000, kStart).pairs, IsEmpty());
  EXPECT_EQ(joiner.Stats().pending_labels, 1);

  const std::vector<float> scores = {0.1f, 0.2f, 0.7f};
  Joined joined = AddPrediction(joiner, Prediction(9, 1, 10'000, scores), kStart);
  ASSERT_EQ(joined.pairs.size(), 1u);
  EXPECT_EQ(joined.pairs[0].predicted, 1);
  EXPECT_EQ(joined.pairs[0].actual, 2);
  EXPECT_THAT(joined.ScoresOf(joined.pairs[0]), ElementsAre(0.1f, 0.2f, 0.7f));
  EXPECT_DOUBLE_EQ(joined.pairs[0].lag_seconds, 60.0);
  EXPECT_EQ(joiner.Stats().pending_labels, 0);
  EXPECT_EQ(joiner.Stats().joined, 1u);
}

TEST_F(LabelJoinerTest, ScoresKeepTheirWidthWhenWiderRowsArrive) {
  // One shard, so every prediction shares its score slots; the third widens them.
  LabelJoiner joiner(Spec(1000, absl::Hours(1)), 1);
  const std::vector<float> two = {0.4f, 0.6f};
  const std::vector<float> none;
  const std::vector<float> four = {0.1f, 0.2f, 0.3f, 0.4f};
  const std::vector<float> replaced = {0.9f, 0.1f};
  AddPrediction(joiner, Prediction(1, 1, 0, two), kStart);
  AddPrediction(joiner, Prediction(2, 0, 0, none), kStart);
  AddPrediction(joiner, Prediction(3, 3, 0, four), kStart);
  AddPrediction(joiner, Prediction(4, 0, 0, four), kStart);
  AddPrediction(joiner, Prediction(4, 0, 0, replaced), kStart);  // a duplicate replaces

  Joined joined;
  const std::vector<PendingLabel> labels = {{3, 0, 0}, {1, 0, 0}, {4, 1, 0}, {2, 1, 0}};
  joiner.AddLabels(labels, kStart, joined);
  ASSERT_EQ(joined.pairs.size(), 4u);
  for (const JoinedPair& pair : joined.pairs) {
    switch (pair.id) {
      case 1:
        EXPECT_THAT(joined.ScoresOf(pair), ElementsAre(0.4f, 0.6f));
        break;
      case 2:
        EXPECT_THAT(joined.ScoresOf(pair), IsEmpty());
        break;
      case 3:
        EXPECT_THAT(joined.ScoresOf(pair), ElementsAre(0.1f, 0.2f, 0.3f, 0.4f));
        break;
      default:
        EXPECT_THAT(joined.ScoresOf(pair), ElementsAre(0.9f, 0.1f));
        break;
    }
  }
}

TEST_F(LabelJoinerTest, NegativeLagIsClampedToZero) {
  LabelJoiner joiner(Spec(1000, absl::Hours(1)));
  AddPrediction(joiner, Prediction(1, 0, 50'000), kStart);
  Joined joined = AddLabel(joiner, 1, 0, 40'000, kStart);
  ASSERT_EQ(joined.pairs.size(), 1u);
  EXPECT_EQ(joined.pairs[0].lag_seconds, 0.0);
  EXPECT_EQ(joiner.Stats().lag_buckets[0], 1u);
}

TEST_F(LabelJoinerTest, DuplicatePredictionNewerWins) {
  LabelJoiner joiner(Spec(1000, absl::Hours(1)));
  AddPrediction(joiner, Prediction(5, 0, 1'000), kStart);
  AddPrediction(joiner, Prediction(5, 1, 2'000), kStart);
  JoinStats stats = joiner.Stats();
  EXPECT_EQ(stats.duplicate_predictions, 1u);
  EXPECT_EQ(stats.pending_predictions, 1);

  Joined joined = AddLabel(joiner, 5, 1, 2'000, kStart);
  ASSERT_EQ(joined.pairs.size(), 1u);
  EXPECT_EQ(joined.pairs[0].predicted, 1);
  EXPECT_EQ(joiner.Stats().pending_predictions, 0);
}

TEST_F(LabelJoinerTest, DuplicateLabelNewerWins) {
  LabelJoiner joiner(Spec(1000, absl::Hours(1)));
  AddLabel(joiner, 5, 0, 1'000, kStart);
  AddLabel(joiner, 5, 2, 1'000, kStart);
  EXPECT_EQ(joiner.Stats().duplicate_labels, 1u);
  EXPECT_EQ(joiner.Stats().pending_labels, 1);

  Joined joined = AddPrediction(joiner, Prediction(5, 0, 1'000), kStart);
  ASSERT_EQ(joined.pairs.size(), 1u);
  EXPECT_EQ(joined.pairs[0].actual, 2);
}

TEST_F(LabelJoinerTest, DuplicatesWithinOneBatchKeepTheLast) {
  LabelJoiner joiner(Spec(1000, absl::Hours(1)), 4);
  std::vector<PendingPrediction> batch;
  batch.push_back(Prediction(11, 0, 0));
  batch.push_back(Prediction(12, 0, 0));
  batch.push_back(Prediction(11, 2, 0));
  Joined joined;
  joiner.AddPredictions(batch, kStart, joined);
  EXPECT_THAT(joined.pairs, IsEmpty());
  EXPECT_EQ(joiner.Stats().duplicate_predictions, 1u);
  EXPECT_EQ(joiner.Stats().pending_predictions, 2);

  joined = AddLabel(joiner, 11, 1, 0, kStart);
  ASSERT_EQ(joined.pairs.size(), 1u);
  EXPECT_EQ(joined.pairs[0].predicted, 2);
}

TEST_F(LabelJoinerTest, EntriesExpireAfterTtl) {
  LabelJoiner joiner(Spec(1000, absl::Minutes(1)));
  AddPrediction(joiner, Prediction(1, 0, 0), kStart);
  AddLabel(joiner, 2, 0, 0, kStart + absl::Seconds(10));

  // At exactly the TTL the entry still waits.
  joiner.Expire(kStart + absl::Minutes(1));
  EXPECT_EQ(joiner.Stats().expired_predictions, 0u);
  EXPECT_EQ(joiner.Stats().pending_predictions, 1);

  joiner.Expire(kStart + absl::Minutes(1) + absl::Seconds(1));
  JoinStats stats = joiner.Stats();
  EXPECT_EQ(stats.expired_predictions, 1u);
  EXPECT_EQ(stats.expired_labels, 0u);
  EXPECT_EQ(stats.pending_predictions, 0);
  EXPECT_EQ(stats.pending_labels, 1);

  joiner.Expire(kStart + absl::Minutes(2));
  stats = joiner.Stats();
  EXPECT_EQ(stats.expired_labels, 1u);
  EXPECT_EQ(stats.pending_labels, 0);

  // The expired prediction's label now waits instead of joining.
  EXPECT_THAT(AddLabel(joiner, 1, 0, 0, kStart + absl::Minutes(2)).pairs, IsEmpty());
  EXPECT_EQ(joiner.Stats().pending_labels, 1);
}

TEST_F(LabelJoinerTest, ExpiryHappensOnAddWithoutExplicitExpire) {
  LabelJoiner joiner(Spec(1000, absl::Minutes(1)), 1);
  AddPrediction(joiner, Prediction(1, 0, 0), kStart);
  EXPECT_THAT(AddLabel(joiner, 1, 0, 0, kStart + absl::Minutes(5)).pairs, IsEmpty());
  JoinStats stats = joiner.Stats();
  EXPECT_EQ(stats.expired_predictions, 1u);
  EXPECT_EQ(stats.joined, 0u);
  EXPECT_EQ(stats.pending_labels, 1);
}

TEST_F(LabelJoinerTest, ReplacedEntryExpiresFromItsNewArrival) {
  LabelJoiner joiner(Spec(1000, absl::Minutes(1)));
  AddPrediction(joiner, Prediction(3, 0, 0), kStart);
  AddPrediction(joiner, Prediction(3, 1, 0), kStart + absl::Seconds(50));

  joiner.Expire(kStart + absl::Seconds(90));
  EXPECT_EQ(joiner.Stats().expired_predictions, 0u);
  EXPECT_EQ(joiner.Stats().pending_predictions, 1);

  joiner.Expire(kStart + absl::Seconds(111));
  EXPECT_EQ(joiner.Stats().expired_predictions, 1u);
  EXPECT_EQ(joiner.Stats().pending_predictions, 0);
}

TEST_F(LabelJoinerTest, FullTableEvictsTheOldest) {
  LabelJoiner joiner(Spec(3, absl::Hours(1)), 1);
  AddPrediction(joiner, Prediction(1, 0, 0), kStart);
  AddLabel(joiner, 2, 0, 0, kStart);
  AddPrediction(joiner, Prediction(3, 0, 0), kStart);
  EXPECT_EQ(joiner.Stats().evicted, 0u);

  AddPrediction(joiner, Prediction(4, 0, 0), kStart);
  AddPrediction(joiner, Prediction(5, 0, 0), kStart);
  JoinStats stats = joiner.Stats();
  EXPECT_EQ(stats.evicted, 2u);
  EXPECT_EQ(stats.pending_predictions, 3);
  EXPECT_EQ(stats.pending_labels, 0);

  // 1 was evicted; 3 is still there.
  EXPECT_THAT(AddLabel(joiner, 3, 0, 0, kStart),
              testing::Field(&Joined::pairs, testing::SizeIs(1)));
  EXPECT_THAT(AddLabel(joiner, 1, 0, 0, kStart).pairs, IsEmpty());
}

TEST_F(LabelJoinerTest, ReplacingAtCapacityEvictsNothing) {
  LabelJoiner joiner(Spec(2, absl::Hours(1)), 1);
  AddPrediction(joiner, Prediction(1, 0, 0), kStart);
  AddPrediction(joiner, Prediction(2, 0, 0), kStart);
  AddPrediction(joiner, Prediction(2, 1, 0), kStart);
  EXPECT_EQ(joiner.Stats().evicted, 0u);
  EXPECT_EQ(joiner.Stats().duplicate_predictions, 1u);
  EXPECT_EQ(joiner.Stats().pending_predictions, 2);
}

TEST_F(LabelJoinerTest, LagHistogramCountsPerBucket) {
  LabelJoiner joiner(Spec(1000, absl::Hours(24 * 30)));
  // Lags in seconds: 1 (<= 1), 1.5 (<= 5), 3600 (<= 3600), 3600.001 (<= 21600), 700000 (+Inf).
  const std::vector<int64_t> lag_ms = {1'000, 1'500, 3'600'000, 3'600'001, 700'000'000};
  for (size_t i = 0; i < lag_ms.size(); ++i) {
    AddPrediction(joiner, Prediction(100 + i, 0, 1'000'000), kStart);
    AddLabel(joiner, 100 + i, 0, 1'000'000 + lag_ms[i], kStart);
  }
  JoinStats stats = joiner.Stats();
  ASSERT_EQ(stats.lag_buckets.size(), LabelJoiner::LagBucketBounds().size() + 1);
  EXPECT_THAT(stats.lag_buckets, ElementsAre(1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1));
  EXPECT_EQ(stats.lag_count, 5u);
  EXPECT_DOUBLE_EQ(stats.lag_sum_seconds, 1 + 1.5 + 3600 + 3600.001 + 700000);
}

TEST_F(LabelJoinerTest, LargeBatchesJoinAcrossShards) {
  LabelJoiner joiner(Spec(100'000, absl::Hours(1)), 16);
  std::vector<PendingPrediction> predictions;
  for (uint64_t id = 1; id <= 5000; ++id) {
    predictions.push_back(Prediction(id * 7919, static_cast<int32_t>(id % 5), 0));
  }
  Joined joined;
  joiner.AddPredictions(predictions, kStart, joined);
  EXPECT_THAT(joined.pairs, IsEmpty());

  std::vector<PendingLabel> labels;
  for (uint64_t id = 5000; id >= 1; --id) {
    labels.push_back(PendingLabel{id * 7919, static_cast<int32_t>(id % 3), 0});
  }
  joiner.AddLabels(labels, kStart, joined);
  ASSERT_EQ(joined.pairs.size(), 5000u);
  for (const JoinedPair& pair : joined.pairs) {
    uint64_t id = pair.id / 7919;
    EXPECT_EQ(pair.predicted, static_cast<int32_t>(id % 5));
    EXPECT_EQ(pair.actual, static_cast<int32_t>(id % 3));
  }
  JoinStats stats = joiner.Stats();
  EXPECT_EQ(stats.joined, 5000u);
  EXPECT_EQ(stats.pending_predictions, 0);
  EXPECT_EQ(stats.evicted, 0u);
}

TEST_F(LabelJoinerTest, ConcurrentWritersJoinEveryPair) {
  LabelJoiner joiner(Spec(1'000'000, absl::Hours(1)), 16);
  constexpr int kThreads = 4;
  constexpr uint64_t kPerThread = 20'000;
  std::vector<std::thread> threads;
  std::vector<uint64_t> joined_by(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Even threads send predictions, odd threads the labels of the same ids, in batches.
      const uint64_t base = static_cast<uint64_t>(t / 2) * kPerThread + 1;
      Joined joined;
      for (uint64_t start = 0; start < kPerThread; start += 256) {
        const uint64_t end = std::min(kPerThread, start + 256);
        if (t % 2 == 0) {
          std::vector<PendingPrediction> batch;
          for (uint64_t i = start; i < end; ++i) batch.push_back(Prediction(base + i, 1, 0));
          joiner.AddPredictions(batch, kStart, joined);
        } else {
          std::vector<PendingLabel> batch;
          for (uint64_t i = start; i < end; ++i) batch.push_back(PendingLabel{base + i, 0, 0});
          joiner.AddLabels(batch, kStart, joined);
        }
      }
      joined_by[t] = joined.pairs.size();
    });
  }
  for (std::thread& th : threads) th.join();

  uint64_t total = 0;
  for (uint64_t n : joined_by) total += n;
  JoinStats stats = joiner.Stats();
  EXPECT_EQ(total, kThreads / 2 * kPerThread);
  EXPECT_EQ(stats.joined, kThreads / 2 * kPerThread);
  EXPECT_EQ(stats.pending_predictions, 0);
  EXPECT_EQ(stats.pending_labels, 0);
  EXPECT_EQ(stats.duplicate_predictions + stats.duplicate_labels, 0u);
}

TEST_F(LabelJoinerTest, ManyJoinsOfReusedIdsKeepTheTableSmall) {
  LabelJoiner joiner(Spec(4, absl::Hours(1)), 1);
  // Stale expiry items from joined entries must not count against capacity.
  for (int round = 0; round < 10'000; ++round) {
    AddPrediction(joiner, Prediction(1 + round % 3, 0, 0), kStart);
    EXPECT_THAT(AddLabel(joiner, 1 + round % 3, 0, 0, kStart),
                testing::Field(&Joined::pairs, testing::SizeIs(1)));
  }
  JoinStats stats = joiner.Stats();
  EXPECT_EQ(stats.joined, 10'000u);
  EXPECT_EQ(stats.evicted, 0u);
  EXPECT_EQ(stats.pending_predictions, 0);
}

TEST_F(LabelJoinerTest, IdZeroIsIgnored) {
  LabelJoiner joiner(Spec(1000, absl::Hours(1)), 1);
  EXPECT_THAT(AddPrediction(joiner, Prediction(0, 1, 0), kStart).pairs, IsEmpty());
  EXPECT_THAT(AddLabel(joiner, 0, 1, 0, kStart).pairs, IsEmpty());
  AddPrediction(joiner, Prediction(5, 1, 0), kStart);
  JoinStats stats = joiner.Stats();
  EXPECT_EQ(stats.pending_predictions, 1);
  EXPECT_EQ(stats.pending_labels, 0);
  EXPECT_EQ(stats.joined, 0u);
  EXPECT_THAT(AddLabel(joiner, 5, 0, 0, kStart),
              testing::Field(&Joined::pairs, testing::SizeIs(1)));
}

TEST_F(LabelJoinerTest, RandomOperationsMatchASimpleModel) {
  // Ids from a small range collide often in the table, exercising its erase path; predictions
  // carry 0 to 6 scores, so a shard's score slots widen while entries wait.
  struct Waiting {
    bool is_label;
    int32_t cls;
    std::vector<float> scores;
  };
  for (int shards : {1, 3}) {
    LabelJoiner joiner(Spec(1'000'000, absl::Hours(1)), shards);
    std::map<uint64_t, Waiting> waiting;
    std::mt19937_64 rng(shards);
    uint64_t joins = 0;
    for (int step = 0; step < 20'000; ++step) {
      const uint64_t id = 1 + rng() % 300;
      const int32_t cls = static_cast<int32_t>(rng() % 5);
      const bool label = rng() % 2 == 0;
      std::vector<float> scores(rng() % 7);
      for (float& p : scores) p = static_cast<float>(rng() % 1000) / 1000.0f;
      Joined joined = label ? AddLabel(joiner, id, cls, 0, kStart)
                            : AddPrediction(joiner, Prediction(id, cls, 0, scores), kStart);
      auto it = waiting.find(id);
      if (it != waiting.end() && it->second.is_label != label) {
        ASSERT_EQ(joined.pairs.size(), 1u) << "step " << step;
        const JoinedPair& pair = joined.pairs[0];
        EXPECT_EQ(label ? pair.predicted : pair.actual, it->second.cls);
        EXPECT_EQ(label ? pair.actual : pair.predicted, cls);
        EXPECT_THAT(joined.ScoresOf(pair), ElementsAreArray(label ? it->second.scores : scores))
            << "step " << step;
        waiting.erase(it);
        ++joins;
      } else {
        ASSERT_TRUE(joined.pairs.empty()) << "step " << step;
        waiting[id] = {label, cls, label ? std::vector<float>{} : scores};
      }
    }
    JoinStats stats = joiner.Stats();
    EXPECT_EQ(stats.joined, joins);
    int64_t labels = 0;
    for (const auto& [id, entry] : waiting) labels += entry.is_label ? 1 : 0;
    EXPECT_EQ(stats.pending_labels, labels);
    EXPECT_EQ(stats.pending_predictions, static_cast<int64_t>(waiting.size()) - labels);
  }
}

}  // namespace
}  // namespace modelwatch::core
