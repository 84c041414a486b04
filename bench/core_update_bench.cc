// The per-event cost of counting one labelled prediction (its predicted-class count and its
// confusion cell) through the core's WindowedCounters, against prometheus-cpp used the usual way
// (Family::Add with the labels on every event) and with cached Counter handles. Ten classes,
// batches of 256 events, one and two writer threads; the summary prints the ratios.
//
// Run: core_update_bench --benchmark_min_time=0.5

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "bench/labelled_update_workload.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/registry.h"

namespace modelwatch::bench {
namespace {

void BM_WindowedCounters(benchmark::State& state) {
  static core::WindowedCounters* const counters =
      new core::WindowedCounters(TenClassLayout(), core::DefaultWindows());
  UpdateLoop(state, *counters, [] { return absl::Now(); });
}
BENCHMARK(BM_WindowedCounters)->Threads(1)->Threads(2);

// The two counter families a prometheus-cpp exporter would keep for the same events.
struct PrometheusCounters {
  prometheus::Registry registry;
  prometheus::Family<prometheus::Counter>& predictions =
      prometheus::BuildCounter().Name("modelwatch_predictions_total").Register(registry);
  prometheus::Family<prometheus::Counter>& confusion =
      prometheus::BuildCounter().Name("modelwatch_confusion_matrix_total").Register(registry);
  std::vector<std::string> class_names;

  PrometheusCounters() {
    for (int c = 0; c < kClasses; ++c) class_names.push_back("class" + std::to_string(c));
  }

  static PrometheusCounters& Get() {
    static PrometheusCounters* const counters = new PrometheusCounters;
    return *counters;
  }
};

void BM_PrometheusFamilyAdd(benchmark::State& state) {
  PrometheusCounters& prom = PrometheusCounters::Get();
  const LabelledBatch batch = LabelledBatch::Make(state.thread_index() + 1);
  int64_t events = 0;

  for (auto _ : state) {
    for (int i = 0; i < kBatch; ++i) {
      const std::string& predicted = prom.class_names[batch.predicted[i]];
      const std::string& actual = prom.class_names[batch.actual[i]];
      prom.predictions.Add({{"model", "bench"}, {"class", predicted}}).Increment();
      prom.confusion.Add({{"model", "bench"}, {"actual", actual}, {"predicted", predicted}})
          .Increment();
    }
    events += kBatch;
  }
  CountEvents(state, events);
}
BENCHMARK(BM_PrometheusFamilyAdd)->Threads(1)->Threads(2);

void BM_PrometheusCachedCounters(benchmark::State& state) {
  PrometheusCounters& prom = PrometheusCounters::Get();
  std::vector<prometheus::Counter*> predictions;
  std::vector<prometheus::Counter*> confusion;
  for (int p = 0; p < kClasses; ++p) {
    predictions.push_back(
        &prom.predictions.Add({{"model", "bench"}, {"class", prom.class_names[p]}}));
  }
  for (int a = 0; a < kClasses; ++a) {
    for (int p = 0; p < kClasses; ++p) {
      confusion.push_back(&prom.confusion.Add({{"model", "bench"},
                                               {"actual", prom.class_names[a]},
                                               {"predicted", prom.class_names[p]}}));
    }
  }
  const LabelledBatch batch = LabelledBatch::Make(state.thread_index() + 1);
  int64_t events = 0;

  for (auto _ : state) {
    for (int i = 0; i < kBatch; ++i) {
      predictions[batch.predicted[i]]->Increment();
      confusion[batch.actual[i] * kClasses + batch.predicted[i]]->Increment();
    }
    events += kBatch;
  }
  CountEvents(state, events);
}
BENCHMARK(BM_PrometheusCachedCounters)->Threads(1)->Threads(2);

}  // namespace
}  // namespace modelwatch::bench

int main(int argc, char** argv) {
  using Ratio = modelwatch::bench::RatioReporter::Ratio;
  std::vector<Ratio> ratios;
  for (const char* threads : {"1", "2"}) {
    const std::string core = std::string("BM_WindowedCounters/threads:") + threads;
    const std::string suffix = std::string("/threads:") + threads;
    ratios.push_back({"Family::Add per event / WindowedCounters, threads " + std::string(threads),
                      "BM_PrometheusFamilyAdd" + suffix, core});
    ratios.push_back(
        {"cached prometheus::Counter / WindowedCounters, threads " + std::string(threads),
         "BM_PrometheusCachedCounters" + suffix, core});
  }
  return modelwatch::bench::RunWithRatios(argc, argv, std::move(ratios));
}
