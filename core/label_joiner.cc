#include "core/label_joiner.h"

#include <algorithm>
#include <deque>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace modelwatch::core {
namespace {

// Spreads ids over shards independently of the bits the hash map probes with, so a shard's map
// does not see a skewed subset of hash values.
int ShardIndexOf(uint64_t id, int shards) {
  uint64_t h = id * 0x9E3779B97F4A7C15ull;
  return static_cast<int>((h >> 32) % static_cast<uint64_t>(shards));
}

double LagSeconds(int64_t prediction_ms, int64_t label_ms) {
  return label_ms > prediction_ms ? static_cast<double>(label_ms - prediction_ms) / 1000.0 : 0.0;
}

// The shard of each item and the items grouped by shard (stable within a shard), so each shard
// is locked once per batch.
struct ShardOrder {
  std::vector<uint32_t> begin;  // shards + 1 offsets into `items`
  std::vector<uint32_t> items;  // indices into the batch
};

template <typename IdOf>
ShardOrder GroupByShard(size_t n, int shards, IdOf id_of) {
  ShardOrder order;
  order.begin.assign(static_cast<size_t>(shards) + 1, 0);
  order.items.resize(n);
  std::vector<uint16_t> shard_of(n);
  for (size_t i = 0; i < n; ++i) {
    shard_of[i] = static_cast<uint16_t>(ShardIndexOf(id_of(i), shards));
    ++order.begin[shard_of[i] + 1];
  }
  for (int s = 0; s < shards; ++s) order.begin[s + 1] += order.begin[s];
  std::vector<uint32_t> next(order.begin.begin(), order.begin.end() - 1);
  for (size_t i = 0; i < n; ++i) order.items[next[shard_of[i]]++] = static_cast<uint32_t>(i);
  return order;
}

}  // namespace

// One shard: a map from id to what waits under it (a prediction or a label, never both: the
// second of a pair joins at once), and the insertion order for expiry and eviction.
//
// The FIFO is lazily cleaned: an entry that is joined or replaced leaves its FIFO item behind, and
// an item counts only while the map entry under its id still carries the item's tag. The FIFO is
// rebuilt when stale items outnumber live ones, so its size stays within twice the map's.
struct LabelJoiner::Shard {
  struct Entry {
    int64_t timestamp_ms = 0;
    uint64_t tag = 0;
    std::vector<float> scores;  // predictions only
    uint32_t version = 0;       // predictions only
    int32_t cls = 0;            // predicted class of a prediction, true class of a label
    bool is_label = false;
  };
  struct FifoItem {
    uint64_t id;
    uint64_t tag;
    int64_t arrival_nanos;
  };
  using EntryMap = absl::flat_hash_map<uint64_t, Entry>;

  Shard(size_t capacity, absl::Duration ttl, size_t lag_buckets)
      : capacity(capacity), ttl_nanos(absl::ToInt64Nanoseconds(ttl)) {
    stats.lag_buckets.assign(lag_buckets, 0);
  }

  // Joins `p` with its waiting label, or stores it (replacing a waiting prediction of its id).
  void AddLocked(PendingPrediction& p, int64_t now_nanos, std::vector<JoinedPair>& joined)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto it = entries.find(p.id);
    if (it != entries.end() && it->second.is_label) {
      const double lag = LagSeconds(p.timestamp_ms, it->second.timestamp_ms);
      JoinedPair pair{std::move(p), it->second.cls, lag};
      RecordJoinLocked(lag);
      Forget(it);
      joined.push_back(std::move(pair));
      return;
    }

    if (it != entries.end()) {
      ++stats.duplicate_predictions;
    } else {
      MakeRoomLocked();
      ++stats.pending_predictions;
    }
    PutLocked(p.id,
              Entry{p.timestamp_ms, 0, std::move(p.scores), p.version, p.predicted,
                    /*is_label=*/false},
              now_nanos);
  }

  // Joins `l` with its waiting prediction, or stores it (replacing a waiting label of its id).
  void AddLocked(const PendingLabel& l, int64_t now_nanos, std::vector<JoinedPair>& joined)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto it = entries.find(l.id);
    if (it != entries.end() && !it->second.is_label) {
      Entry& e = it->second;
      const double lag = LagSeconds(e.timestamp_ms, l.timestamp_ms);
      joined.push_back(
          JoinedPair{PendingPrediction{l.id, e.version, e.cls, e.timestamp_ms, std::move(e.scores)},
                     l.actual, lag});
      RecordJoinLocked(lag);
      Forget(it);
      return;
    }

    if (it != entries.end()) {
      ++stats.duplicate_labels;
    } else {
      MakeRoomLocked();
      ++stats.pending_labels;
    }
    PutLocked(l.id, Entry{l.timestamp_ms, 0, {}, 0, l.actual, /*is_label=*/true}, now_nanos);
  }

  // Drops entries that arrived more than the TTL before `now`.
  void ExpireLocked(int64_t now_nanos) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    while (!fifo.empty() && fifo.front().arrival_nanos < now_nanos - ttl_nanos) {
      if (auto it = LiveEntry(fifo.front()); it != entries.end()) {
        if (it->second.is_label) {
          ++stats.expired_labels;
        } else {
          ++stats.expired_predictions;
        }
        Forget(it);
      }
      fifo.pop_front();
    }
  }

  // Evicts the oldest live entry when the shard is full.
  void MakeRoomLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    while (entries.size() >= capacity && !fifo.empty()) {
      if (auto it = LiveEntry(fifo.front()); it != entries.end()) {
        ++stats.evicted;
        Forget(it);
      }
      fifo.pop_front();
    }
  }

  // Stores `entry` under `id` (new or replacing) and queues it for expiry.
  void PutLocked(uint64_t id, Entry entry, int64_t now_nanos) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    entry.tag = ++next_tag;
    fifo.push_back(FifoItem{id, entry.tag, now_nanos});
    entries.insert_or_assign(id, std::move(entry));
    if (fifo.size() > 2 * entries.size() + 64) CompactLocked();
  }

  void RecordJoinLocked(double lag_seconds) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    ++stats.joined;
    const std::vector<double>& bounds = LabelJoiner::LagBucketBounds();
    size_t b = std::lower_bound(bounds.begin(), bounds.end(), lag_seconds) - bounds.begin();
    ++stats.lag_buckets[b];
    stats.lag_sum_seconds += lag_seconds;
    ++stats.lag_count;
  }

  // The entry `item` stands for, or end() when the item is stale.
  EntryMap::iterator LiveEntry(const FifoItem& item) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto it = entries.find(item.id);
    return it != entries.end() && it->second.tag == item.tag ? it : entries.end();
  }

  // Removes a live entry.
  void Forget(EntryMap::iterator it) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (it->second.is_label) {
      --stats.pending_labels;
    } else {
      --stats.pending_predictions;
    }
    entries.erase(it);
  }

  void CompactLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::deque<FifoItem> live;
    for (const FifoItem& item : fifo) {
      if (LiveEntry(item) != entries.end()) live.push_back(item);
    }
    fifo.swap(live);
  }

  // Set at construction.
  const size_t capacity;
  const int64_t ttl_nanos;

  absl::Mutex mu;
  EntryMap entries ABSL_GUARDED_BY(mu);
  std::deque<FifoItem> fifo ABSL_GUARDED_BY(mu);
  uint64_t next_tag ABSL_GUARDED_BY(mu) = 0;
  JoinStats stats ABSL_GUARDED_BY(mu);
};

namespace {

// Adds a batch of predictions or labels, grouped by shard: each shard touched is locked once, its
// expired entries dropped and its items' map slots prefetched before they are added.
template <typename Shards, typename Item>
void AddByShard(Shards& shards, std::span<Item> items, int64_t now_nanos,
                std::vector<JoinedPair>& joined) {
  ShardOrder order = GroupByShard(items.size(), static_cast<int>(shards.size()),
                                  [&](size_t i) { return items[i].id; });
  for (size_t s = 0; s < shards.size(); ++s) {
    if (order.begin[s] == order.begin[s + 1]) continue;
    auto& shard = *shards[s];
    absl::MutexLock lock(&shard.mu);
    shard.ExpireLocked(now_nanos);
    for (uint32_t k = order.begin[s]; k < order.begin[s + 1]; ++k) {
      shard.entries.prefetch(items[order.items[k]].id);
    }
    for (uint32_t k = order.begin[s]; k < order.begin[s + 1]; ++k) {
      shard.AddLocked(items[order.items[k]], now_nanos, joined);
    }
  }
}

}  // namespace

LabelJoiner::LabelJoiner(const JoinSpec& spec, int shards) : spec_(spec) {
  shards = std::clamp(shards, 1, 1 << 15);
  int64_t per_shard = std::max<int64_t>(1, spec.capacity / shards);
  for (int s = 0; s < shards; ++s) {
    shards_.push_back(std::make_unique<Shard>(static_cast<size_t>(per_shard), spec.ttl,
                                              LagBucketBounds().size() + 1));
  }
}

LabelJoiner::~LabelJoiner() = default;

void LabelJoiner::AddPredictions(std::span<PendingPrediction> predictions, absl::Time now,
                                 std::vector<JoinedPair>& joined) {
  AddByShard(shards_, predictions, absl::ToUnixNanos(now), joined);
}

void LabelJoiner::AddLabels(std::span<const PendingLabel> labels, absl::Time now,
                            std::vector<JoinedPair>& joined) {
  AddByShard(shards_, labels, absl::ToUnixNanos(now), joined);
}

void LabelJoiner::Expire(absl::Time now) {
  const int64_t now_nanos = absl::ToUnixNanos(now);
  for (const std::unique_ptr<Shard>& shard : shards_) {
    absl::MutexLock lock(&shard->mu);
    shard->ExpireLocked(now_nanos);
  }
}

JoinStats LabelJoiner::Stats() const {
  JoinStats total;
  total.lag_buckets.assign(LagBucketBounds().size() + 1, 0);
  for (const std::unique_ptr<Shard>& shard : shards_) {
    absl::MutexLock lock(&shard->mu);
    const JoinStats& s = shard->stats;
    total.joined += s.joined;
    total.expired_predictions += s.expired_predictions;
    total.expired_labels += s.expired_labels;
    total.duplicate_predictions += s.duplicate_predictions;
    total.duplicate_labels += s.duplicate_labels;
    total.evicted += s.evicted;
    total.pending_predictions += s.pending_predictions;
    total.pending_labels += s.pending_labels;
    for (size_t b = 0; b < total.lag_buckets.size(); ++b) total.lag_buckets[b] += s.lag_buckets[b];
    total.lag_sum_seconds += s.lag_sum_seconds;
    total.lag_count += s.lag_count;
  }
  return total;
}

const std::vector<double>& LabelJoiner::LagBucketBounds() {
  static const std::vector<double> bounds = {1,    5,     30,    60,     300,   900,
                                             3600, 21600, 86400, 259200, 604800};
  return bounds;
}

}  // namespace modelwatch::core
