#include "config/alerts.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "config/config.h"
#include "config/sections.h"
#include "core/model_spec.h"
#include "yaml-cpp/yaml.h"

namespace modelwatch::config {
namespace {

// The keys an alert entry may hold, in the order the documentation lists them.
constexpr absl::string_view kAlertKeys[] = {"name",     "model",        "signal",    "average",
                                            "class",    "distribution", "statistic", "window",
                                            "scope",    "op",           "threshold", "for",
                                            "severity", "labels",       "summary",   "description"};

std::string Quoted(absl::string_view s) { return absl::StrCat("\"", s, "\""); }

bool IsIdentifier(absl::string_view s) {
  if (s.empty() || !(absl::ascii_isalpha(s[0]) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return absl::ascii_isalnum(c) || c == '_'; });
}

template <typename T>
bool Contains(const std::vector<T>& values, absl::string_view value) {
  return std::find(values.begin(), values.end(), value) != values.end();
}

// "a, b, c", or "(none)".
template <typename T>
std::string ListOrNone(const std::vector<T>& values) {
  return values.empty() ? "(none)" : absl::StrJoin(values, ", ");
}

// The models an alert applies to: the named one, or for "*" every configured model plus the
// spec of models accepted on first sight.
struct Target {
  const core::ModelSpec* spec;
  std::string describe;  // "model fraud", or "models accepted on first sight"
};

std::vector<Target> Targets(const Config& config, absl::string_view model) {
  std::vector<Target> targets;
  for (const core::ModelSpec& spec : config.models) {
    if (model == "*" || spec.name == model) {
      targets.push_back({&spec, absl::StrCat("model ", spec.name)});
    }
  }
  if (model == "*" && config.registry.accept_unknown_models) {
    targets.push_back({&config.registry.default_spec, "models accepted on first sight"});
  }
  return targets;
}

std::vector<std::string> WindowNames(const core::ModelSpec& spec) {
  std::vector<std::string> names;
  for (const core::WindowSpec& w : spec.windows) names.push_back(w.name);
  return names;
}

// Reads one list entry. Each step records at most one error and returns false after it, so a
// mistake is reported once and not again as its consequences.
class EntryReader {
 public:
  EntryReader(const Mapping& entry, const Config& config, Diagnostics& diagnostics)
      : entry_(entry), config_(config), diagnostics_(diagnostics) {}

  std::optional<AlertSpec> Read();

 private:
  bool Fail(const Field& at, absl::string_view message) {
    diagnostics_.Error(at, message);
    return false;
  }
  // The field under `key`; records "missing key" with `hint` when absent.
  std::optional<Field> Require(absl::string_view key, absl::string_view hint);
  // Records an error when `key` is present: it does not apply to this alert.
  bool Forbid(absl::string_view key, absl::string_view why);
  std::optional<std::string> String(absl::string_view key);

  bool ReadIdentity(AlertSpec& alert);
  bool ReadSignal(AlertSpec& alert);
  bool ReadGauge(AlertSpec& alert);
  bool ReadDrift(AlertSpec& alert);
  bool ReadCounterKind(AlertSpec& alert);
  bool ReadWindow(AlertSpec& alert);
  bool ReadClass(const Field& at, const std::string& name);
  bool ReadComparison(AlertSpec& alert);
  bool ReadPresentation(AlertSpec& alert);

  const Mapping& entry_;
  const Config& config_;
  Diagnostics& diagnostics_;
  std::vector<Target> targets_;
};

std::optional<Field> EntryReader::Require(absl::string_view key, absl::string_view hint) {
  std::optional<Field> field = entry_.Find(key);
  if (!field.has_value()) Fail(entry_.self(), absl::StrCat("missing key \"", key, "\"; ", hint));
  return field;
}

bool EntryReader::Forbid(absl::string_view key, absl::string_view why) {
  const std::optional<Field> field = entry_.Find(key);
  return !field.has_value() || Fail(*field, absl::StrCat("does not apply here: ", why));
}

std::optional<std::string> EntryReader::String(absl::string_view key) {
  const std::optional<Field> field = entry_.Find(key);
  if (!field.has_value()) return std::nullopt;
  return ReadString(*field, diagnostics_);
}

std::optional<AlertSpec> EntryReader::Read() {
  AlertSpec alert;
  if (ReadIdentity(alert) && ReadSignal(alert) && ReadComparison(alert) &&
      ReadPresentation(alert)) {
    return alert;
  }
  return std::nullopt;
}

bool EntryReader::ReadIdentity(AlertSpec& alert) {
  const std::optional<Field> name_field =
      Require("name", "every alert needs a unique name, such as FraudMacroF1Low");
  if (!name_field.has_value()) return false;
  const std::optional<std::string> name = ReadString(*name_field, diagnostics_);
  if (!name.has_value()) return false;
  if (!IsIdentifier(*name)) {
    return Fail(*name_field, absl::StrCat(Quoted(*name),
                                          " is not a valid alert name; use letters, digits and "
                                          "underscores, not starting with a digit"));
  }
  alert.name = *name;

  const std::optional<Field> model_field =
      Require("model", "name a model under `models:`, or \"*\" for every model");
  if (!model_field.has_value()) return false;
  const std::optional<std::string> model = ReadString(*model_field, diagnostics_);
  if (!model.has_value()) return false;
  alert.model = *model;
  targets_ = Targets(config_, alert.model);
  if (alert.model != "*" && targets_.empty()) {
    std::vector<std::string> names;
    for (const core::ModelSpec& spec : config_.models) names.push_back(spec.name);
    return Fail(*model_field,
                absl::StrCat(Quoted(alert.model), " is not a model of the config; models: ",
                             ListOrNone(names), ", or \"*\" for every model"));
  }
  if (targets_.empty()) {
    return Fail(*model_field,
                "\"*\" matches no model: the config declares none and accepts none on first "
                "sight");
  }
  return true;
}

bool EntryReader::ReadSignal(AlertSpec& alert) {
  const std::optional<Field> signal_field =
      Require("signal",
              "use a windowed gauge such as f1_average, or no_events, reject_ratio, "
              "drift");
  if (!signal_field.has_value()) return false;
  const std::optional<std::string> signal = ReadString(*signal_field, diagnostics_);
  if (!signal.has_value()) return false;
  alert.signal = *signal;

  if (const std::optional<Field> scope_field = entry_.Find("scope")) {
    const std::optional<std::string> scope = ReadString(*scope_field, diagnostics_);
    if (!scope.has_value()) return false;
    if (*scope == "fleet") {
      alert.scope = AlertScope::kFleet;
    } else if (*scope != "replica") {
      return Fail(*scope_field, absl::StrCat(Quoted(*scope),
                                             " is not a scope; use replica or "
                                             "fleet"));
    }
  }

  if (alert.signal == "no_events") {
    alert.kind = AlertKind::kNoEvents;
    return ReadCounterKind(alert);
  }
  if (alert.signal == "reject_ratio") {
    alert.kind = AlertKind::kRejectRatio;
    if (alert.model != "*") {
      return Fail(*entry_.Find("model"),
                  "reject_ratio needs model \"*\": a rejected event may name no model, or one the "
                  "daemon does not know, so rejections are counted per replica, not per model");
    }
    return ReadCounterKind(alert);
  }
  if (alert.signal == "drift") {
    alert.kind = AlertKind::kDrift;
    return ReadDrift(alert);
  }
  alert.kind = AlertKind::kGauge;
  return ReadGauge(alert);
}

bool EntryReader::ReadGauge(AlertSpec& alert) {
  const auto& signals = GaugeSignals();
  const auto found = std::find_if(signals.begin(), signals.end(),
                                  [&](const GaugeSignal& g) { return g.name == alert.signal; });
  if (found == signals.end()) {
    std::vector<absl::string_view> names;
    for (const GaugeSignal& g : signals) names.push_back(g.name);
    names.insert(names.end(), {"no_events", "reject_ratio", "drift"});
    return Fail(*entry_.Find("signal"),
                absl::StrCat(Quoted(alert.signal),
                             " is not a signal; allowed: ", absl::StrJoin(names, ", ")));
  }
  if (alert.scope == AlertScope::kFleet && !found->fleet) {
    return Fail(*entry_.Find("scope"),
                absl::StrCat(alert.signal,
                             " has no fleet-wide recording rule (it cannot be computed from "
                             "counts summed across replicas); use scope: replica"));
  }
  if (!Forbid("distribution", "only for signal: drift") ||
      !Forbid("statistic", "only for signal: drift")) {
    return false;
  }

  if (found->selector == SignalSelector::kAverage) {
    const std::optional<Field> average_field =
        Require("average", absl::StrCat(alert.signal, " needs one of macro, micro, weighted"));
    if (!average_field.has_value()) return false;
    const std::optional<std::string> average = ReadString(*average_field, diagnostics_);
    if (!average.has_value()) return false;
    if (*average != "macro" && *average != "micro" && *average != "weighted") {
      return Fail(*average_field, absl::StrCat(Quoted(*average),
                                               " is not an average; use macro, micro or "
                                               "weighted"));
    }
    alert.average = *average;
  } else if (!Forbid("average", absl::StrCat(alert.signal, " has no average"))) {
    return false;
  }

  if (found->selector == SignalSelector::kClass) {
    const std::optional<Field> class_field =
        Require("class", absl::StrCat(alert.signal, " is per class; name one"));
    if (!class_field.has_value()) return false;
    const std::optional<std::string> name = ReadString(*class_field, diagnostics_);
    if (!name.has_value() || !ReadClass(*class_field, *name)) return false;
    alert.class_name = *name;
  } else if (!Forbid("class", absl::StrCat(alert.signal, " is not per class"))) {
    return false;
  }
  return ReadWindow(alert);
}

bool EntryReader::ReadClass(const Field& at, const std::string& name) {
  // A model that learns its classes accepts any name; a model with a class list must hold it.
  for (const Target& target : targets_) {
    const std::vector<std::string>& classes = target.spec->classes;
    if (classes.empty() || Contains(classes, name)) continue;
    return Fail(at, absl::StrCat(Quoted(name), " is not a class of ", target.describe,
                                 "; its classes are ", absl::StrJoin(classes, ", ")));
  }
  return true;
}

bool EntryReader::ReadWindow(AlertSpec& alert) {
  const std::optional<Field> window_field =
      Require("window", absl::StrCat("the windows of ", targets_.front().describe, " are ",
                                     absl::StrJoin(WindowNames(*targets_.front().spec), ", ")));
  if (!window_field.has_value()) return false;
  const std::optional<std::string> window = ReadString(*window_field, diagnostics_);
  if (!window.has_value()) return false;
  alert.window = *window;

  // The window must exist for every model the alert covers, or it would be silent for some.
  for (const Target& target : targets_) {
    const auto& windows = target.spec->windows;
    const auto it = std::find_if(windows.begin(), windows.end(),
                                 [&](const core::WindowSpec& w) { return w.name == *window; });
    if (it == windows.end()) {
      return Fail(*window_field, absl::StrCat(Quoted(*window), " is not a window of ",
                                              target.describe, "; its windows are ",
                                              absl::StrJoin(WindowNames(*target.spec), ", ")));
    }
    if (alert.range == absl::ZeroDuration()) alert.range = it->length;
  }
  return true;
}

bool EntryReader::ReadDrift(AlertSpec& alert) {
  if (!Forbid("average", "not for signal: drift") ||
      !Forbid("class", "not for signal: drift; use distribution: score:<class>")) {
    return false;
  }
  for (const Target& target : targets_) {
    if (target.spec->drift.reference != core::DriftSpec::Reference::kNone) continue;
    return Fail(*entry_.Find("signal"),
                absl::StrCat(target.describe,
                             " computes no drift statistics: give it a drift reference, such "
                             "as drift: {reference: {capture_events: 10000}} (docs/drift.md)"));
  }
  if (alert.scope == AlertScope::kFleet) {
    return Fail(*entry_.Find("scope"),
                "drift is computed by each daemon against its reference; use scope: replica");
  }

  const std::optional<Field> statistic_field =
      Require("statistic", absl::StrCat("one of ", absl::StrJoin(DriftStatistics(), ", ")));
  if (!statistic_field.has_value()) return false;
  const std::optional<std::string> statistic = ReadString(*statistic_field, diagnostics_);
  if (!statistic.has_value()) return false;
  if (!Contains(DriftStatistics(), *statistic)) {
    return Fail(*statistic_field,
                absl::StrCat(Quoted(*statistic), " is not a drift statistic; allowed: ",
                             absl::StrJoin(DriftStatistics(), ", ")));
  }
  alert.statistic = *statistic;

  const std::optional<Field> distribution_field = Require(
      "distribution", "one of predicted_class, label, confidence, score:<class>, feature:<name>");
  if (!distribution_field.has_value()) return false;
  const std::optional<std::string> distribution = ReadString(*distribution_field, diagnostics_);
  if (!distribution.has_value()) return false;
  alert.distribution = *distribution;
  const absl::string_view d = alert.distribution;

  if (d == "predicted_class" || d == "label" || d == "confidence") return ReadWindow(alert);
  if (absl::StartsWith(d, "score:")) {
    return ReadClass(*distribution_field, std::string(d.substr(6))) && ReadWindow(alert);
  }
  if (absl::StartsWith(d, "feature:")) {
    const absl::string_view name = d.substr(8);
    for (const Target& target : targets_) {
      std::vector<std::string> features;
      for (const core::FeatureSpec& f : target.spec->features) features.push_back(f.name);
      if (Contains(features, name)) continue;
      return Fail(*distribution_field,
                  absl::StrCat(Quoted(name), " is not a feature of ", target.describe,
                               "; its features are ", ListOrNone(features)));
    }
    return ReadWindow(alert);
  }
  return Fail(*distribution_field,
              absl::StrCat(Quoted(d),
                           " is not a distribution; use predicted_class, label, "
                           "confidence, score:<class> or feature:<name>"));
}

bool EntryReader::ReadCounterKind(AlertSpec& alert) {
  for (absl::string_view key : {"average", "class", "distribution", "statistic"}) {
    if (!Forbid(key, absl::StrCat("not for signal: ", alert.signal))) return false;
  }
  alert.range = absl::Minutes(5);
  if (const std::optional<Field> window_field = entry_.Find("window")) {
    const std::optional<absl::Duration> range = ReadDuration(*window_field, diagnostics_);
    if (!range.has_value()) return false;
    if (*range < absl::Seconds(1) || *range % absl::Milliseconds(1) != absl::ZeroDuration()) {
      return Fail(*window_field,
                  "must be at least 1s, in whole milliseconds (the look-back of the counters)");
    }
    alert.range = *range;
  }
  alert.window = PrometheusDuration(alert.range);
  return true;
}

bool EntryReader::ReadComparison(AlertSpec& alert) {
  if (alert.kind == AlertKind::kNoEvents) {
    for (absl::string_view key : {"op", "threshold"}) {
      if (!Forbid(key, "no_events fires when no prediction arrives during `window`")) return false;
    }
  } else {
    const std::optional<Field> op_field = Require("op", "one of <, <=, >, >=");
    if (!op_field.has_value()) return false;
    const std::optional<std::string> op = ReadString(*op_field, diagnostics_);
    if (!op.has_value()) return false;
    if (*op == "<") {
      alert.op = AlertOp::kLess;
    } else if (*op == "<=") {
      alert.op = AlertOp::kLessEqual;
    } else if (*op == ">") {
      alert.op = AlertOp::kGreater;
    } else if (*op == ">=") {
      alert.op = AlertOp::kGreaterEqual;
    } else {
      return Fail(*op_field, absl::StrCat(Quoted(*op),
                                          " is not a comparison; use <, <=, > or >= (quoted in "
                                          "YAML, such as op: \"<\")"));
    }
    const std::optional<Field> threshold_field = Require("threshold", "a number such as 0.8");
    if (!threshold_field.has_value()) return false;
    const std::optional<double> threshold = ReadFiniteNumber(*threshold_field, diagnostics_);
    if (!threshold.has_value()) return false;
    alert.threshold = *threshold;
  }

  if (const std::optional<Field> for_field = entry_.Find("for")) {
    const std::optional<absl::Duration> d = ReadDuration(*for_field, diagnostics_);
    if (!d.has_value()) return false;
    if (*d % absl::Milliseconds(1) != absl::ZeroDuration()) {
      return Fail(*for_field, "must be in whole milliseconds");
    }
    alert.for_duration = *d;
  }
  return true;
}

bool EntryReader::ReadPresentation(AlertSpec& alert) {
  if (entry_.Find("severity").has_value()) {
    const std::optional<std::string> severity = String("severity");
    if (!severity.has_value()) return false;
    alert.severity = *severity;
  }

  if (const std::optional<Field> labels_field = entry_.Find("labels")) {
    if (!labels_field->node.IsMap()) {
      return Fail(*labels_field,
                  "must be a mapping of label names to values, such as "
                  "{team: risk}");
    }
    for (const auto& label : labels_field->node) {
      const std::string name = label.first.IsScalar() ? label.first.Scalar() : "";
      const Field value = labels_field->Child(name, label.second);
      if (!IsIdentifier(name) || absl::StartsWith(name, "__")) {
        return Fail(Field{label.first, value.path},
                    "is not a valid label name; use letters, digits and underscores, not "
                    "starting with a digit or __");
      }
      if (name == "severity" || name == "alertname") {
        return Fail(Field{label.first, value.path},
                    absl::StrCat(name,
                                 " is set by the generator; use the alert's severity and "
                                 "name keys"));
      }
      const std::optional<std::string> text = ReadString(value, diagnostics_);
      if (!text.has_value()) return false;
      alert.labels.emplace_back(name, *text);
    }
    std::sort(alert.labels.begin(), alert.labels.end());
  }

  for (auto [key, text] :
       {std::pair{"summary", &alert.summary}, std::pair{"description", &alert.description}}) {
    const std::optional<Field> field = entry_.Find(key);
    if (!field.has_value()) continue;
    const std::optional<std::string> value = ReadString(*field, diagnostics_);
    if (!value.has_value()) return false;
    if (absl::StrContains(*value, "{{") != absl::StrContains(*value, "}}")) {
      return Fail(*field,
                  "has an unclosed template action; write {{ $value }} or "
                  "{{ $labels.model }}");
    }
    *text = *value;
  }
  return true;
}

}  // namespace

std::vector<AlertSpec> ParseAlerts(const Field& section, const Config& config,
                                   Diagnostics& diagnostics) {
  std::vector<AlertSpec> alerts;
  const std::optional<std::vector<Field>> entries = ReadSequence(section, diagnostics);
  if (!entries.has_value()) return alerts;

  std::vector<Field> names;
  for (const Field& entry_field : *entries) {
    const std::optional<Mapping> entry = ReadMapping(entry_field, kAlertKeys, diagnostics);
    if (!entry.has_value()) continue;
    std::optional<AlertSpec> alert = EntryReader(*entry, config, diagnostics).Read();
    if (!alert.has_value()) continue;

    const Field name = *entry->Find("name");
    const auto duplicate = std::find_if(alerts.begin(), alerts.end(),
                                        [&](const AlertSpec& a) { return a.name == alert->name; });
    if (duplicate != alerts.end()) {
      const YAML::Mark first = names[duplicate - alerts.begin()].node.Mark();
      diagnostics.Error(
          name, absl::StrCat(Quoted(alert->name), " is already the name of the alert at line ",
                             first.line + 1, "; alert names are unique"));
      continue;
    }
    names.push_back(name);
    alerts.push_back(*std::move(alert));
  }
  return alerts;
}

void ParseAlertsSection(const Field& section, ConfigDraft& draft, Diagnostics& diagnostics) {
  // Alerts are checked against the models; when those have errors the check would only add
  // noise, so the alerts wait until the rest of the config is valid.
  if (diagnostics.has_errors()) return;
  draft.config.alerts = ParseAlerts(section, draft.config, diagnostics);
}

const std::vector<GaugeSignal>& GaugeSignals() {
  static const auto* const kSignals = new std::vector<GaugeSignal>{
      {"accuracy", SignalSelector::kNone, true, "accuracy"},
      {"precision", SignalSelector::kClass, true, "precision"},
      {"recall", SignalSelector::kClass, true, "recall"},
      {"f1", SignalSelector::kClass, true, "F1"},
      {"support", SignalSelector::kClass, true, "support"},
      {"precision_average", SignalSelector::kAverage, true, "precision"},
      {"recall_average", SignalSelector::kAverage, true, "recall"},
      {"f1_average", SignalSelector::kAverage, true, "F1"},
      {"balanced_accuracy", SignalSelector::kNone, false, "balanced accuracy"},
      {"cohen_kappa", SignalSelector::kNone, false, "Cohen's kappa"},
      {"matthews_corrcoef", SignalSelector::kNone, false, "Matthews correlation"},
      {"log_loss", SignalSelector::kNone, false, "log loss"},
      {"brier_score", SignalSelector::kClass, false, "Brier score"},
      {"expected_calibration_error", SignalSelector::kNone, false, "expected calibration error"},
      {"mean_confidence", SignalSelector::kNone, false, "mean confidence"},
      {"label_coverage", SignalSelector::kNone, true, "label coverage"},
      {"window_predictions", SignalSelector::kNone, true, "predictions"},
      {"window_evaluated", SignalSelector::kNone, true, "evaluated predictions"},
  };
  return *kSignals;
}

const std::vector<absl::string_view>& DriftStatistics() {
  static const auto* const kStatistics = new std::vector<absl::string_view>{
      "psi",  "kl",          "js",          "hellinger",    "tv",
      "linf", "wasserstein", "chi2_pvalue", "ks_statistic", "ks_pvalue"};
  return *kStatistics;
}

absl::string_view OpSymbol(AlertOp op) {
  switch (op) {
    case AlertOp::kLess:
      return "<";
    case AlertOp::kLessEqual:
      return "<=";
    case AlertOp::kGreater:
      return ">";
    case AlertOp::kGreaterEqual:
      return ">=";
  }
  return "<";
}

std::string PrometheusDuration(absl::Duration d) {
  if (d <= absl::ZeroDuration()) return "0s";
  int64_t ms = absl::ToInt64Milliseconds(d);
  std::string text;
  constexpr std::pair<int64_t, absl::string_view> kUnits[] = {
      {86'400'000, "d"}, {3'600'000, "h"}, {60'000, "m"}, {1'000, "s"}, {1, "ms"}};
  for (const auto& [size, unit] : kUnits) {
    if (ms < size) continue;
    absl::StrAppend(&text, ms / size, unit);
    ms %= size;
  }
  return text;
}

}  // namespace modelwatch::config
