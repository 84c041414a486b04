#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "core/drift_spec.h"

namespace modelwatch::core {

// One sliding window: the events of the last `length`, kept in buckets of `granularity`. A window
// covers the buckets whose epoch lies in (now_epoch - length/granularity, now_epoch], so at any
// moment it spans between `length - granularity` and `length` of time.
struct WindowSpec {
  std::string name;  // as exposed in the `window` label, for example "5m"
  absl::Duration length;
  absl::Duration granularity;
};

// The default windows: 5m in 15s buckets, 1h in 2m buckets, 24h in 1h buckets.
std::vector<WindowSpec> DefaultWindows();

// How predictions with ids wait for their labels (and labels for their predictions).
struct JoinSpec {
  // Pending predictions plus pending labels the model may hold; the oldest is evicted beyond it.
  int64_t capacity = 100'000;
  // How long a prediction waits for its label, and a label for its prediction.
  absl::Duration ttl = absl::Hours(24);
};

// A numeric input feature whose distribution is tracked. Histogram bin edges are fixed once
// known so counts stay additive across replicas (see core/drift_monitor.h).
struct FeatureSpec {
  std::string name;
  // Ascending inner edges; values below the first fall in bin 0, at or above the last in the last
  // bin, so a feature has edges.size() + 1 bins. Empty means "not known yet".
  std::vector<double> edges;
};

// Everything the core needs to know about one model. Built by config/ from YAML, or on first
// sight when the config accepts any model.
struct ModelSpec {
  std::string name;
  // The model's classes in index order. Empty means the model learns its classes as they
  // arrive, up to `max_learned_classes`.
  std::vector<std::string> classes;
  int max_learned_classes = 32;
  std::vector<WindowSpec> windows = DefaultWindows();
  JoinSpec join;
  // Equal-width bins of the top score for expected calibration error.
  int calibration_bins = 10;
  // Equal-width bins over [0, 1] for the histograms of each class score and of confidence.
  int score_bins = 20;
  std::vector<FeatureSpec> features;
  // Drift references, statistics and change detectors (off by default).
  DriftSpec drift;

  // The class count the counters are laid out for.
  int ClassCapacity() const {
    return classes.empty() ? max_learned_classes : static_cast<int>(classes.size());
  }
};

}  // namespace modelwatch::core
