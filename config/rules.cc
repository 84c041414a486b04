#include "config/rules.h"

#include <algorithm>
#include <charconv>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "absl/strings/substitute.h"
#include "config/config.h"
#include "core/drift_stats.h"
#include "core/model_spec.h"
#include "yaml-cpp/yaml.h"

namespace modelwatch::config {
namespace {

// One rule of a group: a recording rule (`record`) or an alerting rule (`alert`).
struct Rule {
  std::string record;
  std::string alert;
  std::string expr;
  std::string for_duration;
  std::vector<std::pair<std::string, std::string>> labels;
  std::vector<std::pair<std::string, std::string>> annotations;
};

struct Group {
  std::string name;
  std::vector<Rule> rules;
};

// A PromQL string literal.
std::string PromString(absl::string_view s) {
  return absl::StrCat("\"", absl::StrReplaceAll(s, {{"\\", "\\\\"}, {"\"", "\\\""}}), "\"");
}

// `s` as an RE2 literal (for model=~"a|b").
std::string RegexLiteral(absl::string_view s) {
  std::string out;
  for (char c : s) {
    if (absl::string_view(".\\+*?()|[]{}^$").find(c) != absl::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

// A window name as it appears in a recorded metric name.
std::string NameSuffix(absl::string_view window) {
  std::string out(window);
  for (char& c : out) {
    if (!absl::ascii_isalnum(c) && c != '_') c = '_';
  }
  return out;
}

// A window that recording rules are generated for, and the models that have it.
struct RecordedWindow {
  std::string name;
  absl::Duration length;
  // Extra label matchers restricting to the models that have the window, such as
  // `, model=~"fraud|spam"`, or empty when every model has it.
  std::string model_matcher;
};

bool HasWindow(const core::ModelSpec& spec, const core::WindowSpec& window) {
  return std::any_of(spec.windows.begin(), spec.windows.end(), [&](const core::WindowSpec& w) {
    return w.name == window.name && w.length == window.length;
  });
}

std::vector<RecordedWindow> RecordedWindows(const Config& config) {
  // Every distinct (name, length) among the declared models and, when models arrive on first
  // sight, the default spec.
  std::vector<const core::ModelSpec*> specs;
  for (const core::ModelSpec& spec : config.models) specs.push_back(&spec);
  const bool first_sight = config.registry.accept_unknown_models;
  if (first_sight) specs.push_back(&config.registry.default_spec);

  std::vector<RecordedWindow> windows;
  for (const core::ModelSpec* spec : specs) {
    for (const core::WindowSpec& w : spec->windows) {
      const bool seen = std::any_of(windows.begin(), windows.end(), [&](const RecordedWindow& r) {
        return r.name == w.name && r.length == w.length;
      });
      if (seen) continue;

      std::vector<std::string> having, lacking;
      for (const core::ModelSpec& model : config.models) {
        (HasWindow(model, w) ? having : lacking).push_back(RegexLiteral(model.name));
      }
      std::string matcher;
      if (first_sight && HasWindow(config.registry.default_spec, w)) {
        if (!lacking.empty())
          matcher = absl::StrCat(", model!~\"", absl::StrJoin(lacking, "|"), "\"");
      } else if (!lacking.empty()) {
        matcher = absl::StrCat(", model=~\"", absl::StrJoin(having, "|"), "\"");
      }
      windows.push_back({w.name, w.length, matcher});
    }
  }
  return windows;
}

std::string Recorded(absl::string_view metric, absl::string_view operation,
                     absl::string_view window) {
  return absl::StrCat("model:modelwatch_", metric, ":", operation, "_", NameSuffix(window));
}

// The recording rules of one window; see GenerateRules() in rules.h.
// The expression that turns `counts` (labelled model, version, signal, bin) into the smoothed
// distribution the population stability index uses (core/drift_stats.h):
// (count / total + eps) / (1 + bins * eps) per signal.
std::string SmoothedDistribution(absl::string_view counts) {
  const std::string per_signal = "on (model, version, signal) group_left ()";
  return absl::Substitute(
      "($0 / $1 sum by (model, version, signal) ($0) + $2)\n  / $1\n"
      "(1 + $2 * count by (model, version, signal) ($0))",
      counts, per_signal, absl::StrCat(core::kDriftSmoothingEpsilon));
}

// Window-independent drift rules: the reference histograms summed across replicas (a fixed
// reference counts once per replica, which leaves its proportions unchanged).
Group FleetDriftReferenceGroup() {
  Group group{"modelwatch_fleet_drift_reference", {}};
  const std::string sum = "model:modelwatch_drift_reference:sum";
  group.rules.push_back(
      Rule{sum,
           "",
           "sum by (model, version, signal, bin) (modelwatch_drift_reference_total)",
           "",
           {},
           {}});
  group.rules.push_back(Rule{"model:modelwatch_drift_reference:smoothed_ratio",
                             "",
                             SmoothedDistribution(sum),
                             "",
                             {},
                             {}});
  return group;
}

Group FleetGroup(const RecordedWindow& w, bool drift) {
  const std::string by = "model, version, window";
  const std::string by_class = "model, version, window, class";
  const std::string selector = absl::StrCat("{window=", PromString(w.name), w.model_matcher, "}");
  const std::string range = PrometheusDuration(w.length);
  const std::string conf = Recorded("confusion", "sum", w.name);
  const std::string support = Recorded("support", "sum", w.name);
  const std::string predicted = Recorded("predicted", "sum", w.name);
  const std::string tp = Recorded("true_positives", "sum", w.name);
  const std::string occurrences = Recorded("class_occurrences", "sum", w.name);
  const std::string accuracy = Recorded("accuracy", "ratio", w.name);

  // The per-class count of one side of the confusion matrix; the other side's classes get 0,
  // so both vectors hold every class that occurs as a true or a predicted class.
  auto side = [&](absl::string_view label, absl::string_view other) {
    return absl::Substitute(
        "sum by ($0) (label_replace($1, \"class\", \"$$1\", \"$2\", \"(.*)\"))\n"
        "  or\nsum by ($0) (label_replace($1, \"class\", \"$$1\", \"$3\", \"(.*)\")) * 0",
        by_class, conf, label, other);
  };

  Group group{absl::StrCat("modelwatch_fleet_", NameSuffix(w.name)), {}};
  auto record = [&](std::string name, std::string expr,
                    std::vector<std::pair<std::string, std::string>> labels = {}) {
    group.rules.push_back(Rule{std::move(name), "", std::move(expr), "", std::move(labels), {}});
  };
  record(conf, absl::StrCat("sum by (", by, ", actual, predicted) (modelwatch_window_confusion",
                            selector, ")"));
  record(support, side("actual", "predicted"));
  record(predicted, side("predicted", "actual"));
  // The diagonal: cells whose predicted class equals the true class, found by matching each cell
  // against a vector that carries its class in both labels.
  record(tp, absl::Substitute("sum by ($0) (\n"
                              "  label_replace($1, \"class\", \"$$1\", \"actual\", \"(.*)\")\n"
                              "    and on (model, version, window, class, predicted)\n"
                              "  label_replace($2, \"predicted\", \"$$1\", \"class\", \"(.*)\")\n"
                              ")\n  or\n$2 * 0",
                              by_class, conf, support));
  record(occurrences, absl::StrCat("(", support, " + ", predicted, ") > 0"));
  // scikit-learn's zero_division=0: a class never predicted has precision 0, one never true
  // has recall 0.
  record(Recorded("precision", "ratio", w.name),
         absl::Substitute("$0 / ($1 > 0)\n  or\n$0 * 0 and $2", tp, predicted, occurrences));
  record(Recorded("recall", "ratio", w.name),
         absl::Substitute("$0 / ($1 > 0)\n  or\n$0 * 0 and $2", tp, support, occurrences));
  record(Recorded("f1", "ratio", w.name), absl::Substitute("2 * $0 / $1", tp, occurrences));
  record(accuracy, absl::Substitute("sum by ($0) ($1) / (sum by ($0) ($2) > 0)", by, tp, support));
  for (absl::string_view metric : {"precision", "recall", "f1"}) {
    const std::string per_class = Recorded(metric, "ratio", w.name);
    const std::string average = Recorded(absl::StrCat(metric, "_average"), "ratio", w.name);
    record(average, absl::Substitute("avg by ($0) ($1)", by, per_class), {{"average", "macro"}});
    record(average, accuracy, {{"average", "micro"}});
    record(
        average,
        absl::Substitute("sum by ($0) ($1 * $2) / (sum by ($0) ($2) > 0)", by, per_class, support),
        {{"average", "weighted"}});
  }
  for (absl::string_view gauge : {"window_evaluated", "window_predictions"}) {
    record(Recorded(gauge, "sum", w.name),
           absl::StrCat("sum by (", by, ") (modelwatch_", gauge, selector, ")"));
  }

  // Label coverage and rejections have no windowed counts: they come from the counters'
  // increase over the window's length.
  const std::string model_selector =
      w.model_matcher.empty() ? "" : absl::StrCat("{", w.model_matcher.substr(2), "}");
  record(Recorded("label_coverage", "ratio", w.name),
         absl::Substitute("sum by (model, version) (increase(modelwatch_label_joins_total$0[$1]))\n"
                          "  /\n(sum by (model, version) "
                          "(increase(modelwatch_predictions_with_id_total$0[$1])) > 0)",
                          model_selector, range),
         {{"window", w.name}});
  const std::string rejected =
      absl::StrCat("sum by (job) (increase(modelwatch_events_rejected_total[", range, "]))");
  const std::string accepted =
      absl::StrCat("sum by (job) (increase(modelwatch_events_accepted_total[", range, "]))");
  record(absl::StrCat("job:modelwatch_events_rejected:ratio_", NameSuffix(w.name)),
         absl::Substitute("$0\n  /\n(($0 + ($1 or $0 * 0)) > 0)", rejected, accepted),
         {{"window", w.name}});

  // Fleet drift: the population stability index of each signal's histogram, summed across
  // replicas over the window's length, against the summed reference.
  if (drift) {
    const std::string histogram = Recorded("signal_histogram", "increase", w.name);
    const std::string smoothed = Recorded("signal_histogram", "smoothed_ratio", w.name);
    const std::string reference = "model:modelwatch_drift_reference:smoothed_ratio";
    record(histogram, absl::Substitute("sum by (model, version, signal, bin) "
                                       "(increase(modelwatch_signal_histogram_total$0[$1]))",
                                       model_selector, range));
    record(smoothed, SmoothedDistribution(histogram));
    record(absl::StrCat("model:modelwatch_drift:psi_", NameSuffix(w.name)),
           absl::Substitute("sum by (model, version, signal) (\n"
                            "  ($0 - on (model, version, signal, bin) $1)\n"
                            "    * ln($0 / on (model, version, signal, bin) $1)\n)",
                            smoothed, reference),
           {{"window", w.name}, {"statistic", "psi"}});
  }
  return group;
}

// "above", "at or below", ... for annotations.
absl::string_view OpWords(AlertOp op) {
  switch (op) {
    case AlertOp::kLess:
      return "below";
    case AlertOp::kLessEqual:
      return "at or below";
    case AlertOp::kGreater:
      return "above";
    case AlertOp::kGreaterEqual:
      return "at or above";
  }
  return "";
}

const GaugeSignal& FindGauge(absl::string_view name) {
  const auto& signals = GaugeSignals();
  const auto it = std::find_if(signals.begin(), signals.end(),
                               [&](const GaugeSignal& g) { return g.name == name; });
  return it == signals.end() ? signals.front() : *it;
}

// The label matchers of the alert's series, such as `model="fraud", window="1h"`.
std::string Matchers(const AlertSpec& alert, bool with_window) {
  std::vector<std::string> matchers;
  if (alert.model != "*") matchers.push_back(absl::StrCat("model=", PromString(alert.model)));
  if (with_window) matchers.push_back(absl::StrCat("window=", PromString(alert.window)));
  if (!alert.class_name.empty()) {
    matchers.push_back(absl::StrCat("class=", PromString(alert.class_name)));
  }
  if (!alert.average.empty()) {
    matchers.push_back(absl::StrCat("average=", PromString(alert.average)));
  }
  if (alert.kind == AlertKind::kDrift) {
    matchers.push_back(absl::StrCat("signal=", PromString(alert.distribution)));
    matchers.push_back(absl::StrCat("statistic=", PromString(alert.statistic)));
  }
  return absl::StrJoin(matchers, ", ");
}

// The shortest text that reads back as exactly `threshold` (StrCat would round to 6 digits).
std::string ThresholdText(double threshold) {
  char buffer[32];
  const std::to_chars_result result = std::to_chars(buffer, buffer + sizeof(buffer), threshold);
  return std::string(buffer, result.ptr);
}

std::string NoEventsExpr(const AlertSpec& alert) {
  const std::string selector =
      absl::StrCat("modelwatch_events_accepted_total{kind=\"prediction\"",
                   alert.model == "*" ? "" : absl::StrCat(", model=", PromString(alert.model)),
                   "}[", alert.window, "]");
  std::string expr = alert.scope == AlertScope::kFleet
                         ? absl::StrCat("sum by (model) (increase(", selector, ")) == 0")
                         : absl::StrCat("increase(", selector, ") == 0");
  // A named model whose series are gone from every replica is silent too.
  if (alert.model != "*") absl::StrAppend(&expr, "\n  or\nabsent_over_time(", selector, ")");
  return expr;
}

std::string RejectRatioExpr(const AlertSpec& alert) {
  const std::string by = alert.scope == AlertScope::kFleet ? "by (job)" : "without (reason)";
  const std::string accepted_by =
      alert.scope == AlertScope::kFleet ? "by (job)" : "without (model, kind)";
  const std::string rejected =
      absl::StrCat("sum ", by, " (increase(modelwatch_events_rejected_total[", alert.window, "]))");
  const std::string accepted = absl::StrCat(
      "sum ", accepted_by, " (increase(modelwatch_events_accepted_total[", alert.window, "]))");
  // Received is accepted + rejected; a replica that rejects everything has no accepted series.
  return absl::Substitute("$0\n  /\n($0 + ($1 or $0 * 0))\n  $2 $3", rejected, accepted,
                          OpSymbol(alert.op), ThresholdText(alert.threshold));
}

}  // namespace

AlertRule BuildAlertRule(const AlertSpec& alert) {
  AlertRule rule;
  const bool fleet = alert.scope == AlertScope::kFleet;
  const std::string where = fleet ? " across all replicas"
                                  : "{{ if $labels.instance }} on {{ $labels.instance }}{{ end }}";
  const std::string value = "{{ $value | printf \"%.4g\" }}";
  const std::string threshold =
      absl::StrCat(OpSymbol(alert.op), " ", ThresholdText(alert.threshold));
  const std::string lasting =
      alert.for_duration > absl::ZeroDuration()
          ? absl::StrCat(" for at least ", PrometheusDuration(alert.for_duration))
          : "";

  std::string what;
  switch (alert.kind) {
    case AlertKind::kGauge: {
      const GaugeSignal& gauge = FindGauge(alert.signal);
      what = std::string(gauge.describe);
      if (!alert.average.empty()) what = absl::StrCat(alert.average, " ", what);
      if (!alert.class_name.empty()) absl::StrAppend(&what, " of class ", alert.class_name);
      absl::StrAppend(&what, " over ", alert.window);
      if (fleet) {
        // Counts are recorded as sums, everything else as ratios.
        const bool count = alert.signal == "support" || absl::StartsWith(alert.signal, "window_");
        const absl::string_view operation = count ? "sum" : "ratio";
        rule.expr = absl::StrCat(Recorded(alert.signal, operation, alert.window), "{",
                                 Matchers(alert, true), "} ", OpSymbol(alert.op), " ",
                                 ThresholdText(alert.threshold));
      } else {
        rule.expr = absl::StrCat("modelwatch_", alert.signal, "{", Matchers(alert, true), "} ",
                                 OpSymbol(alert.op), " ", ThresholdText(alert.threshold));
      }
      break;
    }
    case AlertKind::kDrift:
      what =
          absl::StrCat(alert.statistic, " drift of ", alert.distribution, " over ", alert.window);
      rule.expr = absl::StrCat("modelwatch_drift{", Matchers(alert, true), "} ", OpSymbol(alert.op),
                               " ", ThresholdText(alert.threshold));
      break;
    case AlertKind::kNoEvents:
      rule.expr = NoEventsExpr(alert);
      rule.summary = absl::StrCat("{{ $labels.model }}: no predictions for ", alert.window);
      rule.description = absl::StrCat(
          "Model {{ $labels.model }} received no prediction events in the last ", alert.window,
          where, lasting, ": its model server may have stopped sending.");
      return rule;
    case AlertKind::kRejectRatio:
      rule.expr = RejectRatioExpr(alert);
      rule.summary = absl::StrCat(
          "{{ $labels.job }}: {{ $value | humanizePercentage }} of events "
          "rejected over ",
          alert.window, " (threshold ", threshold, ")");
      rule.description =
          absl::StrCat("Of the events received in the last ", alert.window, where,
                       ", {{ $value | humanizePercentage }} were rejected, ", OpWords(alert.op),
                       " the threshold of ", ThresholdText(alert.threshold), lasting,
                       ". modelwatch_events_rejected_total{reason} tells why.");
      return rule;
  }

  rule.summary =
      absl::StrCat("{{ $labels.model }}: ", what, " is ", value, " (threshold ", threshold, ")");
  rule.description = absl::StrCat(
      "Model {{ $labels.model }} version {{ $labels.version }}", where, ": ", what, " is ", value,
      ", ", OpWords(alert.op), " the threshold of ", ThresholdText(alert.threshold), lasting, ".");
  return rule;
}

absl::StatusOr<std::string> GenerateRules(const Config& config, const RuleOptions& options) {
  const std::vector<AlertSpec>& alerts = config.alerts;
  std::vector<Group> groups;
  // Drift rules only when some model compares against a reference.
  bool drift = config.registry.accept_unknown_models &&
               config.registry.default_spec.drift.reference != core::DriftSpec::Reference::kNone;
  for (const core::ModelSpec& spec : config.models) {
    drift = drift || spec.drift.reference != core::DriftSpec::Reference::kNone;
  }
  if (drift) groups.push_back(FleetDriftReferenceGroup());
  for (const RecordedWindow& w : RecordedWindows(config)) groups.push_back(FleetGroup(w, drift));
  if (!alerts.empty()) {
    Group& group = groups.emplace_back(Group{"modelwatch_alerts", {}});
    for (const AlertSpec& alert : alerts) {
      const AlertRule built = BuildAlertRule(alert);
      Rule rule;
      rule.alert = alert.name;
      rule.expr = built.expr;
      if (alert.for_duration > absl::ZeroDuration()) {
        rule.for_duration = PrometheusDuration(alert.for_duration);
      }
      rule.labels.emplace_back("severity", alert.severity);
      rule.labels.insert(rule.labels.end(), alert.labels.begin(), alert.labels.end());
      rule.annotations = {
          {"summary", alert.summary.empty() ? built.summary : alert.summary},
          {"description", alert.description.empty() ? built.description : alert.description}};
      group.rules.push_back(std::move(rule));
    }
  }

  YAML::Emitter out;
  out.SetIndent(2);
  out << YAML::Comment(absl::StrCat("Generated by modelwatchctl rules from ", config.source,
                                    " (sha256 ", config.hash, "). Regenerate; do not edit."));
  out << YAML::BeginMap;
  if (options.format == RuleOptions::Format::kKubernetes) {
    out << YAML::Key << "apiVersion" << YAML::Value << "monitoring.coreos.com/v1";
    out << YAML::Key << "kind" << YAML::Value << "PrometheusRule";
    out << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "name" << YAML::Value << options.kubernetes_name;
    if (!options.kubernetes_namespace.empty()) {
      out << YAML::Key << "namespace" << YAML::Value << options.kubernetes_namespace;
    }
    out << YAML::Key << "labels" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "app.kubernetes.io/name" << YAML::Value << "modelwatch";
    out << YAML::EndMap << YAML::EndMap;
    out << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
  }
  out << YAML::Key << "groups" << YAML::Value << YAML::BeginSeq;
  for (const Group& group : groups) {
    out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << group.name;
    out << YAML::Key << "rules" << YAML::Value << YAML::BeginSeq;
    for (const Rule& rule : group.rules) {
      out << YAML::BeginMap;
      if (!rule.record.empty()) out << YAML::Key << "record" << YAML::Value << rule.record;
      if (!rule.alert.empty()) out << YAML::Key << "alert" << YAML::Value << rule.alert;
      out << YAML::Key << "expr" << YAML::Value;
      if (rule.expr.find('\n') != std::string::npos) out << YAML::Literal;
      out << rule.expr;
      if (!rule.for_duration.empty()) {
        out << YAML::Key << "for" << YAML::Value << rule.for_duration;
      }
      for (const auto& [key, map] :
           {std::pair{"labels", &rule.labels}, std::pair{"annotations", &rule.annotations}}) {
        if (map->empty()) continue;
        out << YAML::Key << key << YAML::Value << YAML::BeginMap;
        for (const auto& [name, value] : *map) {
          out << YAML::Key << name << YAML::Value << YAML::DoubleQuoted << value;
        }
        out << YAML::EndMap;
      }
      out << YAML::EndMap;
    }
    out << YAML::EndSeq << YAML::EndMap;
  }
  out << YAML::EndSeq;
  if (options.format == RuleOptions::Format::kKubernetes) out << YAML::EndMap;
  out << YAML::EndMap;
  if (!out.good()) {
    return absl::InternalError(absl::StrCat("cannot write the rule file: ", out.GetLastError()));
  }
  return absl::StrCat(out.c_str(), "\n");
}

}  // namespace modelwatch::config
