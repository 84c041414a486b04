// What sliding windows cost the per-event path: the update of one labelled prediction (see
// core_update_bench) into WindowedCounters with the default three windows (5m, 1h, 24h) and
// with none (cumulative only), in the same run. Two clocks: the wall clock, where a shard folds
// its active bucket once per 15s; and a simulated one that moves one second per batch, so a
// shard folds every 15 batches (3840 events), far more often than in production.
//
// Run: window_update_bench --benchmark_min_time=0.5

#include <benchmark/benchmark.h>

#include <atomic>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "bench/labelled_update_workload.h"

namespace modelwatch::bench {
namespace {

std::vector<core::WindowSpec> Windows(bool windowed) {
  return windowed ? core::DefaultWindows() : std::vector<core::WindowSpec>{};
}

// One object per benchmark family: the families' clocks differ, and a shard's time must not go
// backwards.
enum class Clock { kWall, kSecondPerBatch };

template <bool kWindowed, Clock kClock>
core::WindowedCounters& Counters() {
  static core::WindowedCounters* const counters =
      new core::WindowedCounters(TenClassLayout(), Windows(kWindowed));
  return *counters;
}

template <bool kWindowed>
void BM_WallClock(benchmark::State& state) {
  UpdateLoop(state, Counters<kWindowed, Clock::kWall>(), [] { return absl::Now(); });
}
BENCHMARK(BM_WallClock<true>)->Name("BM_WallClock/windows")->Threads(1)->Threads(2);
BENCHMARK(BM_WallClock<false>)->Name("BM_WallClock/no_windows")->Threads(1)->Threads(2);

template <bool kWindowed>
void BM_SecondPerBatch(benchmark::State& state) {
  // Each run's simulated clocks start where the previous runs' ended, so time never goes
  // backwards for a shard (which would make it skip folds).
  static std::atomic<int64_t> latest_seconds{1'700'000'000};
  int64_t seconds = latest_seconds.load();
  UpdateLoop(state, Counters<kWindowed, Clock::kSecondPerBatch>(),
             [&seconds] { return absl::FromUnixSeconds(++seconds); });
  int64_t latest = latest_seconds.load();
  while (latest < seconds && !latest_seconds.compare_exchange_weak(latest, seconds)) {
  }
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
