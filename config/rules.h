#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "config/alerts.h"

namespace modelwatch::config {

struct Config;

// What GenerateRules() writes.
struct RuleOptions {
  enum class Format {
    // A Prometheus rule file (`rule_files:` in prometheus.yml), checked by `promtool check rules`.
    kPrometheus,
    // A Kubernetes PrometheusRule object (monitoring.coreos.com/v1) for the Prometheus Operator.
    kKubernetes,
  };
  Format format = Format::kPrometheus;
  // metadata.name and metadata.namespace of the PrometheusRule; an empty namespace is omitted.
  std::string kubernetes_name = "modelwatch";
  std::string kubernetes_namespace;
};

// Generates the Prometheus rules of a config: for every window of its models, recording rules
// that compute fleet-wide quality from counts summed across replicas, and one alerting rule per
// entry of config.alerts.
//
// Recording rules, named level:metric:operation_window (the window name with characters outside
// [a-zA-Z0-9_] replaced by "_"), labelled model, version, window (and class or average):
//   model:modelwatch_confusion:sum_W            sum of modelwatch_window_confusion over replicas
//   model:modelwatch_support:sum_W              per class: evaluated predictions of that true class
//   model:modelwatch_predicted:sum_W            per class: evaluated predictions of that class
//   model:modelwatch_true_positives:sum_W       per class
//   model:modelwatch_precision:ratio_W, model:modelwatch_recall:ratio_W,
//   model:modelwatch_f1:ratio_W
//   model:modelwatch_{precision,recall,f1}_average:ratio_W{average=macro|micro|weighted}
//   model:modelwatch_accuracy:ratio_W
//   model:modelwatch_window_evaluated:sum_W, model:modelwatch_window_predictions:sum_W
//   model:modelwatch_label_coverage:ratio_W     label joins / predictions with an id, over the
//                                               window's length, from counters
//   job:modelwatch_events_rejected:ratio_W      rejected / received events, over the window's
//                                               length, from counters
// and, when some model has a drift reference:
//   model:modelwatch_drift_reference:sum        reference histograms summed across replicas
//   model:modelwatch_signal_histogram:increase_W  increase of the signal histograms over the
//                                               window's length, summed across replicas
//   model:modelwatch_drift:psi_W{signal, statistic="psi"}  the population stability index of the
//                                               two, smoothed as core/drift_stats.h smooths it
// Per class, the classes are those that occur as a true or predicted class in the window, and a
// 0/0 precision or recall is 0: the numbers equal scikit-learn's (labels=None, zero_division=0)
// on the union of the replicas' events. The windowed counts (modelwatch_window_confusion) are
// summed rather than increase() of the cumulative counters because they are exact integers over
// exactly the daemon's windows, while increase() extrapolates and misses a series' first count.
//
// Errors: none for a valid Config today; the StatusOr leaves room for the emitter failing.
// Pure function; thread-safe.
absl::StatusOr<std::string> GenerateRules(const Config& config, const RuleOptions& options);

// The PromQL expression and default annotations of one alert, as GenerateRules() writes them.
struct AlertRule {
  std::string expr;
  std::string summary;
  std::string description;
};
AlertRule BuildAlertRule(const AlertSpec& alert);

}  // namespace modelwatch::config
