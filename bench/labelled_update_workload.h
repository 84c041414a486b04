#pragma once

// What core_update_bench and window_update_bench share: the per-event update of one labelled
// prediction (its predicted-class count and its confusion cell), a fixed stream of classes to
// feed it, and a console reporter that ends with the ratios between benchmarks.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "core/bucket_layout.h"
#include "core/model_spec.h"
#include "core/windowed_counters.h"

namespace modelwatch::bench {

inline constexpr int kClasses = 10;
inline constexpr int kBatch = 256;

// One batch of labelled predictions: predicted and true class per event, fixed by a seed.
struct LabelledBatch {
  std::vector<int> predicted;
  std::vector<int> actual;

  static LabelledBatch Make(uint64_t seed) {
    LabelledBatch batch;
    std::mt19937_64 rng(seed);
    for (int i = 0; i < kBatch; ++i) {
      int actual = static_cast<int>(rng() % kClasses);
      // Right about 80% of the time, like a useful model.
      int predicted = rng() % 5 == 0 ? static_cast<int>(rng() % kClasses) : actual;
      batch.actual.push_back(actual);
      batch.predicted.push_back(predicted);
    }
    return batch;
  }
};

inline std::shared_ptr<const core::BucketLayout> TenClassLayout() {
  core::ModelSpec spec;
  spec.name = "bench";
  for (int c = 0; c < kClasses; ++c) spec.classes.push_back("class" + std::to_string(c));
  return std::make_shared<const core::BucketLayout>(spec);
}

// The per-batch work of the ingest path for labelled predictions: one Writer() per batch, then
// two counter updates per event.
inline void WriteBatch(core::WindowedCounters& counters, absl::Time now,
                       const LabelledBatch& batch) {
  const core::BucketLayout& layout = counters.layout();
  core::WindowedCounters::BucketWriter writer = counters.Writer(now);
  for (int i = 0; i < kBatch; ++i) {
    writer.Add(layout.prediction(batch.predicted[i]));
    writer.Add(layout.confusion(batch.actual[i], batch.predicted[i]));
  }
}

// Reports `events` updates for this thread: items_per_second and ns_per_event, both over the
// CPU time of the benchmark's threads (summed), so ns_per_event is what one thread spends per
// event. CPU time rather than wall time because the machine running benchmarks may be shared.
inline void CountEvents(benchmark::State& state, int64_t events) {
  state.SetItemsProcessed(events);
  state.counters["ns_per_event"] =
      benchmark::Counter(static_cast<double>(events) * 1e-9,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// The benchmark loop: one batch per iteration, stamped with `next_time()`, then the counters.
template <typename NextTime>
void UpdateLoop(benchmark::State& state, core::WindowedCounters& counters, NextTime next_time) {
  const LabelledBatch batch = LabelledBatch::Make(state.thread_index() + 1);
  int64_t events = 0;
  for (auto _ : state) {
    WriteBatch(counters, next_time(), batch);
    events += kBatch;
  }
  CountEvents(state, events);
}

// The console output, plus a closing table of ns_per_event ratios between named benchmarks.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  // Each ratio prints numerator / denominator of ns_per_event, for runs identified as
  // "<function name>/threads:<n>".
  struct Ratio {
    std::string label;
    std::string numerator;
    std::string denominator;
  };
  explicit RatioReporter(std::vector<Ratio> ratios) : ratios_(std::move(ratios)) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      auto it = run.counters.find("ns_per_event");
      if (run.error_occurred || it == run.counters.end()) continue;
      ns_per_event_[run.run_name.function_name + "/threads:" + std::to_string(run.threads)] =
          it->second.value;
    }
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\nCPU ns per event per thread:\n");
    for (const auto& [name, ns] : ns_per_event_) std::printf("  %-48s %10.2f\n", name.c_str(), ns);
    std::printf("\nratios of ns per event:\n");
    for (const Ratio& r : ratios_) {
      auto num = ns_per_event_.find(r.numerator);
      auto den = ns_per_event_.find(r.denominator);
      if (num == ns_per_event_.end() || den == ns_per_event_.end()) continue;
      std::printf("  %-60s %8.2fx\n", r.label.c_str(), num->second / den->second);
    }
  }

 private:
  std::vector<Ratio> ratios_;
  std::map<std::string, double> ns_per_event_;
};

// Runs the registered benchmarks with a RatioReporter; the body of each bench's main().
inline int RunWithRatios(int argc, char** argv, std::vector<RatioReporter::Ratio> ratios) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  RatioReporter reporter(std::move(ratios));
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}

}  // namespace modelwatch::bench
