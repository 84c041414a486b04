// What sliding windows cost the per-event path: the update of one labelled prediction (see
// core_update_bench) into WindowedCounters with the default three windows (5m, 1h, 24h) and
// with none (cumulative only), in the same run. Two clocks: the wall clock, where a shard folds
// its active bucket once per 15s; and a simulated one that moves one second per batch, so a
// shard folds every 15 batches (3840 events), far more often than in production.
//
// Run: window_update_bench --benchmark_min_time=0.5

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "bench/labelled_update_workload.h"

namespace modelwatch::bench {
namespace {

std::vector<core::WindowSpec> Windows(bool windowed) {
  return windowed ? core::DefaultWindows() : std::vector<core::WindowSpec>{};
}

template <bool kWindowed>
void BM_WallClock(benchmark::State& state) {
  static core::WindowedCounters* const counters =
      new core::WindowedCounters(TenClassLayout(), Windows(kWindowed));
  const LabelledBatch batch = LabelledBatch::Make(state.thread_index() + 1);
  int64_t events = 0;

  for (auto _ : state) {
    WriteBatch(*counters, absl::Now(), batch);
    events += kBatch;
  }
  CountEvents(state, events);
}
BENCHMARK(BM_WallClock<true>)->Name("BM_WallClock/windows")->Threads(1)->Threads(2);
BENCHMARK(BM_WallClock<false>)->Name("BM_WallClock/no_windows")->Threads(1)->Threads(2);

template <bool kWindowed>
void BM_SecondPerBatch(benchmark::State& state) {
  // A fresh object per run: the simulated clocks of earlier runs are ahead of this one's.
  core::WindowedCounters* counters = nullptr;
  static core::WindowedCounters* shared = nullptr;
  if (state.thread_index() == 0) {
    delete shared;
    shared = new core::WindowedCounters(TenClassLayout(), Windows(kWindowed));
  }
  const LabelledBatch batch = LabelledBatch::Make(state.thread_index() + 1);
  absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  int64_t events = 0;

  for (auto _ : state) {
    if (counters == nullptr) counters = shared;
    WriteBatch(*counters, now, batch);
    now += absl::Seconds(1);
    events += kBatch;
  }
  CountEvents(state, events);
}
BENCHMARK(BM_SecondPerBatch<true>)->Name("BM_SecondPerBatch/windows")->Threads(1)->Threads(2);
BENCHMARK(BM_SecondPerBatch<false>)->Name("BM_SecondPerBatch/no_windows")->Threads(1)->Threads(2);

}  // namespace
}  // namespace modelwatch::bench

int main(int argc, char** argv) {
  using Ratio = modelwatch::bench::RatioReporter::Ratio;
  std::vector<Ratio> ratios;
  for (const char* clock : {"BM_WallClock", "BM_SecondPerBatch"}) {
    for (const char* threads : {"1", "2"}) {
      const std::string suffix = std::string("/threads:") + threads;
      ratios.push_back({std::string(clock) + ": 3 windows / no windows, threads " + threads,
                        std::string(clock) + "/windows" + suffix,
                        std::string(clock) + "/no_windows" + suffix});
    }
  }
  return modelwatch::bench::RunWithRatios(argc, argv, std::move(ratios));
}
