// What drift costs. Per event, through Registry::Ingest with batches of 1,000 labelled
// predictions of a 10-class model, each with 10 scores and 20 features, the same stream in all
// three:
//   BM_IngestWithoutDrift         a model that declares the features but has no drift section,
//                                 so it keeps no distribution histograms (the baseline);
//   BM_IngestDriftHistograms      + a drift section (a fixed reference, no detectors): the score
//                                 (20 bins per class), confidence and feature (20 bins each)
//                                 histograms;
//   BM_IngestDriftDetectors       + Page-Hinkley and ADWIN on both streams and DDM on errors,
//                                 fed once per batch.
// `per_event` is seconds per event (SI prefix: "35n" is 35 ns); the drift cost per event is the
// difference to the baseline in the same run.
// At scrape time, BM_DriftComputeAt100Models computes every statistic of every signal in each of
// the 3 default windows for 100 such models against fixed references.
//
//   drift_update_bench --benchmark_min_time=1

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "core/drift_monitor.h"
#include "core/registry.h"

namespace modelwatch::core {
namespace {

constexpr int kClasses = 10;
constexpr int kScoreBins = 20;
constexpr int kFeatures = 20;
constexpr int kFeatureBins = 20;
constexpr size_t kBatch = 1000;
const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);

// The bench model: 10 classes, 20 features of 20 bins, and drift as asked.
ModelSpec Spec(bool histograms, bool detectors) {
  ModelSpec spec;
  spec.name = "bench";
  for (int c = 0; c < kClasses; ++c) spec.classes.push_back("class" + std::to_string(c));
  spec.score_bins = kScoreBins;
  for (int f = 0; f < kFeatures; ++f) {
    FeatureSpec feature{"f" + std::to_string(f), {}};
    for (int e = 1; e < kFeatureBins; ++e) feature.edges.push_back(e * 0.05);
    spec.features.push_back(std::move(feature));
  }
  if (histograms) {
    spec.drift.reference = DriftSpec::Reference::kFixed;
    spec.drift.fixed = std::make_shared<const DriftReference>();
  }
  if (detectors) {
    spec.drift.page_hinkley_error = PageHinkleyOptions{};
    spec.drift.page_hinkley_confidence = PageHinkleyOptions{};
    spec.drift.adwin_error = AdwinOptions{};
    spec.drift.adwin_confidence = AdwinOptions{};
    spec.drift.ddm = DdmOptions{};
  }
  return spec;
}

// One batch as columns, with views into them.
struct Batch {
  std::vector<uint32_t> predicted;
  std::vector<int32_t> labels;
  std::vector<float> scores;
  std::vector<std::string> feature_names;
  std::vector<std::vector<float>> feature_values;
  std::vector<FeatureColumnView> features;
  GroupView view;

  explicit Batch(uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
    for (size_t i = 0; i < kBatch; ++i) {
      predicted.push_back(static_cast<uint32_t>(rng() % kClasses));
      labels.push_back(static_cast<int32_t>(rng() % kClasses));
      float total = 0;
      std::vector<float> row(kClasses);
      for (float& s : row) total += (s = uniform(rng));
      for (float s : row) scores.push_back(s / total);
    }
    for (int f = 0; f < kFeatures; ++f) {
      feature_names.push_back("f" + std::to_string(f));
      feature_values.emplace_back();
      for (size_t i = 0; i < kBatch; ++i) feature_values.back().push_back(uniform(rng));
    }
    for (int f = 0; f < kFeatures; ++f) {
      features.push_back(FeatureColumnView{feature_names[f], feature_values[f]});
    }
    view.model = "bench";
    view.predicted = predicted;
    view.inline_labels = labels;
    view.scores = scores;
    view.features = features;
  }
};

void IngestLoop(benchmark::State& state, bool histograms, bool detectors) {
  Registry registry({Spec(histograms, detectors)}, Registry::Options{});
  const Batch batch(7);
  int64_t events = 0;
  for (auto _ : state) {
    IngestTally tally;
    registry.Ingest(batch.view, 0, kNow, tally);
    if (tally.accepted_predictions != kBatch) {
      state.SkipWithError("events were rejected");
      return;
    }
    events += static_cast<int64_t>(kBatch);
  }
  state.counters["per_event"] = benchmark::Counter(
      static_cast<double>(events), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.SetItemsProcessed(events);
}

void BM_IngestWithoutDrift(benchmark::State& state) { IngestLoop(state, false, false); }
void BM_IngestDriftHistograms(benchmark::State& state) { IngestLoop(state, true, false); }
void BM_IngestDriftDetectors(benchmark::State& state) { IngestLoop(state, true, true); }
BENCHMARK(BM_IngestWithoutDrift);
BENCHMARK(BM_IngestDriftHistograms);
BENCHMARK(BM_IngestDriftDetectors);

// 100 models with data in every window, each with a fixed reference of all its signals.
void BM_DriftComputeAt100Models(benchmark::State& state) {
  constexpr int kModels = 100;
  ModelSpec spec = Spec(true, false);
  std::vector<std::unique_ptr<Registry>> registries;
  std::vector<std::unique_ptr<DriftMonitor>> monitors;
  std::vector<const ModelVersion*> versions;
  const Batch batch(11);
  for (int m = 0; m < kModels; ++m) {
    registries.push_back(
        std::make_unique<Registry>(std::vector<ModelSpec>{spec}, Registry::Options{}));
    IngestTally tally;
    registries.back()->Ingest(batch.view, 0, kNow, tally);
    const Model& model = *registries.back()->Models().front();
    const ModelVersion* version = model.Versions().front();
    ModelSpec with_reference = spec;
    with_reference.drift.reference = DriftSpec::Reference::kFixed;
    with_reference.drift.fixed = std::make_shared<const DriftReference>(
        ReadSignals(spec, model.layout(), spec.classes, version->counters.Cumulative()));
    monitors.push_back(std::make_unique<DriftMonitor>(with_reference, "bench", "default"));
    versions.push_back(version);
  }

  size_t samples = 0;
  for (auto _ : state) {
    samples = 0;
    for (int m = 0; m < kModels; ++m) {
      samples += monitors[m]->Compute(versions[m]->counters, spec.classes, kNow).size();
    }
    benchmark::DoNotOptimize(samples);
  }
  state.counters["series"] = static_cast<double>(samples);
}
BENCHMARK(BM_DriftComputeAt100Models)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace modelwatch::core

BENCHMARK_MAIN();
