// Label join cost: labels arriving in batches of 256 against a table holding about
// 1,000,000 pending predictions (ids in random order, so lookups miss the cache as they do in
// production). Reports the time per label as `per_label`
// (seconds with an SI prefix: "95n" is 95 ns).
//
//   label_join_bench --benchmark_filter=BM_JoinLabels

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "benchmark/benchmark.h"
#include "core/label_joiner.h"

namespace modelwatch::core {
namespace {

constexpr int64_t kPending = 1'000'000;
constexpr size_t kBatch = 256;
// Predictions are topped up after this many labels (outside the timed region).
constexpr size_t kRefillEvery = 64 * kBatch;

const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);

// Predictions for ids[from..to) (modulo the size), each with `scores` (which must outlive them).
std::vector<PendingPrediction> Predictions(const std::vector<uint64_t>& ids, size_t from, size_t to,
                                           std::span<const float> scores) {
  std::vector<PendingPrediction> out;
  out.reserve(to - from);
  for (size_t i = from; i < to; ++i) {
    const uint64_t id = ids[i % ids.size()];
    out.push_back(
        PendingPrediction{id, 0, static_cast<int32_t>(id % 2), 1'700'000'000'000, scores});
  }
  return out;
}

void BM_JoinLabels(benchmark::State& state) {
  const int classes = static_cast<int>(state.range(0));
  const std::vector<float> scores(static_cast<size_t>(classes), 1.0f / std::max(classes, 1));
  JoinSpec spec;
  spec.capacity = 4 * kPending;  // headroom so uneven shards never evict
  LabelJoiner joiner(spec);

  // Ids are a random permutation; labels come in a different random order.
  std::mt19937_64 rng(42);
  std::vector<uint64_t> ids(static_cast<size_t>(kPending));
  for (uint64_t& id : ids) id = rng() | 1;
  Joined joined;
  {
    std::vector<PendingPrediction> all = Predictions(ids, 0, ids.size(), scores);
    for (size_t at = 0; at < all.size(); at += 4096) {
      size_t n = std::min<size_t>(4096, all.size() - at);
      joiner.AddPredictions(std::span(all).subspan(at, n), kNow, joined);
    }
  }
  std::vector<uint64_t> order = ids;
  std::shuffle(order.begin(), order.end(), rng);

  std::vector<PendingLabel> labels(kBatch);
  size_t next = 0;
  size_t since_refill = 0;
  uint64_t total_labels = 0;
  for (auto _ : state) {
    for (size_t i = 0; i < kBatch; ++i) {
      labels[i] = PendingLabel{order[(next + i) % order.size()], 0, 1'700'000'060'000};
    }
    joined.Clear();
    joiner.AddLabels(labels, kNow, joined);
    benchmark::DoNotOptimize(joined.pairs.data());
    total_labels += kBatch;
    since_refill += kBatch;

    // Put the joined predictions back so the table stays near kPending entries.
    if (since_refill >= kRefillEvery) {
      state.PauseTiming();
      std::vector<PendingPrediction> refill =
          Predictions(order, next + kBatch - since_refill, next + kBatch, scores);
      joiner.AddPredictions(refill, kNow, joined);
      since_refill = 0;
      state.ResumeTiming();
    }
    next += kBatch;
  }
  // Seconds per label, printed with an SI prefix (for example "95n" for 95 ns).
  state.counters["per_label"] = benchmark::Counter(
      static_cast<double>(total_labels), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["pending"] = static_cast<double>(joiner.Stats().pending_predictions);
  state.SetItemsProcessed(static_cast<int64_t>(total_labels));
}
BENCHMARK(BM_JoinLabels)->Arg(0)->Arg(4)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace modelwatch::core

BENCHMARK_MAIN();
