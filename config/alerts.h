#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "config/yaml_field.h"

namespace modelwatch::config {

struct Config;
struct ConfigDraft;

// What an alert watches.
enum class AlertKind {
  // A windowed gauge of the daemon, such as modelwatch_f1_average{average="macro"} (per replica),
  // or its fleet-wide recorded counterpart (scope: fleet).
  kGauge,
  // No prediction events from the model during `range` (its server stopped sending).
  kNoEvents,
  // Rejected events as a fraction of received (accepted + rejected) events during `range`.
  kRejectRatio,
  // A drift statistic of one distribution of the model, modelwatch_drift{signal,statistic}.
  kDrift,
};

// How the current value is compared with the threshold; the alert fires while it holds.
enum class AlertOp { kLess, kLessEqual, kGreater, kGreaterEqual };

// Whether the alert judges each replica (sidecar) alone, or the model across all replicas.
enum class AlertScope {
  // On the gauges each daemon computes: fires once per replica whose value crosses.
  kReplica,
  // On the recording rules that sum counts across replicas: fires once per model and version.
  kFleet,
};

// One validated entry of the `alerts:` section. Built only by ParseAlerts(), which checks every
// reference (model, window, class, signal, statistic) against the models of the config, so an
// AlertSpec that exists can fire.
//
// YAML, one list entry:
//   - name: FraudMacroF1Low        # unique, [a-zA-Z_][a-zA-Z0-9_]*
//     model: fraud                 # a model under `models:`, or "*" for every model
//     signal: f1_average           # a windowed gauge name without the modelwatch_ prefix,
//                                  #   or no_events, reject_ratio, drift
//     average: macro               # for precision_average, recall_average, f1_average
//     class: fraud                 # for precision, recall, f1, support, brier_score
//     distribution: predicted_class  # for drift: predicted_class, label, confidence,
//                                  #   score:<class>, feature:<name>; the model needs a
//                                  #   drift reference (its `drift:` section)
//     statistic: psi               # for drift: psi, kl, js, hellinger, tv, linf, wasserstein,
//                                  #   chi2_pvalue, ks_statistic, ks_pvalue
//     window: 1h                   # a window name of the model (gauges, drift); a duration
//                                  #   to look back over (no_events, reject_ratio; default 5m)
//     scope: replica               # or fleet
//     op: "<"                      # <, <=, >, >= (not for no_events)
//     threshold: 0.8               # (not for no_events)
//     for: 10m                     # default 0s: fire on the first evaluation that crosses
//     severity: page               # default warning
//     labels: {team: risk}
//     summary: "..."               # Prometheus templates; defaults show value, threshold, model
//     description: "..."
struct AlertSpec {
  std::string name;
  // A model name from the config, or "*" for every model.
  std::string model;
  AlertKind kind = AlertKind::kGauge;
  AlertScope scope = AlertScope::kReplica;
  // For kGauge: the gauge's name without the modelwatch_ prefix, such as "f1_average".
  std::string signal;
  // For *_average gauges: macro, micro or weighted.
  std::string average;
  // For per-class gauges: the class name.
  std::string class_name;
  // For kDrift: the distribution (the `signal` label of modelwatch_drift) and statistic.
  std::string distribution;
  std::string statistic;
  // For kGauge and kDrift: the window name (the `window` label).
  std::string window;
  // For kNoEvents and kRejectRatio: how far back the counters' increase is taken. For kGauge
  // and kDrift: the window's length (of the first model that has the window, for "*").
  absl::Duration range = absl::ZeroDuration();
  // Unused by kNoEvents.
  AlertOp op = AlertOp::kLess;
  double threshold = 0;
  absl::Duration for_duration = absl::ZeroDuration();
  std::string severity = "warning";
  // Extra labels, sorted by name.
  std::vector<std::pair<std::string, std::string>> labels;
  // Prometheus annotation templates; empty means the generator's default text.
  std::string summary;
  std::string description;
};

// The gauge signals an alert may name with `signal:` and what each needs.
enum class SignalSelector { kNone, kClass, kAverage };
struct GaugeSignal {
  absl::string_view name;      // without the modelwatch_ prefix
  SignalSelector selector;     // which extra label selects one series
  bool fleet;                  // whether a fleet-wide recording rule exists for it
  absl::string_view describe;  // for default annotations, such as "F1"
};
// Every gauge signal, in a fixed order. Never empty.
const std::vector<GaugeSignal>& GaugeSignals();

// The drift statistics modelwatch_drift exposes, such as "psi".
const std::vector<absl::string_view>& DriftStatistics();

// Reads and validates the `alerts:` section (a YAML list) against the models of `config`: its
// `models`, and its `registry` for whether models arrive on first sight and which windows they
// get. Returns the alerts that are valid; every invalid one is recorded in `diagnostics` with the
// source, line and column, the field path and what is allowed, for example
//   m.yaml:14:13: alerts[1].window: "2h" is not a window of model fraud; its windows are 5m, 1h,
//   24h
// Reads only node types, scalars, marks and iterators (no yaml-cpp exception on nodes from
// YAML::Load). Not thread-safe (a Diagnostics is per parse); runs at config time only.
std::vector<AlertSpec> ParseAlerts(const Field& section, const Config& config,
                                   Diagnostics& diagnostics);

// The `alerts:` section parser of ParseConfig()'s section table: ParseAlerts() against the models
// read so far (the table runs it after `models:`), storing the result in draft.config.alerts.
// Does nothing when earlier sections had errors: the models it checks against are incomplete.
void ParseAlertsSection(const Field& section, ConfigDraft& draft, Diagnostics& diagnostics);

// "<", "<=", ">" or ">=".
absl::string_view OpSymbol(AlertOp op);

// A duration in Prometheus syntax, largest units first, such as "1h30m", "90s" -> "1m30s",
// "250ms"; "0s" for zero.
std::string PrometheusDuration(absl::Duration d);

}  // namespace modelwatch::config
