#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/time/time.h"
#include "core/model_spec.h"

namespace modelwatch::core {

// A prediction that carried an id, as the joiner is handed it.
struct PendingPrediction {
  uint64_t id = 0;                // never 0
  uint32_t version = 0;           // the model's version handle
  int32_t predicted = 0;          // class index in the model's class list
  int64_t timestamp_ms = 0;       // when the model predicted (event time, or arrival time)
  std::span<const float> scores;  // in model class order; empty when the event had none. The
                                  // joiner keeps a copy.
};

// A label that carried an id.
struct PendingLabel {
  uint64_t id = 0;           // never 0
  int32_t actual = 0;        // class index in the model's class list
  int64_t timestamp_ms = 0;  // when the label became known (event time, or arrival time)
};

// A prediction and its label, matched. Counted at the arrival time of the later of the two.
struct JoinedPair {
  uint64_t id = 0;
  uint32_t version = 0;   // the prediction's version handle
  int32_t predicted = 0;  // the prediction's class
  int64_t prediction_timestamp_ms = 0;
  int32_t actual = 0;
  double lag_seconds = 0;  // label timestamp - prediction timestamp, never negative
  // Where the prediction's scores are in Joined::scores (see Joined::ScoresOf).
  uint32_t scores_begin = 0;
  uint32_t scores_size = 0;
};

// What calls to the joiner matched: the pairs, and the scores of their predictions, one array
// for all of them so a join allocates nothing once the arrays have grown. Calls append; Clear()
// empties both.
struct Joined {
  std::vector<JoinedPair> pairs;
  std::vector<float> scores;

  std::span<const float> ScoresOf(const JoinedPair& pair) const {
    return {scores.data() + pair.scores_begin, pair.scores_size};
  }
  // Appends `pair` with the prediction's `prediction_scores` (its scores fields are set here).
  void Add(JoinedPair pair, std::span<const float> prediction_scores) {
    pair.scores_begin = static_cast<uint32_t>(scores.size());
    pair.scores_size = static_cast<uint32_t>(prediction_scores.size());
    scores.insert(scores.end(), prediction_scores.begin(), prediction_scores.end());
    pairs.push_back(pair);
  }
  void Clear() {
    pairs.clear();
    scores.clear();
  }
};

// Cumulative join statistics of one model. Monotonic except the two `pending_` gauges.
struct JoinStats {
  uint64_t joined = 0;
  uint64_t expired_predictions = 0;    // waited `ttl` and no label came
  uint64_t expired_labels = 0;         // waited `ttl` and no prediction came
  uint64_t duplicate_predictions = 0;  // an id already pending as a prediction; the newer wins
  uint64_t duplicate_labels = 0;       // an id already pending as a label; the newer wins
  uint64_t evicted = 0;                // the table was full: the oldest pending entry made room
  int64_t pending_predictions = 0;
  int64_t pending_labels = 0;
  // Label lag histogram: lag_buckets[b] counts joins with lag in (bound[b-1], bound[b]] of
  // LagBucketBounds() (not cumulative); the last element, one past the bounds, counts lags above
  // the largest bound (+Inf). Plus the sum and count of all lags.
  std::vector<uint64_t> lag_buckets;
  double lag_sum_seconds = 0;
  uint64_t lag_count = 0;
};

// Joins delayed labels with the predictions they belong to, by id, in either order, for one
// model.
//
// The table is split into shards by id hash, each with its own mutex; a batch locks each shard
// it touches once, never once per event. An id holds at most one waiting entry: a second
// prediction (or label) with the same id replaces the first and counts as a duplicate. Capacity
// and TTL come from JoinSpec: an entry that arrived more than the TTL before `now` expires
// (checked on every call that touches its shard and on Expire()), and when a shard holds
// max(1, capacity/shards) entries the oldest is evicted. Age is measured from the arrival time
// passed in (`now`), not from the event timestamps, which only feed the lag. Memory is bounded by
// capacity times the entry size: 150 to 200 bytes (a 64-byte entry, 16-byte id table slots at
// 3/16 to 3/8 load, and the expiry queue), plus 4 bytes per class for the scores (a shard's score
// slots are as wide as the most classes it has seen scored).
//
// Joined pairs are appended grouped by shard, not in input order. Items with id 0 ("no id") are
// ignored.
//
// Thread-safe. Cost per event: one hash, one probe, amortized O(1) expiry.
class LabelJoiner {
 public:
  explicit LabelJoiner(const JoinSpec& spec, int shards = 16);
  ~LabelJoiner();

  // Stores predictions until their labels arrive; a prediction whose label is already waiting is
  // joined at once and appended to `joined`.
  void AddPredictions(std::span<const PendingPrediction> predictions, absl::Time now,
                      Joined& joined);

  // Matches labels to waiting predictions (appending to `joined`); a label whose prediction has
  // not arrived waits for it.
  void AddLabels(std::span<const PendingLabel> labels, absl::Time now, Joined& joined);

  // Drops entries older than the TTL. The daemon calls it periodically and at every scrape.
  void Expire(absl::Time now);

  JoinStats Stats() const;

  // Upper bounds, in seconds, of the label lag histogram buckets (+Inf is implicit).
  static const std::vector<double>& LagBucketBounds();

 private:
  struct Shard;

  const JoinSpec spec_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace modelwatch::core
