#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace modelwatch::core {

// The distributions a model's live traffic is compared with: one histogram per signal, keyed by
// the signal's name as exposed in the `signal` label:
//   predicted_class   the predicted classes (categorical, one bin per class name)
//   label             the true classes of evaluated predictions (categorical)
//   confidence        the top score (continuous, the model's score_bins equal-width bins on [0, 1])
//   score:<class>     the score of one class (continuous, same bins)
//   feature:<name>    one numeric input (continuous, bins from the feature's edges)
//
// A reference comes from a file (written by tools/drift_reference.py from training data), from
// the live counters at the moment a capture freezes (see DriftMonitor), or from a state file a
// capture left behind. The file format is JSON:
//
//   {"format": "modelwatch.drift_reference.v1",
//    "signals": {
//      "predicted_class": {"categories": ["legit", "fraud"], "counts": [900, 100]},
//      "confidence":      {"edges": [0.5], "counts": [300, 700]},
//      "feature:amount":  {"edges": [0, 10, 100, 1000], "counts": [1, 50, 400, 500, 49]}}}
//
// `edges` are the ascending inner edges of a continuous signal: K - 1 edges for K bins, a value v
// falling in the first bin whose edge exceeds v (the last bin when none does), as FeatureSpec
// edges. Counts are finite and non-negative (fractional counts are allowed: weighted data).
//
// Plain values; not thread-safe to mutate, safe to share once built (DriftSpec holds a
// shared_ptr<const DriftReference>).

// One signal's histogram.
struct SignalHistogram {
  // Categorical signals: the category of each bin. Empty for continuous signals.
  std::vector<std::string> categories;
  // Continuous signals: the inner edges (counts.size() - 1 of them). Empty for categorical
  // signals, and for a continuous signal of one bin.
  std::vector<double> edges;
  std::vector<double> counts;

  bool categorical() const { return !categories.empty(); }
  double Total() const;
};

struct DriftReference {
  // By signal name, in name order (so serialization is deterministic).
  std::map<std::string, SignalHistogram> signals;
};

// The `format` value of the file.
inline constexpr absl::string_view kDriftReferenceFormat = "modelwatch.drift_reference.v1";

// Parses the JSON text above. Errors (InvalidArgument) name the line and column for a syntax
// error, or the signal and field for a bad value: an unknown format, a categorical signal
// name with edges or a continuous one with categories, counts not matching the bins, a count
// negative or not finite, edges not strictly ascending, duplicate categories. Cost linear in
// the text; config and startup time only.
absl::StatusOr<DriftReference> ParseDriftReference(absl::string_view json);

// The JSON text of a reference; ParseDriftReference() of it gives the reference back exactly
// (doubles are written with enough digits to round-trip).
std::string SerializeDriftReference(const DriftReference& reference);

// Reads and parses a file; errors name the path (NotFound, PermissionDenied, ... for I/O, with
// the code that matches errno; InvalidArgument for the content).
absl::StatusOr<DriftReference> LoadDriftReferenceFile(const std::string& path);

// Writes a reference to `path` atomically (a temporary file in the same directory, then a
// rename), creating missing parent directories. Errors name the path.
absl::Status SaveDriftReferenceFile(const DriftReference& reference, const std::string& path);

// Whether a signal name is categorical (predicted_class, label) or continuous (confidence,
// score:<class>, feature:<name>); InvalidArgument for a name of neither form.
absl::StatusOr<bool> IsCategoricalSignal(absl::string_view signal);

// The bin of value `v` for ascending inner edges: the number of edges <= v (std::upper_bound's
// index). A binary search whose steps are conditional moves rather than branches, so random
// values cost no branch mispredictions: log2(edges.size()) dependent steps of a few cycles
// (about 15 ns for 19 edges). NaN falls in bin 0.
inline int EdgeBin(const std::vector<double>& edges, double v) {
  const double* e = edges.data();
  size_t n = edges.size();
  if (n == 0) return 0;
  while (n > 1) {
    const size_t half = n / 2;
    e = e[half] <= v ? e + half : e;
    n -= half;
  }
  return static_cast<int>(e - edges.data()) + (*e <= v ? 1 : 0);
}

// The positions of a continuous signal's bins for the Wasserstein distance. Score signals
// (confidence, score:<class>) with K bins: the bin midpoints (b + 0.5) / K. Feature signals with
// inner edges e_0 < ... < e_{m-1}: the midpoint of each inner bin, and for the two open bins the
// outer edge moved out by half the width of the neighbouring inner bin (e_0 - (e_1 - e_0) / 2 and
// e_{m-1} + (e_{m-1} - e_{m-2}) / 2); with a single edge, e_0 - 0.5 and e_0 + 0.5; with none, {0}.
std::vector<double> SignalBinCenters(absl::string_view signal, const SignalHistogram& histogram);

// The label of bin `bin` in modelwatch_signal_histogram_total: the category of a categorical
// signal; the bin's upper edge for a continuous one, "+Inf" for the last bin. Edges are written
// in the shortest form that reads back as the same double.
std::string SignalBinLabel(const SignalHistogram& histogram, size_t bin);

}  // namespace modelwatch::core
