#include "core/windowed_counters.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/writer_slot.h"

namespace modelwatch::core {
namespace {

// The epoch tag of a bucket that has never held an epoch.
constexpr int64_t kNoEpoch = std::numeric_limits<int64_t>::min();

// How a reader waits out a fold: a few immediate retries, then yielding, then short sleeps (a
// writer descheduled mid-fold can hold the sequence odd for a whole time slice). After
// kMaxReadAttempts, about a second, the reader keeps its last read, which may then count one
// fold's bucket twice or not at all; with folds once per base granularity that needs a writer
// stalled mid-fold for that long.
constexpr int kSpinAttempts = 8;
constexpr int kYieldAttempts = 1'000;
constexpr int kMaxReadAttempts = 100'000;

void BackOff(int attempt) {
  if (attempt < kSpinAttempts) return;
  if (attempt < kYieldAttempts) {
    std::this_thread::yield();
    return;
  }
  absl::SleepFor(absl::Microseconds(10));
}

// Rounds toward negative infinity, so epochs of times before 1970 stay consistent.
int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t FloorMod(int64_t a, int64_t b) { return a - FloorDiv(a, b) * b; }

// A window's granularity in whole seconds, at least one.
int64_t GranularitySeconds(const WindowSpec& w) {
  return std::max<int64_t>(1, absl::ToInt64Seconds(w.granularity));
}

// A window's length in granularities, rounded up, at least one.
int64_t LengthEpochs(const WindowSpec& w) {
  absl::Duration rem;
  int64_t epochs = absl::IDivDuration(w.length, absl::Seconds(GranularitySeconds(w)), &rem);
  if (rem > absl::ZeroDuration()) ++epochs;
  return std::max<int64_t>(1, epochs);
}

// Adds bucket `from` into bucket `to`: counts as integers, sums as bit-cast doubles.
void AddBucket(const std::atomic<uint64_t>* from, std::atomic<uint64_t>* to, size_t num_counts,
               size_t num_sums) {
  for (size_t i = 0; i < num_counts; ++i) {
    to[i].store(to[i].load(std::memory_order_relaxed) + from[i].load(std::memory_order_relaxed),
                std::memory_order_relaxed);
  }
  for (size_t i = num_counts; i < num_counts + num_sums; ++i) {
    double sum = std::bit_cast<double>(to[i].load(std::memory_order_relaxed)) +
                 std::bit_cast<double>(from[i].load(std::memory_order_relaxed));
    to[i].store(std::bit_cast<uint64_t>(sum), std::memory_order_relaxed);
  }
}

void ZeroBucket(std::atomic<uint64_t>* bucket, size_t width) {
  for (size_t i = 0; i < width; ++i) bucket[i].store(0, std::memory_order_relaxed);
}

}  // namespace

// One writer slot's buckets: [active, cumulative, ring slots of window 0, of window 1, ...],
// each `width()` words. Written only by the thread holding the slot (or the overflow mutex).
struct alignas(64) WindowedCounters::Shard {
  Shard(size_t ring_slots, size_t width)
      : ring_epoch(std::make_unique<std::atomic<int64_t>[]>(ring_slots)),
        buckets(std::make_unique<std::atomic<uint64_t>[]>((2 + ring_slots) * width)) {
    for (size_t i = 0; i < ring_slots; ++i)
      ring_epoch[i].store(kNoEpoch, std::memory_order_relaxed);
  }

  static constexpr size_t kActive = 0;
  static constexpr size_t kCumulative = 1;
  static constexpr size_t kFirstRing = 2;

  // Odd while the owning writer folds the active bucket.
  std::atomic<uint64_t> seq{0};
  // The base epoch the active bucket counts; kNoEpoch before the first write.
  std::atomic<int64_t> active_epoch{kNoEpoch};
  // Per ring slot, the window epoch it holds; kNoEpoch when never used.
  std::unique_ptr<std::atomic<int64_t>[]> ring_epoch;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets;
};

WindowedCounters::WindowedCounters(std::shared_ptr<const BucketLayout> layout,
                                   std::vector<WindowSpec> windows, bool keep_previous)
    : layout_(std::move(layout)),
      windows_(std::move(windows)),
      base_seconds_(0),
      ring_slots_(0),
      shards_(static_cast<size_t>(WriterSlot::Capacity()) + 1) {
  // The base granularity divides every window granularity, so each base epoch falls in exactly
  // one epoch of each window. With no windows only the cumulative bucket is fed, hourly.
  for (const WindowSpec& w : windows_)
    base_seconds_ = std::gcd(base_seconds_, GranularitySeconds(w));
  if (base_seconds_ == 0) base_seconds_ = 3600;

  for (const WindowSpec& w : windows_) {
    int64_t epochs = LengthEpochs(w);
    const size_t slots = static_cast<size_t>(keep_previous ? 2 * epochs : epochs) + 1;
    rings_.push_back(Ring{GranularitySeconds(w) / base_seconds_, epochs, ring_slots_, slots});
    ring_slots_ += slots;
  }
}

WindowedCounters::~WindowedCounters() {
  for (std::atomic<Shard*>& shard : shards_) delete shard.load(std::memory_order_acquire);
}

absl::Status WindowedCounters::ValidateWindows(const std::vector<WindowSpec>& windows) {
  for (const WindowSpec& w : windows) {
    if (w.granularity < absl::Seconds(1) ||
        w.granularity % absl::Seconds(1) != absl::ZeroDuration()) {
      return absl::InvalidArgumentError(
          absl::StrCat("window ", w.name, ": granularity ", absl::FormatDuration(w.granularity),
                       " must be a whole number of seconds, at least 1s"));
    }
    if (w.length <= absl::ZeroDuration() || w.length % w.granularity != absl::ZeroDuration()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "window ", w.name, ": length ", absl::FormatDuration(w.length),
          " must be a positive multiple of its granularity ", absl::FormatDuration(w.granularity)));
    }
  }
  return absl::OkStatus();
}

WindowedCounters::BucketWriter::BucketWriter(std::atomic<uint64_t>* counts,
                                             std::atomic<uint64_t>* sums, absl::Mutex* held)
    : counts_(counts), sums_(sums), held_(held) {}

WindowedCounters::BucketWriter::BucketWriter(BucketWriter&& other) noexcept
    : counts_(other.counts_), sums_(other.sums_), held_(std::exchange(other.held_, nullptr)) {}

WindowedCounters::BucketWriter::~BucketWriter() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  if (held_ != nullptr) held_->Unlock();
}

WindowedCounters::BucketWriter WindowedCounters::Writer(absl::Time now)
    ABSL_NO_THREAD_SAFETY_ANALYSIS {
  // Threads without a slot of their own (and slots beyond those this object was built for)
  // share the overflow shard, one at a time; the BucketWriter unlocks it.
  size_t slot = static_cast<size_t>(WriterSlot::Current());
  absl::Mutex* held = nullptr;
  if (slot >= shards_.size() - 1) {
    slot = shards_.size() - 1;
    overflow_mu_.Lock();
    held = &overflow_mu_;
  }

  Shard& shard = *ShardFor(static_cast<int>(slot));
  int64_t epoch = EpochOf(now);
  if (epoch > shard.active_epoch.load(std::memory_order_relaxed)) Rotate(shard, epoch);

  std::atomic<uint64_t>* active = shard.buckets.get();
  return BucketWriter(active, active + layout_->num_counts(), held);
}

WindowedCounters::Shard* WindowedCounters::ShardFor(int slot) {
  std::atomic<Shard*>& entry = shards_[static_cast<size_t>(slot)];
  Shard* shard = entry.load(std::memory_order_acquire);
  if (shard != nullptr) return shard;

  // A slot changes hands only through WriterSlot's mutex, but a CAS keeps this safe regardless.
  auto* fresh = new Shard(ring_slots_, width());
  if (entry.compare_exchange_strong(shard, fresh, std::memory_order_acq_rel,
                                    std::memory_order_acquire)) {
    return fresh;
  }
  delete fresh;
  return shard;
}

void WindowedCounters::Rotate(Shard& shard, int64_t epoch) {
  const size_t num_counts = layout_->num_counts();
  const size_t num_sums = layout_->num_sums();
  const size_t w = width();
  std::atomic<uint64_t>* buckets = shard.buckets.get();
  std::atomic<uint64_t>* active = buckets + Shard::kActive * w;
  const int64_t old = shard.active_epoch.load(std::memory_order_relaxed);

  // Readers that overlap any of the stores below see the sequence change and retry. The release
  // fence orders the odd sequence before the fold's stores and the events written after it.
  const uint64_t seq = shard.seq.load(std::memory_order_relaxed);
  shard.seq.store(seq + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);

  if (old != kNoEpoch) {
    AddBucket(active, buckets + Shard::kCumulative * w, num_counts, num_sums);
    for (const Ring& ring : rings_) {
      // A ring slot still holding an older window epoch has slid out of the window: reuse it.
      const int64_t window_epoch = FloorDiv(old, ring.base_per_epoch);
      const size_t index = ring.first_slot + static_cast<size_t>(FloorMod(
                                                 window_epoch, static_cast<int64_t>(ring.slots)));
      std::atomic<uint64_t>* slot = buckets + (Shard::kFirstRing + index) * w;
      if (shard.ring_epoch[index].load(std::memory_order_relaxed) != window_epoch) {
        ZeroBucket(slot, w);
        shard.ring_epoch[index].store(window_epoch, std::memory_order_relaxed);
      }
      AddBucket(active, slot, num_counts, num_sums);
    }
    ZeroBucket(active, w);
  }
  shard.active_epoch.store(epoch, std::memory_order_relaxed);

  shard.seq.store(seq + 2, std::memory_order_release);
}

template <typename Select>
void WindowedCounters::ReadShard(const Shard& shard, Select select, Counts& out) const {
  const size_t num_counts = layout_->num_counts();
  const size_t w = width();
  std::vector<size_t> chosen;
  Counts read = Counts::Zero(*layout_);

  for (int attempt = 0;; ++attempt) {
    BackOff(attempt);
    const bool last_attempt = attempt + 1 >= kMaxReadAttempts;
    const uint64_t before = shard.seq.load(std::memory_order_acquire);
    if (before % 2 == 1 && !last_attempt) continue;

    chosen.clear();
    select(shard, chosen);
    std::fill(read.counts.begin(), read.counts.end(), 0);
    std::fill(read.sums.begin(), read.sums.end(), 0.0);
    for (size_t bucket : chosen) {
      const std::atomic<uint64_t>* words = shard.buckets.get() + bucket * w;
      for (size_t i = 0; i < num_counts; ++i) {
        read.counts[i] += words[i].load(std::memory_order_relaxed);
      }
      for (size_t i = 0; i < read.sums.size(); ++i) {
        read.sums[i] +=
            std::bit_cast<double>(words[num_counts + i].load(std::memory_order_relaxed));
      }
    }

    // The acquire fence pairs with the writer's release fence: if any word read above was
    // stored after a fold began, the sequence loaded below differs from `before`.
    std::atomic_thread_fence(std::memory_order_acquire);
    if (shard.seq.load(std::memory_order_relaxed) == before || last_attempt) break;
  }
  out.Add(read);
}

Counts WindowedCounters::Cumulative() const {
  Counts out = Counts::Zero(*layout_);
  auto select = [](const Shard&, std::vector<size_t>& chosen) {
    chosen.push_back(Shard::kActive);
    chosen.push_back(Shard::kCumulative);
  };
  for (const std::atomic<Shard*>& entry : shards_) {
    const Shard* shard = entry.load(std::memory_order_acquire);
    if (shard != nullptr) ReadShard(*shard, select, out);
  }
  return out;
}

Counts WindowedCounters::Window(int index, absl::Time now) const {
  Counts out = Counts::Zero(*layout_);
  if (index < 0 || static_cast<size_t>(index) >= rings_.size()) return out;

  // The window holds window epochs in (newest - ring.epochs, newest].
  const Ring& ring = rings_[static_cast<size_t>(index)];
  const int64_t newest = FloorDiv(EpochOf(now), ring.base_per_epoch);
  const int64_t oldest_excluded = newest - ring.epochs;
  auto inside = [&](int64_t window_epoch) {
    return window_epoch != kNoEpoch && window_epoch > oldest_excluded && window_epoch <= newest;
  };
  auto select = [&](const Shard& shard, std::vector<size_t>& chosen) {
    for (size_t i = ring.first_slot; i < ring.first_slot + ring.slots; ++i) {
      if (inside(shard.ring_epoch[i].load(std::memory_order_relaxed))) {
        chosen.push_back(Shard::kFirstRing + i);
      }
    }
    const int64_t active = shard.active_epoch.load(std::memory_order_relaxed);
    if (active != kNoEpoch && inside(FloorDiv(active, ring.base_per_epoch))) {
      chosen.push_back(Shard::kActive);
    }
  };

  for (const std::atomic<Shard*>& entry : shards_) {
    const Shard* shard = entry.load(std::memory_order_acquire);
    if (shard != nullptr) ReadShard(*shard, select, out);
  }
  return out;
}

size_t WindowedCounters::MemoryBytes() const {
  static_assert(sizeof(Shard) == 64, "the header's memory formula counts a 64-byte shard header");
  size_t shards = 0;
  for (const std::atomic<Shard*>& entry : shards_) {
    if (entry.load(std::memory_order_acquire) != nullptr) ++shards;
  }
  const size_t per_shard = sizeof(Shard) + ring_slots_ * sizeof(int64_t) +
                           (2 + ring_slots_) * width() * sizeof(uint64_t);
  return shards * per_shard + shards_.size() * sizeof(std::atomic<Shard*>);
}

int64_t WindowedCounters::EpochOf(absl::Time t) const {
  return FloorDiv(absl::ToUnixSeconds(t), base_seconds_);
}

}  // namespace modelwatch::core
