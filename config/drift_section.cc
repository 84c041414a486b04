#include "config/drift_section.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <memory>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/change_detectors.h"
#include "core/drift_reference.h"

namespace modelwatch::config {
namespace {

using core::DriftSpec;

constexpr int64_t kMaxCaptureEvents = 1'000'000'000'000;
constexpr int64_t kMaxMinSamples = 1'000'000'000;

// A path as written, taken from the config file's directory when relative.
std::string ResolvePath(const std::string& path, const Diagnostics& diagnostics) {
  const std::filesystem::path p(path);
  if (p.is_absolute() || diagnostics.source() == config::kEmbeddedSource) return path;
  return (std::filesystem::path(diagnostics.source()).parent_path() / p).string();
}

// An inline YAML reference as JSON text for core::ParseDriftReference: plain scalars that read
// as numbers stay numbers, every other scalar becomes a string.
void AppendJson(const YAML::Node& node, std::string& out) {
  if (node.IsMap()) {
    out.push_back('{');
    bool first = true;
    for (const auto& entry : node) {
      if (!first) out.push_back(',');
      first = false;
      AppendJson(entry.first, out);
      out.push_back(':');
      AppendJson(entry.second, out);
    }
    out.push_back('}');
  } else if (node.IsSequence()) {
    out.push_back('[');
    for (size_t i = 0; i < node.size(); ++i) {
      if (i > 0) out.push_back(',');
      AppendJson(node[i], out);
    }
    out.push_back(']');
  } else if (node.IsScalar()) {
    double number = 0;
    if (node.Tag() != "!" && absl::SimpleAtod(node.Scalar(), &number) && std::isfinite(number)) {
      absl::StrAppend(&out, node.Scalar());
      return;
    }
    out.push_back('"');
    for (char c : node.Scalar()) {
      if (c == '"' || c == '\\') out.push_back('\\');
      if (static_cast<unsigned char>(c) < 0x20) continue;
      out.push_back(c);
    }
    out.push_back('"');
  } else {
    out.append("null");
  }
}

// The inner edges of the equal-width score bins, as core counts them.
std::vector<double> ScoreEdges(int bins) {
  std::vector<double> edges;
  for (int b = 1; b < bins; ++b) edges.push_back(static_cast<double>(b) / bins);
  return edges;
}

// Checks a fixed reference against the model and takes feature edges from it. Returns false
// after recording errors at `at`.
bool CheckReference(const core::DriftReference& reference, core::ModelSpec& spec, const Field& at,
                    Diagnostics& diagnostics) {
  bool ok = true;
  auto error = [&](const std::string& message) {
    diagnostics.Error(at, message);
    ok = false;
  };
  const std::vector<double> score_edges = ScoreEdges(spec.score_bins);
  for (const auto& [signal, histogram] : reference.signals) {
    if (signal == "predicted_class" || signal == "label") {
      if (spec.classes.empty()) continue;
      for (const std::string& category : histogram.categories) {
        if (std::find(spec.classes.begin(), spec.classes.end(), category) == spec.classes.end()) {
          error(absl::StrCat("reference signal \"", signal, "\" has category \"", category,
                             "\", which is not a class of the model"));
        }
      }
    } else if (signal == "confidence" || signal.rfind("score:", 0) == 0) {
      const std::string cls = signal.substr(signal.find(':') + 1);
      if (signal != "confidence" && !spec.classes.empty() &&
          std::find(spec.classes.begin(), spec.classes.end(), cls) == spec.classes.end()) {
        error(absl::StrCat("reference signal \"", signal, "\" names class \"", cls,
                           "\", which is not a class of the model"));
      } else if (histogram.edges != score_edges) {
        error(absl::StrCat("reference signal \"", signal, "\" has ", histogram.counts.size(),
                           " bins with edges [", absl::StrJoin(histogram.edges, ", "),
                           "]; the model's score_bins: ", spec.score_bins, " needs the edges b / ",
                           spec.score_bins, " for b = 1 .. ", spec.score_bins - 1));
      }
    } else {
      const std::string name = signal.substr(signal.find(':') + 1);
      auto feature = std::find_if(spec.features.begin(), spec.features.end(),
                                  [&](const core::FeatureSpec& f) { return f.name == name; });
      if (feature == spec.features.end()) {
        error(absl::StrCat("reference signal \"", signal, "\" names feature \"", name,
                           "\", which is not in the model's features"));
      } else if (feature->edges.empty()) {
        feature->edges = histogram.edges;
      } else if (feature->edges != histogram.edges) {
        error(absl::StrCat("reference signal \"", signal, "\" has edges [",
                           absl::StrJoin(histogram.edges, ", "), "] but the model's feature has [",
                           absl::StrJoin(feature->edges, ", "),
                           "]; bins must be the same to be compared"));
      }
    }
  }
  return ok;
}

// Reads `reference:`, one of file, signals (inline), capture_events, capture_window,
// previous_window.
void ReadReference(const Field& field, core::ModelSpec& spec, Diagnostics& diagnostics) {
  static constexpr std::array<absl::string_view, 5> kKeys = {"file", "signals", "capture_events",
                                                             "capture_window", "previous_window"};
  const std::optional<Mapping> mapping = ReadMapping(field, kKeys, diagnostics);
  if (!mapping.has_value()) return;
  std::vector<absl::string_view> given;
  for (absl::string_view key : kKeys) {
    if (mapping->Find(key)) given.push_back(key);
  }
  if (given.size() != 1) {
    diagnostics.Error(field, absl::StrCat("gives ", given.size(),
                                          " kinds of reference; give exactly one of file, "
                                          "signals, capture_events, capture_window, "
                                          "previous_window"));
    return;
  }
  DriftSpec& drift = spec.drift;

  if (auto f = mapping->Find("capture_events")) {
    if (auto n = ReadInt(*f, 1, kMaxCaptureEvents, diagnostics)) {
      drift.reference = DriftSpec::Reference::kCaptureEvents;
      drift.capture_events = *n;
    }
    return;
  }
  if (auto f = mapping->Find("capture_window")) {
    if (auto d = ReadDuration(*f, diagnostics)) {
      if (*d <= absl::ZeroDuration()) {
        diagnostics.Error(*f, absl::StrCat(DescribeValue(f->node), " must be longer than 0"));
        return;
      }
      drift.reference = DriftSpec::Reference::kCaptureWindow;
      drift.capture_window = *d;
    }
    return;
  }
  if (auto f = mapping->Find("previous_window")) {
    if (auto on = ReadBool(*f, diagnostics)) {
      if (!*on) {
        diagnostics.Error(*f, "must be true; remove `reference` for no reference");
        return;
      }
      drift.reference = DriftSpec::Reference::kPreviousWindow;
    }
    return;
  }

  // A fixed reference, from a file or inline.
  absl::StatusOr<core::DriftReference> reference;
  Field at = field;
  if (auto f = mapping->Find("file")) {
    std::optional<std::string> path = ReadString(*f, diagnostics);
    if (!path.has_value()) return;
    reference = core::LoadDriftReferenceFile(ResolvePath(*path, diagnostics));
    at = *f;
  } else {
    at = *mapping->Find("signals");
    std::string json =
        absl::StrCat("{\"format\":\"", core::kDriftReferenceFormat, "\",\"signals\":");
    AppendJson(at.node, json);
    json.push_back('}');
    reference = core::ParseDriftReference(json);
  }
  if (!reference.ok()) {
    diagnostics.Error(at, std::string(reference.status().message()));
    return;
  }
  if (!CheckReference(*reference, spec, at, diagnostics)) return;
  drift.reference = DriftSpec::Reference::kFixed;
  drift.fixed = std::make_shared<const core::DriftReference>(*std::move(reference));
}

// Reads a finite number into `out` when present, requiring it to be positive (or >= 0).
void ReadNumberInto(const Mapping& mapping, absl::string_view key, bool allow_zero, double& out,
                    Diagnostics& diagnostics) {
  auto field = mapping.Find(key);
  if (!field) return;
  std::optional<double> value = ReadFiniteNumber(*field, diagnostics);
  if (!value) return;
  if (*value < 0 || (*value == 0 && !allow_zero)) {
    diagnostics.Error(*field, absl::StrCat(DescribeValue(field->node), " must be ",
                                           allow_zero ? "0 or more" : "greater than 0"));
    return;
  }
  out = *value;
}

void ReadIntInto(const Mapping& mapping, absl::string_view key, int64_t min, int& out,
                 Diagnostics& diagnostics) {
  if (auto field = mapping.Find(key)) {
    if (auto value = ReadInt(*field, min, 1'000'000'000, diagnostics)) {
      out = static_cast<int>(*value);
    }
  }
}

// Records a detector's Create() error at its field.
template <typename Detector, typename Options>
bool Validate(const Options& options, const Field& at, Diagnostics& diagnostics) {
  absl::StatusOr<Detector> made = Detector::Create(options);
  if (made.ok()) return true;
  diagnostics.Error(at, std::string(made.status().message()));
  return false;
}

// Reads a detector's options from `mapping` over `options`.
void ReadPageHinkley(const Mapping& m, core::PageHinkleyOptions& o, Diagnostics& diagnostics) {
  ReadNumberInto(m, "delta", true, o.delta, diagnostics);
  ReadNumberInto(m, "threshold", false, o.threshold, diagnostics);
  ReadIntInto(m, "min_instances", 1, o.min_instances, diagnostics);
  ReadNumberInto(m, "alpha", false, o.alpha, diagnostics);
}

void ReadAdwin(const Mapping& m, core::AdwinOptions& o, Diagnostics& diagnostics) {
  ReadNumberInto(m, "delta", false, o.delta, diagnostics);
  ReadIntInto(m, "max_buckets", 1, o.max_buckets, diagnostics);
  ReadIntInto(m, "clock", 1, o.clock, diagnostics);
  ReadIntInto(m, "min_window_length", 1, o.min_window_length, diagnostics);
  ReadIntInto(m, "grace_period", 0, o.grace_period, diagnostics);
}

// Reads a detector that runs on both streams. Each stream starts from its own defaults; the
// options at the top apply to both, then `error:` and `confidence:` override them for one
// stream; `streams:` lists the streams it runs on (both by default).
template <typename Detector, typename Options, size_t N>
void ReadTwoStreamDetector(const Field& field, const std::array<absl::string_view, N>& option_keys,
                           void (*read)(const Mapping&, Options&, Diagnostics&),
                           const Options& error_defaults, const Options& confidence_defaults,
                           std::optional<Options>& on_error, std::optional<Options>& on_confidence,
                           Diagnostics& diagnostics) {
  std::vector<absl::string_view> keys(option_keys.begin(), option_keys.end());
  keys.insert(keys.end(), {"error", "confidence", "streams"});
  const std::optional<Mapping> mapping = ReadMapping(field, keys, diagnostics);
  if (!mapping.has_value()) return;
  // Read once here so that an error in the shared options is reported once.
  Options shared;
  read(*mapping, shared, diagnostics);

  bool run_error = true;
  bool run_confidence = true;
  if (auto streams = mapping->Find("streams")) {
    run_error = run_confidence = false;
    if (auto entries = ReadSequence(*streams, diagnostics)) {
      for (const Field& entry : *entries) {
        std::optional<std::string> name = ReadString(entry, diagnostics);
        if (name == "error") {
          run_error = true;
        } else if (name == "confidence") {
          run_confidence = true;
        } else if (name.has_value()) {
          diagnostics.Error(entry, absl::StrCat(DescribeValue(entry.node),
                                                " is not a stream; use error or confidence"));
        }
      }
    }
  }
  for (auto [stream, run, defaults, out] :
       {std::tuple{"error", run_error, &error_defaults, &on_error},
        std::tuple{"confidence", run_confidence, &confidence_defaults, &on_confidence}}) {
    if (!run) continue;
    Options options = *defaults;
    Diagnostics reported_above(diagnostics.source());
    read(*mapping, options, reported_above);
    Field at = field;
    if (auto override_field = mapping->Find(stream)) {
      at = *override_field;
      if (auto m = ReadMapping(*override_field, option_keys, diagnostics)) {
        read(*m, options, diagnostics);
      }
    }
    if (Validate<Detector>(options, at, diagnostics)) *out = options;
  }
}

void ReadDetectors(const Field& field, DriftSpec& drift, Diagnostics& diagnostics) {
  static constexpr std::array<absl::string_view, 3> kKeys = {"page_hinkley", "adwin", "ddm"};
  const std::optional<Mapping> mapping = ReadMapping(field, kKeys, diagnostics);
  if (!mapping.has_value()) return;

  if (auto f = mapping->Find("page_hinkley")) {
    static constexpr std::array<absl::string_view, 4> kPh = {"delta", "threshold", "min_instances",
                                                             "alpha"};
    // A 0/1 error stream varies far more than a confidence stream (a standard deviation of 0.3
    // at a 10% error rate, against about 0.05): with the published delta and threshold it
    // raises false alarms on stationary errors, so its defaults are twice as tolerant.
    core::PageHinkleyOptions error_defaults;
    error_defaults.delta = 0.01;
    error_defaults.threshold = 100;
    ReadTwoStreamDetector<core::PageHinkley>(*f, kPh, ReadPageHinkley, error_defaults,
                                             core::PageHinkleyOptions{}, drift.page_hinkley_error,
                                             drift.page_hinkley_confidence, diagnostics);
  }
  if (auto f = mapping->Find("adwin")) {
    static constexpr std::array<absl::string_view, 5> kAdwin = {
        "delta", "max_buckets", "clock", "min_window_length", "grace_period"};
    ReadTwoStreamDetector<core::Adwin>(*f, kAdwin, ReadAdwin, core::AdwinOptions{},
                                       core::AdwinOptions{}, drift.adwin_error,
                                       drift.adwin_confidence, diagnostics);
  }
  if (auto f = mapping->Find("ddm")) {
    static constexpr std::array<absl::string_view, 3> kDdm = {"warning", "drift", "min_samples"};
    if (auto m = ReadMapping(*f, kDdm, diagnostics)) {
      core::DdmOptions o;
      ReadNumberInto(*m, "warning", false, o.warning_threshold, diagnostics);
      ReadNumberInto(*m, "drift", false, o.drift_threshold, diagnostics);
      ReadIntInto(*m, "min_samples", 0, o.warm_start, diagnostics);
      if (Validate<core::Ddm>(o, *f, diagnostics)) drift.ddm = o;
    }
  }
}

}  // namespace

void ReadDriftSection(const Field& field, core::ModelSpec& spec, Diagnostics& diagnostics) {
  static constexpr std::array<absl::string_view, 3> kKeys = {"reference", "min_samples",
                                                             "detectors"};
  const std::optional<Mapping> mapping = ReadMapping(field, kKeys, diagnostics);
  if (!mapping.has_value()) return;

  if (auto f = mapping->Find("min_samples")) {
    if (auto n = ReadInt(*f, 1, kMaxMinSamples, diagnostics)) {
      spec.drift.min_samples = static_cast<double>(*n);
    }
  }
  if (auto f = mapping->Find("detectors")) ReadDetectors(*f, spec.drift, diagnostics);
  if (auto f = mapping->Find("reference")) ReadReference(*f, spec, diagnostics);

  // Every feature needs fixed edges once drift compares it, so counts stay additive.
  if (spec.drift.reference == DriftSpec::Reference::kNone) return;
  for (size_t i = 0; i < spec.features.size(); ++i) {
    if (spec.features[i].edges.empty()) {
      diagnostics.Error(field, absl::StrCat("feature \"", spec.features[i].name,
                                            "\" has no edges; drift needs fixed bins, so give "
                                            "it edges, such as {name: ",
                                            spec.features[i].name,
                                            ", edges: [0, 10, 100]}, or a reference file that "
                                            "has them"));
    }
  }
}

void ParseStateDirSection(const Field& section, ConfigDraft& draft, Diagnostics& diagnostics) {
  std::optional<std::string> dir = ReadString(section, diagnostics);
  if (!dir.has_value()) return;
  const std::string resolved = ResolvePath(*dir, diagnostics);
  draft.config.registry.default_spec.drift.state_dir = resolved;
  for (core::ModelSpec& spec : draft.config.models) spec.drift.state_dir = resolved;
}

}  // namespace modelwatch::config
