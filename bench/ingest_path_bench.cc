// The daemon's ingest path without the network: what one batch of the load test costs the server
// after gRPC has handed it over. With the load test's figures this splits a server's CPU per
// event into decoding (BM_DecodeBatch), modelwatch's own work (BM_IngestBatch: validation, model
// and class resolution, counters, evaluation) and the rest (gRPC and the kernel's socket work).
//
// The batches are those of bench/loadgen (bench/load_batch.h): one group of 10 classes with
// scores, ids and inline labels, so every event is evaluated on arrival. The registry runs on
// the embedded default config and a clock that stands still, so no window rotates during a run.
// Argument: events per batch.

#include <memory>
#include <random>
#include <string>

#include "bench/load_batch.h"
#include "benchmark/benchmark.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/registry.h"
#include "daemon/ingest_counters.h"
#include "daemon/ingest_service.h"
#include "modelwatch/v1/ingest.pb.h"

namespace modelwatch::bench {
namespace {

// Reports per-event rates: items/s, and the time of one event.
void CountEvents(benchmark::State& state, int events_per_batch) {
  const double events = static_cast<double>(state.iterations()) * events_per_batch;
  state.SetItemsProcessed(static_cast<int64_t>(events));
  state.counters["per_event"] =
      benchmark::Counter(events, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

v1::Batch TestBatch(int events, bool scores) {
  std::mt19937_64 rng(1);
  LoadBatchShape shape;
  shape.events = events;
  shape.scores = scores;
  v1::Batch batch = BuildLoadBatch(shape, rng);
  // Distinct non-zero ids, as the load generator sends.
  auto* ids = batch.mutable_groups(0)->mutable_predictions()->mutable_ids();
  for (int i = 0; i < ids->size(); ++i) ids->Set(i, i + 1);
  return batch;
}

// Protobuf decoding into a reused message, as a stream handler does.
void BM_DecodeBatch(benchmark::State& state) {
  const int events = static_cast<int>(state.range(0));
  const std::string wire = TestBatch(events, true).SerializeAsString();
  v1::Batch batch;
  for (auto _ : state) {
    if (!batch.ParseFromString(wire)) {
      state.SkipWithError("the batch does not parse");
      return;
    }
    benchmark::DoNotOptimize(batch);
  }
  CountEvents(state, events);
}
BENCHMARK(BM_DecodeBatch)->Arg(1)->Arg(256)->Arg(1024);

// IngestService::IngestBatch on a decoded batch: everything modelwatchd does per batch after
// decoding. Range(1) = 0 leaves the scores out.
void BM_IngestBatch(benchmark::State& state) {
  const int events = static_cast<int>(state.range(0));
  const v1::Batch batch = TestBatch(events, state.range(1) != 0);

  absl::StatusOr<config::Config> config =
      config::ParseConfig(config::EmbeddedDefaultConfig(), "<embedded default>");
  if (!config.ok()) {
    state.SkipWithError(std::string(config.status().message()).c_str());
    return;
  }
  core::Registry registry(config->models, config->registry);
  const core::ManualClock clock;
  daemon::IngestCounters counters;
  daemon::IngestService service(registry, clock, counters, size_t{16} << 20);

  core::IngestTally tally;
  for (auto _ : state) service.IngestBatch(batch, daemon::Rpc::kStream, tally);
  if (tally.accepted_predictions != static_cast<uint64_t>(state.iterations()) * events) {
    state.SkipWithError("events were rejected");
    return;
  }
  CountEvents(state, events);
}
BENCHMARK(BM_IngestBatch)
    ->ArgNames({"events", "scores"})
    ->Args({1, 1})
    ->Args({256, 1})
    ->Args({1024, 1})
    ->Args({256, 0});

}  // namespace
}  // namespace modelwatch::bench

BENCHMARK_MAIN();
