// Cost of the drift statistics at scrape time: every statistic of core/drift_stats.h for 100
// models, each with one 10-class prediction histogram, 10 score histograms and 20 feature
// histograms of 20 bins, against a reference of the same shape. Reported in ms per full pass.
// Also the per-value cost of the change detectors of core/change_detectors.h.

#include <cstdint>
#include <random>
#include <vector>

#include "benchmark/benchmark.h"
#include "core/change_detectors.h"
#include "core/drift_stats.h"

namespace modelwatch::core {
namespace {

constexpr int kModels = 100;
constexpr int kClasses = 10;
constexpr int kScoreHistograms = 10;
constexpr int kFeatureHistograms = 20;
constexpr int kBins = 20;

// One histogram pair as the aggregation core holds it: integer counts, plus bin centers for the
// numeric ones (class histograms are categorical and have none).
struct HistogramPair {
  std::vector<uint64_t> reference;
  std::vector<uint64_t> current;
  std::vector<double> centers;
};

std::vector<HistogramPair> MakeFleet() {
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<uint64_t> count(0, 5000);
  auto make = [&](int bins, bool numeric) {
    HistogramPair h;
    for (int i = 0; i < bins; ++i) {
      h.reference.push_back(count(rng));
      h.current.push_back(count(rng));
      if (numeric) h.centers.push_back((i + 0.5) / bins);
    }
    return h;
  };
  std::vector<HistogramPair> fleet;
  for (int m = 0; m < kModels; ++m) {
    fleet.push_back(make(kClasses, false));
    for (int s = 0; s < kScoreHistograms + kFeatureHistograms; ++s)
      fleet.push_back(make(kBins, true));
  }
  return fleet;
}

// What a scrape does: validate each pair of counts and compute every statistic.
void BM_DriftFullPass(benchmark::State& state) {
  const std::vector<HistogramPair> fleet = MakeFleet();
  for (auto _ : state) {
    for (const HistogramPair& h : fleet) {
      absl::StatusOr<BinnedDistributions> bins =
          BinnedDistributions::FromCounts(h.reference, h.current, h.centers);
      std::optional<DriftStatistics> drift = ComputeDrift(*bins);
      benchmark::DoNotOptimize(drift);
    }
  }
  state.counters["histograms"] = static_cast<double>(fleet.size());
  state.counters["histograms_per_s"] = benchmark::Counter(
      static_cast<double>(fleet.size()), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_DriftFullPass)->Unit(benchmark::kMillisecond);

// The statistics alone, on pairs validated once.
void BM_DriftFullPassStatisticsOnly(benchmark::State& state) {
  std::vector<BinnedDistributions> fleet;
  for (const HistogramPair& h : MakeFleet()) {
    fleet.push_back(*BinnedDistributions::FromCounts(h.reference, h.current, h.centers));
  }
  for (auto _ : state) {
    for (const BinnedDistributions& bins : fleet) {
      std::optional<DriftStatistics> drift = ComputeDrift(bins);
      benchmark::DoNotOptimize(drift);
    }
  }
}
BENCHMARK(BM_DriftFullPassStatisticsOnly)->Unit(benchmark::kMillisecond);

// Per-value cost of each detector on a stationary stream in [0, 1] (ADWIN's window grows to
// the whole run, so this is its steady state at about a million values).
template <typename Detector, typename Value>
void RunDetector(benchmark::State& state, Value value) {
  Detector detector = *Detector::Create();
  std::mt19937_64 rng(7);
  std::vector<double> values(4096);
  for (double& v : values) v = static_cast<double>(rng() >> 11) * 0x1.0p-53;
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(detector.Update(value(values[i++ & 4095])));
  }
  state.counters["detections"] = static_cast<double>(detector.detections());
}

void BM_AdwinUpdate(benchmark::State& state) {
  RunDetector<Adwin>(state, [](double u) { return u; });
}
BENCHMARK(BM_AdwinUpdate);

void BM_PageHinkleyUpdate(benchmark::State& state) {
  RunDetector<PageHinkley>(state, [](double u) { return 0.5 + 0.1 * (u - 0.5); });
}
BENCHMARK(BM_PageHinkleyUpdate);

void BM_DdmUpdate(benchmark::State& state) {
  RunDetector<Ddm>(state, [](double u) { return u < 0.1; });
}
BENCHMARK(BM_DdmUpdate);

}  // namespace
}  // namespace modelwatch::core

BENCHMARK_MAIN();
