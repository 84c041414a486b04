// What one /metrics scrape costs: 100 models of 10 classes, one version each, the default three
// windows (5m, 1h, 24h), no drift. Every model has scored predictions, inline labels, and
// predictions with ids joined by later labels, written as a steady stream leaves them: one batch
// per 15s over the last 5 minutes, per 2 minutes over the last hour and per hour over the last
// day, so every ring slot a window reads holds data (and a few ids are still pending).
//
//   BM_Scrape      Exporter::Scrape(): the registry's tick, then every series rendered from the
//                  counter snapshots and reports straight into the text (what GET /metrics
//                  does). It first checks that the text equals prometheus-cpp's serialization of
//                  Collect(), and fails otherwise;
//   BM_Collect     Exporter::Collect(): the same series as prometheus-cpp MetricFamily objects;
//   BM_Serialize   prometheus-cpp's TextSerializer on the families of one Collect(): what a
//                  scrape would add to BM_Collect if it went through prometheus-cpp.
//
// Argument `writers`: threads that ingested (each owns a counter shard a scrape sums). Time is
// CPU time per scrape; `bytes` and `series` describe the text of one scrape.
//
//   scrape_bench --benchmark_min_time=1

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "core/clock.h"
#include "core/registry.h"
#include "daemon/exporter.h"
#include "daemon/ingest_counters.h"
#include "daemon/process_tuning.h"
#include "prometheus/text_serializer.h"

namespace modelwatch::bench {
namespace {

constexpr int kModels = 100;
constexpr int kClasses = 10;
// Predictions per model per batch: the first half with inline labels, the rest with ids.
constexpr int kBatch = 16;
const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);

std::vector<core::ModelSpec> Specs() {
  std::vector<core::ModelSpec> specs;
  for (int m = 0; m < kModels; ++m) {
    core::ModelSpec spec;
    spec.name = "model" + std::to_string(m);
    for (int c = 0; c < kClasses; ++c) spec.classes.push_back("class" + std::to_string(c));
    specs.push_back(std::move(spec));
  }
  return specs;
}

// When batches arrive, ascending: every bucket of every default window gets one.
std::vector<absl::Time> BatchTimes() {
  std::vector<absl::Time> times;
  for (int i = 0; i < 20; ++i) times.push_back(kNow - i * absl::Seconds(15));
  for (int i = 0; i < 30; ++i) times.push_back(kNow - i * absl::Minutes(2));
  for (int i = 0; i < 24; ++i) times.push_back(kNow - i * absl::Hours(1));
  std::sort(times.begin(), times.end());
  times.erase(std::unique(times.begin(), times.end()), times.end());
  return times;
}

// One model's batch as columns, and the labels of the previous batch's ids.
struct Batch {
  std::vector<uint32_t> predicted;
  std::vector<int32_t> inline_labels;
  std::vector<uint64_t> ids;
  std::vector<float> scores;
  std::vector<uint32_t> labels;
  std::vector<uint64_t> label_ids;

  Batch(std::mt19937_64& rng, uint64_t first_id, uint64_t previous_first_id) {
    std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
    for (int i = 0; i < kBatch; ++i) {
      predicted.push_back(static_cast<uint32_t>(rng() % kClasses));
      const bool inline_label = i < kBatch / 2;
      inline_labels.push_back(inline_label ? static_cast<int32_t>(rng() % kClasses) : -1);
      ids.push_back(inline_label ? 0 : first_id + static_cast<uint64_t>(i));
      float total = 0;
      std::vector<float> row(kClasses);
      for (float& s : row) total += (s = uniform(rng));
      for (float s : row) scores.push_back(s / total);
      if (!inline_label && previous_first_id != 0) {
        label_ids.push_back(previous_first_id + static_cast<uint64_t>(i));
        labels.push_back(static_cast<uint32_t>(rng() % kClasses));
      }
    }
  }
};

// Feeds every model one batch per time, as one writer thread. Ids are distinct per writer.
void IngestAll(core::Registry& registry, daemon::IngestCounters& counters, int writer) {
  std::mt19937_64 rng(static_cast<uint64_t>(writer) + 1);
  const std::vector<absl::Time> times = BatchTimes();
  const std::vector<core::ModelSpec> specs = Specs();
  for (size_t t = 0; t < times.size(); ++t) {
    const int64_t ms = absl::ToUnixMillis(times[t]);
    for (int m = 0; m < kModels; ++m) {
      const uint64_t id_base = (static_cast<uint64_t>(writer) << 48) + 1;
      const uint64_t first_id = id_base + (t * kModels + m) * kBatch;
      const uint64_t previous = t == 0 ? 0 : id_base + ((t - 1) * kModels + m) * kBatch;
      const Batch batch(rng, first_id, previous);
      std::vector<int64_t> timestamps(kBatch, ms);
      std::vector<int64_t> label_timestamps(batch.labels.size(), ms);

      core::GroupView view;
      view.model = specs[m].name;
      view.predicted = batch.predicted;
      view.prediction_timestamp_ms = timestamps;
      view.prediction_ids = batch.ids;
      view.scores = batch.scores;
      view.inline_labels = batch.inline_labels;
      view.labels = batch.labels;
      view.label_ids = batch.label_ids;
      view.label_timestamp_ms = label_timestamps;
      core::IngestTally tally;
      registry.Ingest(view, 0, times[t], tally);
      counters.AddBatch(daemon::Rpc::kStream);
      counters.AddAccepted(view.model, tally.accepted_predictions, tally.accepted_labels);
    }
  }
}

// The registry, counters and exporter of one writer count, built once per process.
struct Fleet {
  core::ManualClock clock{kNow};
  core::Registry registry{Specs(), core::Registry::Options{}};
  daemon::IngestCounters counters;
  daemon::Exporter exporter{registry, counters, clock, daemon::ExporterInfo{"bench", "", "", ""}};

  explicit Fleet(int writers) {
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w) {
      threads.emplace_back([this, w] { IngestAll(registry, counters, w); });
    }
    for (std::thread& t : threads) t.join();
  }
};

// Built on first use (ingesting takes a moment) and kept for the process.
Fleet& FleetOf(int writers) {
  if (writers == 4) {
    static Fleet* const four = new Fleet(4);
    return *four;
  }
  static Fleet* const one = new Fleet(1);
  return *one;
}

void Describe(benchmark::State& state, const std::string& text) {
  state.counters["bytes"] = static_cast<double>(text.size());
  int64_t series = 0;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line[0] != '#') ++series;
  }
  state.counters["series"] = static_cast<double>(series);
}

// prometheus-cpp's text of the families Collect() returns: what Scrape() must write.
std::string SerializedCollect(const Fleet& fleet) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, fleet.exporter.Collect(kNow));
  return std::move(out).str();
}

void BM_Scrape(benchmark::State& state) {
  Fleet& fleet = FleetOf(static_cast<int>(state.range(0)));
  if (fleet.exporter.Scrape() != SerializedCollect(fleet)) {
    state.SkipWithError("Scrape() and prometheus-cpp's text of Collect() differ");
    return;
  }
  std::string text;
  for (auto _ : state) {
    text = fleet.exporter.Scrape();
    benchmark::DoNotOptimize(text.data());
  }
  Describe(state, text);
}
BENCHMARK(BM_Scrape)->ArgName("writers")->Arg(1)->Arg(4)->Unit(benchmark::kMillisecond);

void BM_Collect(benchmark::State& state) {
  Fleet& fleet = FleetOf(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    std::vector<prometheus::MetricFamily> families = fleet.exporter.Collect(kNow);
    benchmark::DoNotOptimize(families.data());
  }
}
BENCHMARK(BM_Collect)->ArgName("writers")->Arg(1)->Arg(4)->Unit(benchmark::kMillisecond);

void BM_Serialize(benchmark::State& state) {
  const std::vector<prometheus::MetricFamily> families = FleetOf(1).exporter.Collect(kNow);
  std::string text;
  for (auto _ : state) {
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, families);
    text = std::move(out).str();
    benchmark::DoNotOptimize(text.data());
  }
  Describe(state, text);
}
BENCHMARK(BM_Serialize)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace modelwatch::bench

// The process settings modelwatchd runs with (no mutex deadlock graph, large buffers kept in the
// heap), so a scrape costs here what it costs the daemon.
int main(int argc, char** argv) {
  modelwatch::daemon::TuneProcessForIngest();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
