#include "core/label_joiner.h"

#include <algorithm>
#include <deque>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace modelwatch::core {
namespace {

// Spreads ids over shards independently of the bits the hash map probes with, so a shard's map
// does not see a skewed subset of hash values.
int ShardIndexOf(uint64_t id, int shards) {
  uint64_t h = id * 0x9E3779B97F4A7C15ull;
  return static_cast<int>((h >> 32) % static_cast<uint64_t>(shards));
}

// Asks for the cache line at `p`. An asm statement because GCC 12 drops __builtin_prefetch in
// these loops at -O2.
inline void PrefetchLine(const void* p) {
#if defined(__x86_64__)
  asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p);
#endif
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

// Open addressing with linear probing over 16-byte slots {id, entry index}, so a lookup usually
// touches one cache line, which a batch prefetches for all its ids before probing. Id 0 marks an
// empty slot (ids are never 0). Doubles at 3/8 load: short clusters keep a lookup and an erase
// within a line or two (at half load the erase's scan cost a fifth more per label). An erase
// shifts the following slots back instead of leaving tombstones, so probe lengths stay short
// under constant churn.
class IdTable {
 public:
  static constexpr uint32_t kNone = ~uint32_t{0};

  IdTable() : slots_(16), mask_(15) {}

  // Brings in the cache line of the home slot of `id`, and the next line too when the home slot
  // is in the second half of its line: a lookup or an erase usually reads a slot or two past
  // home, and a miss there is not overlapped with the batch's other misses.
  void Prefetch(uint64_t id) const {
    const size_t home = Home(id);
    const Slot* slot = &slots_[home];
    PrefetchLine(slot);
    if ((reinterpret_cast<uintptr_t>(slot) & 63) >= 32) {
      PrefetchLine(&slots_[(home + 64 / sizeof(Slot)) & mask_]);
    }
  }

  // The entry index stored under `id`, or kNone.
  uint32_t Find(uint64_t id) const {
    for (size_t i = Home(id);; i = (i + 1) & mask_) {
      if (slots_[i].id == id) return slots_[i].entry;
      if (slots_[i].id == 0) return kNone;
    }
  }

  // Stores `entry` under `id`, which must not be present.
  void Insert(uint64_t id, uint32_t entry) {
    if ((size_ + 1) * 8 > slots_.size() * 3) Grow();
    size_t i = Home(id);
    while (slots_[i].id != 0) i = (i + 1) & mask_;
    slots_[i] = Slot{id, entry};
    ++size_;
  }

  // Replaces the entry index of a present `id`.
  void Update(uint64_t id, uint32_t entry) {
    size_t i = Home(id);
    while (slots_[i].id != id) i = (i + 1) & mask_;
    slots_[i].entry = entry;
  }

  // Removes a present `id`.
  void Erase(uint64_t id) {
    size_t hole = Home(id);
    while (slots_[hole].id != id) hole = (hole + 1) & mask_;
    // Moves back each following slot whose home is not between the hole and itself.
    for (size_t j = (hole + 1) & mask_; slots_[j].id != 0; j = (j + 1) & mask_) {
      const size_t home = Home(slots_[j].id);
      if (((j - home) & mask_) >= ((j - hole) & mask_)) {
        slots_[hole] = slots_[j];
        hole = j;
      }
    }
    slots_[hole] = Slot{};
    --size_;
  }

 private:
  struct Slot {
    uint64_t id = 0;
    uint32_t entry = 0;
  };

  size_t Home(uint64_t id) const {
    // The finalizer of MurmurHash3: every id bit reaches the low bits used as the home slot.
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdull;
    id ^= id >> 33;
    return static_cast<size_t>(id) & mask_;
  }

  void Grow() {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    mask_ = slots_.size() - 1;
    size_ = 0;
    for (const Slot& slot : old) {
      if (slot.id != 0) Insert(slot.id, slot.entry);
    }
  }

  std::vector<Slot> slots_;
  size_t mask_;
  size_t size_ = 0;
};

}  // namespace

// One shard: the entries waiting under their ids (a prediction or a label, never both: the
// second of a pair joins at once), and the insertion order for expiry and eviction.
//
// Entries live in a slab indexed by the id table; freed slab cells are reused. The FIFO is lazily
// cleaned: an entry that is joined or replaced leaves its FIFO item behind, and an item counts
// only while its slab cell still carries the item's tag. The FIFO is rebuilt when stale items
// outnumber live ones, so its size stays within about twice the number of live entries.
struct LabelJoiner::Shard {
  // One cache line, aligned so that a prefetch brings in all of it. A prediction's scores are in
  // the shard's score slab, `score_stride` floats per cell.
  struct alignas(64) Entry {
    uint64_t id = 0;
    int64_t timestamp_ms = 0;
    uint64_t tag = 0;          // 0 while the cell is free
    uint32_t version = 0;      // predictions only
    int32_t cls = 0;           // predicted class of a prediction, true class of a label
    uint32_t score_count = 0;  // predictions only
    bool is_label = false;
  };
  struct FifoItem {
    uint32_t entry;
    uint64_t tag;
    int64_t arrival_nanos;
  };

  Shard(size_t capacity, absl::Duration ttl, size_t lag_buckets)
      : capacity(capacity), ttl_nanos(absl::ToInt64Nanoseconds(ttl)) {
    stats.lag_buckets.assign(lag_buckets, 0);
  }

  // Brings the table slot of `id` into the cache.
  void PrefetchSlot(uint64_t id) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { table.Prefetch(id); }

  // Brings the entry of `id` and its scores into the cache (its table slot should be cached by
  // now).
  void PrefetchEntry(uint64_t id) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const uint32_t e = table.Find(id);
    if (e == IdTable::kNone) return;
    PrefetchLine(&entries[e]);
    if (score_stride == 0) return;
    const float* first = &scores[e * score_stride];
    PrefetchLine(first);
    PrefetchLine(first + score_stride - 1);
  }

  // Joins `p` with its waiting label, or stores it (replacing a waiting prediction of its id).
  void AddLocked(const PendingPrediction& p, int64_t now_nanos, Joined& joined)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const uint32_t e = table.Find(p.id);
    if (e != IdTable::kNone && entries[e].is_label) {
      const double lag = LagSeconds(p.timestamp_ms, entries[e].timestamp_ms);
      joined.Add(JoinedPair{p.id, p.version, p.predicted, p.timestamp_ms, entries[e].cls, lag},
                 p.scores);
      RecordJoinLocked(lag);
      Forget(e);
      return;
    }

    const Entry entry{p.id,
                      p.timestamp_ms,
                      0,
                      p.version,
                      p.predicted,
                      static_cast<uint32_t>(p.scores.size()),
                      /*is_label=*/false};
    uint32_t cell = e;
    if (e != IdTable::kNone) {
      ++stats.duplicate_predictions;
      ReplaceLocked(e, entry, now_nanos);
    } else {
      ++stats.pending_predictions;
      cell = PutLocked(entry, now_nanos);
    }
    if (!p.scores.empty()) StoreScoresLocked(cell, p.scores);
  }

  // Joins `l` with its waiting prediction, or stores it (replacing a waiting label of its id).
  void AddLocked(const PendingLabel& l, int64_t now_nanos, Joined& joined)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const uint32_t e = table.Find(l.id);
    if (e != IdTable::kNone && !entries[e].is_label) {
      const Entry& p = entries[e];
      const double lag = LagSeconds(p.timestamp_ms, l.timestamp_ms);
      const float* stored = scores.data() + static_cast<size_t>(e) * score_stride;
      joined.Add(JoinedPair{l.id, p.version, p.cls, p.timestamp_ms, l.actual, lag},
                 {stored, p.score_count});
      RecordJoinLocked(lag);
      Forget(e);
      return;
    }

    const Entry entry{l.id, l.timestamp_ms, 0, 0, l.actual, 0, /*is_label=*/true};
    if (e != IdTable::kNone) {
      ++stats.duplicate_labels;
      ReplaceLocked(e, entry, now_nanos);
    } else {
      ++stats.pending_labels;
      PutLocked(entry, now_nanos);
    }
  }

  // Copies a prediction's scores into the slab cell of entry `e`, widening every cell first when
  // the prediction has more classes than the cells hold (once per new class count).
  void StoreScoresLocked(uint32_t e, std::span<const float> values)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (values.size() > score_stride) {
      const size_t wider = values.size();
      std::vector<float> widened(entries.size() * wider);
      for (size_t cell = 0; cell < entries.size(); ++cell) {
        std::copy_n(scores.begin() + static_cast<std::ptrdiff_t>(cell * score_stride), score_stride,
                    widened.begin() + static_cast<std::ptrdiff_t>(cell * wider));
      }
      scores.swap(widened);
      score_stride = wider;
    }
    std::copy(values.begin(), values.end(),
              scores.begin() + static_cast<std::ptrdiff_t>(e * score_stride));
  }

  // Drops entries that arrived more than the TTL before `now`.
  void ExpireLocked(int64_t now_nanos) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    while (!fifo.empty() && fifo.front().arrival_nanos < now_nanos - ttl_nanos) {
      if (Live(fifo.front())) {
        if (entries[fifo.front().entry].is_label) {
          ++stats.expired_labels;
        } else {
          ++stats.expired_predictions;
        }
        Forget(fifo.front().entry);
      }
      fifo.pop_front();
    }
  }

  // Stores a new entry, evicting the oldest first when the shard is full. Returns its cell.
  uint32_t PutLocked(const Entry& entry, int64_t now_nanos) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    while (live >= capacity && !fifo.empty()) {
      if (Live(fifo.front())) {
        ++stats.evicted;
        Forget(fifo.front().entry);
      }
      fifo.pop_front();
    }

    uint32_t e;
    if (!free_cells.empty()) {
      e = free_cells.back();
      free_cells.pop_back();
    } else {
      e = static_cast<uint32_t>(entries.size());
      entries.emplace_back();
      scores.resize(entries.size() * score_stride);
    }
    table.Insert(entry.id, e);
    ++live;
    ReplaceLocked(e, entry, now_nanos);
    return e;
  }

  // Puts `entry` in cell `e` with a new tag and queues it for expiry.
  void ReplaceLocked(uint32_t e, const Entry& entry, int64_t now_nanos)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    entries[e] = entry;
    entries[e].tag = ++next_tag;
    fifo.push_back(FifoItem{e, entries[e].tag, now_nanos});
    if (fifo.size() > 2 * live + 64) CompactLocked();
  }

  void RecordJoinLocked(double lag_seconds) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    ++stats.joined;
    const std::vector<double>& bounds = LabelJoiner::LagBucketBounds();
    size_t b = std::lower_bound(bounds.begin(), bounds.end(), lag_seconds) - bounds.begin();
    ++stats.lag_buckets[b];
    stats.lag_sum_seconds += lag_seconds;
    ++stats.lag_count;
  }

  bool Live(const FifoItem& item) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return entries[item.entry].tag == item.tag;
  }

  // Removes the live entry in cell `e`.
  void Forget(uint32_t e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    Entry& entry = entries[e];
    if (entry.is_label) {
      --stats.pending_labels;
    } else {
      --stats.pending_predictions;
    }
    table.Erase(entry.id);
    entry = Entry{};
    free_cells.push_back(e);
    --live;
  }

  void CompactLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::deque<FifoItem> kept;
    for (const FifoItem& item : fifo) {
      if (Live(item)) kept.push_back(item);
    }
    fifo.swap(kept);
  }

  // Set at construction.
  const size_t capacity;
  const int64_t ttl_nanos;

  absl::Mutex mu;
  IdTable table ABSL_GUARDED_BY(mu);
  std::vector<Entry> entries ABSL_GUARDED_BY(mu);
  // score_stride floats per cell of `entries`.
  std::vector<float> scores ABSL_GUARDED_BY(mu);
  size_t score_stride ABSL_GUARDED_BY(mu) = 0;
  std::vector<uint32_t> free_cells ABSL_GUARDED_BY(mu);
  size_t live ABSL_GUARDED_BY(mu) = 0;
  std::deque<FifoItem> fifo ABSL_GUARDED_BY(mu);
  uint64_t next_tag ABSL_GUARDED_BY(mu) = 0;
  JoinStats stats ABSL_GUARDED_BY(mu);
};

namespace {

// Adds a batch of predictions or labels, grouped by shard. Three passes over the shards, each
// locking a shard once: the first drops expired entries and prefetches the table slots of every
// item, the second (slots now cached) prefetches their entries, the third adds them. The cache
// misses of the whole batch thus overlap instead of following one another. A prefetch made stale
// by another thread between passes only costs a miss.
template <typename Shards, typename Item>
void AddByShard(Shards& shards, std::span<const Item> items, int64_t now_nanos, Joined& joined) {
  ShardOrder order = GroupByShard(items.size(), static_cast<int>(shards.size()),
                                  [&](size_t i) { return items[i].id; });
  auto for_each_shard = [&](auto visit) {
    for (size_t s = 0; s < shards.size(); ++s) {
      if (order.begin[s] == order.begin[s + 1]) continue;
      auto& shard = *shards[s];
      absl::MutexLock lock(&shard.mu);
      visit(shard, order.begin[s], order.begin[s + 1]);
    }
  };
  for_each_shard([&](auto& shard, uint32_t begin, uint32_t end) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    shard.ExpireLocked(now_nanos);
    for (uint32_t k = begin; k < end; ++k) shard.PrefetchSlot(items[order.items[k]].id);
  });
  for_each_shard([&](auto& shard, uint32_t begin, uint32_t end) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    for (uint32_t k = begin; k < end; ++k) shard.PrefetchEntry(items[order.items[k]].id);
  });
  for_each_shard([&](auto& shard, uint32_t begin, uint32_t end) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    for (uint32_t k = begin; k < end; ++k) {
      // Id 0 means "no id" and marks empty table slots: such items are ignored.
      if (items[order.items[k]].id != 0) shard.AddLocked(items[order.items[k]], now_nanos, joined);
    }
  });
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

void LabelJoiner::AddPredictions(std::span<const PendingPrediction> predictions, absl::Time now,
                                 Joined& joined) {
  AddByShard(shards_, predictions, absl::ToUnixNanos(now), joined);
}

void LabelJoiner::AddLabels(std::span<const PendingLabel> labels, absl::Time now, Joined& joined) {
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
