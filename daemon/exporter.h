#pragma once

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "core/clock.h"
#include "core/registry.h"
#include "daemon/ingest_counters.h"
#include "prometheus/metric_family.h"

namespace modelwatch::daemon {

// Identity of the running daemon, exposed as modelwatch_build_info and modelwatch_config_info.
struct ExporterInfo {
  std::string version;
  std::string revision;
  std::string config_source;
  std::string config_hash;
};

// Renders /metrics: every series of the README's metric reference, built at scrape time from
// snapshots of the core (WindowedCounters::Cumulative() and Window(), LabelJoiner::Stats(),
// ComputeReport(), ComputeConfidence()) and of IngestCounters. Nothing is recorded through
// prometheus-cpp: Scrape() writes the text exposition itself, the same bytes prometheus-cpp's
// TextSerializer writes for Collect(), which returns the same series as prometheus-cpp families.
//
// Windowed gauges that are undefined in a window (no evaluated predictions, no scores, no ids)
// are absent rather than zero.
//
// Thread-safe (scrapes may run concurrently; they never block ingest). Cost per scrape:
// O(models x versions x windows x (classes^2 + bins)) plus the reads of the counter shards,
// independent of the number of events. Does not own its inputs, which must outlive it.
class Exporter {
 public:
  Exporter(core::Registry& registry, const IngestCounters& counters, const core::Clock& clock,
           ExporterInfo info);

  // Ticks the registry (expiring pending joins) at the clock's now, then renders the text
  // exposition format 0.0.4.
  std::string Scrape();

  // The metric families as of `now`, without ticking.
  std::vector<prometheus::MetricFamily> Collect(absl::Time now) const;

 private:
  // Set at construction.
  core::Registry& registry_;
  const IngestCounters& counters_;
  const core::Clock& clock_;
  const ExporterInfo info_;
};

}  // namespace modelwatch::daemon
