// The sections that describe models: `defaults:` and `models:`.

#include <array>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "config/drift_section.h"
#include "config/sections.h"

namespace modelwatch::config {
namespace {

// Bounds that keep memory per model reasonable and catch typos.
constexpr int64_t kMaxJoinCapacity = 100'000'000;
constexpr int64_t kMaxBins = 1'000;
constexpr int64_t kMinClasses = 2;
constexpr int64_t kMaxClasses = 1'024;
constexpr size_t kMaxWindows = 16;
constexpr int64_t kMaxBucketsPerWindow = 10'000;
constexpr size_t kMaxFeatureEdges = kMaxBins - 1;

// The keys `defaults:` accepts, and those of a model entry: the same plus name, classes, features
// and drift.
constexpr std::array<absl::string_view, 5> kDefaultsKeys = {
    "windows", "join", "max_learned_classes", "calibration_bins", "score_bins"};
constexpr std::array<absl::string_view, 9> kModelKeys = {
    "name",       "classes",  "windows", "join", "max_learned_classes", "calibration_bins",
    "score_bins", "features", "drift"};

// A model name is a Prometheus-friendly identifier: [a-zA-Z_][a-zA-Z0-9_.:-]*.
bool IsModelName(absl::string_view name) {
  if (name.empty()) return false;
  if (!absl::ascii_isalpha(static_cast<unsigned char>(name[0])) && name[0] != '_') return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != ':' &&
        c != '-') {
      return false;
    }
  }
  return true;
}

// A window as read, with the field of its granularity for cross-window errors.
struct ReadWindow {
  core::WindowSpec spec;
  Field granularity;
};

// Reads one `windows` entry; nullopt after recording its errors.
std::optional<ReadWindow> ReadWindowEntry(const Field& entry, Diagnostics& diagnostics) {
  static constexpr std::array<absl::string_view, 3> kKeys = {"name", "length", "granularity"};
  const std::optional<Mapping> window = ReadMapping(entry, kKeys, diagnostics);
  if (!window.has_value()) return std::nullopt;
  const std::optional<Field> length_field = window->Find("length");
  const std::optional<Field> granularity_field = window->Find("granularity");
  if (!length_field.has_value() || !granularity_field.has_value()) {
    diagnostics.Error(entry, absl::StrCat("missing ", length_field ? "granularity" : "length",
                                          "; a window needs a length and a granularity, such "
                                          "as {length: 5m, granularity: 15s}"));
    return std::nullopt;
  }

  // The name defaults to the length as written, so `length: 5m` is the window "5m".
  std::optional<std::string> name;
  if (auto name_field = window->Find("name")) {
    name = ReadString(*name_field, diagnostics);
  } else if (length_field->node.IsScalar()) {
    name = length_field->node.Scalar();
  }
  const std::optional<absl::Duration> length = ReadDuration(*length_field, diagnostics);
  const std::optional<absl::Duration> granularity = ReadDuration(*granularity_field, diagnostics);
  if (!name || !length || !granularity) return std::nullopt;

  bool ok = true;
  if (*length <= absl::ZeroDuration()) {
    diagnostics.Error(*length_field,
                      absl::StrCat(DescribeValue(length_field->node), " must be longer than 0"));
    ok = false;
  }
  if (*granularity < absl::Seconds(1)) {
    diagnostics.Error(*granularity_field,
                      absl::StrCat(DescribeValue(granularity_field->node), " must be at least 1s"));
    ok = false;
  }
  if (!ok) return std::nullopt;

  absl::Duration remainder;
  const int64_t buckets = absl::IDivDuration(*length, *granularity, &remainder);
  if (remainder != absl::ZeroDuration()) {
    diagnostics.Error(*length_field, absl::StrCat(DescribeValue(length_field->node),
                                                  " is not a multiple of the granularity ",
                                                  DescribeValue(granularity_field->node)));
    return std::nullopt;
  }
  if (buckets > kMaxBucketsPerWindow) {
    diagnostics.Error(*granularity_field, absl::StrCat(DescribeValue(granularity_field->node),
                                                       " splits the window into ", buckets,
                                                       " buckets; at most ", kMaxBucketsPerWindow,
                                                       " are allowed, use a coarser granularity"));
    return std::nullopt;
  }
  return ReadWindow{core::WindowSpec{*name, *length, *granularity}, *granularity_field};
}

// Reads `windows:`: at least one, names unique, every granularity a multiple of the smallest.
std::optional<std::vector<core::WindowSpec>> ReadWindows(const Field& field,
                                                         Diagnostics& diagnostics) {
  const std::optional<std::vector<Field>> entries = ReadSequence(field, diagnostics);
  if (!entries.has_value()) return std::nullopt;
  if (entries->empty() || entries->size() > kMaxWindows) {
    diagnostics.Error(field, absl::StrCat("lists ", entries->size(), " windows; list 1 to ",
                                          kMaxWindows, ", or omit windows for the defaults"));
    return std::nullopt;
  }

  std::vector<ReadWindow> windows;
  std::map<std::string, size_t> index_of_name;
  bool ok = true;
  for (size_t i = 0; i < entries->size(); ++i) {
    std::optional<ReadWindow> window = ReadWindowEntry((*entries)[i], diagnostics);
    if (!window.has_value()) {
      ok = false;
      continue;
    }
    const auto [it, inserted] = index_of_name.emplace(window->spec.name, i);
    if (!inserted) {
      diagnostics.Error((*entries)[i], absl::StrCat("duplicate window name \"", window->spec.name,
                                                    "\" (also windows[", it->second,
                                                    "]); give each window a distinct name"));
      ok = false;
    }
    windows.push_back(std::move(*window));
  }
  if (!ok) return std::nullopt;

  // Buckets of every window must line up with the finest buckets.
  absl::Duration smallest = absl::InfiniteDuration();
  for (const ReadWindow& window : windows) smallest = std::min(smallest, window.spec.granularity);
  for (const ReadWindow& window : windows) {
    absl::Duration remainder;
    absl::IDivDuration(window.spec.granularity, smallest, &remainder);
    if (remainder != absl::ZeroDuration()) {
      diagnostics.Error(window.granularity,
                        absl::StrCat(DescribeValue(window.granularity.node),
                                     " is not a multiple of the smallest granularity of the "
                                     "model's windows, ",
                                     absl::FormatDuration(smallest)));
      ok = false;
    }
  }
  if (!ok) return std::nullopt;

  std::vector<core::WindowSpec> specs;
  for (ReadWindow& window : windows) specs.push_back(std::move(window.spec));
  return specs;
}

// Reads `join:` over the join spec it starts from.
void ReadJoin(const Field& field, core::JoinSpec& join, Diagnostics& diagnostics) {
  static constexpr std::array<absl::string_view, 2> kKeys = {"capacity", "ttl"};
  const std::optional<Mapping> mapping = ReadMapping(field, kKeys, diagnostics);
  if (!mapping.has_value()) return;
  if (auto capacity_field = mapping->Find("capacity")) {
    if (auto capacity = ReadInt(*capacity_field, 1, kMaxJoinCapacity, diagnostics)) {
      join.capacity = *capacity;
    }
  }
  if (auto ttl_field = mapping->Find("ttl")) {
    if (auto ttl = ReadDuration(*ttl_field, diagnostics)) {
      if (*ttl <= absl::ZeroDuration()) {
        diagnostics.Error(*ttl_field,
                          absl::StrCat(DescribeValue(ttl_field->node), " must be longer than 0"));
      } else {
        join.ttl = *ttl;
      }
    }
  }
}

// Reads an integer field into `out` when present.
void ReadIntInto(const Mapping& mapping, absl::string_view key, int64_t min, int64_t max, int& out,
                 Diagnostics& diagnostics) {
  if (auto field = mapping.Find(key)) {
    if (auto value = ReadInt(*field, min, max, diagnostics)) out = static_cast<int>(*value);
  }
}

// Reads the fields `defaults:` and a model share over `spec`.
void ReadSharedFields(const Mapping& mapping, core::ModelSpec& spec, Diagnostics& diagnostics) {
  if (auto field = mapping.Find("windows")) {
    if (auto windows = ReadWindows(*field, diagnostics)) spec.windows = std::move(*windows);
  }
  if (auto field = mapping.Find("join")) ReadJoin(*field, spec.join, diagnostics);
  ReadIntInto(mapping, "max_learned_classes", kMinClasses, kMaxClasses, spec.max_learned_classes,
              diagnostics);
  ReadIntInto(mapping, "calibration_bins", 1, kMaxBins, spec.calibration_bins, diagnostics);
  ReadIntInto(mapping, "score_bins", 1, kMaxBins, spec.score_bins, diagnostics);
}

// Reads `classes:`: 2 to 1024 distinct, non-empty names.
void ReadClasses(const Field& field, core::ModelSpec& spec, Diagnostics& diagnostics) {
  const std::optional<std::vector<Field>> entries = ReadSequence(field, diagnostics);
  if (!entries.has_value()) return;
  if (static_cast<int64_t>(entries->size()) < kMinClasses ||
      static_cast<int64_t>(entries->size()) > kMaxClasses) {
    diagnostics.Error(
        field, absl::StrCat("lists ", entries->size(), " classes; list ", kMinClasses, " to ",
                            kMaxClasses, ", or omit classes to learn them as they arrive"));
    return;
  }
  std::map<std::string, size_t> index_of_class;
  for (size_t i = 0; i < entries->size(); ++i) {
    const std::optional<std::string> name = ReadString((*entries)[i], diagnostics);
    if (!name.has_value()) continue;
    const auto [it, inserted] = index_of_class.emplace(*name, i);
    if (!inserted) {
      diagnostics.Error((*entries)[i],
                        absl::StrCat("duplicate class \"", *name, "\" (also ", field.path, "[",
                                     it->second, "]); class names must be distinct"));
      continue;
    }
    spec.classes.push_back(*name);
  }
}

// Reads one feature's `edges:`: finite, strictly ascending, at most kMaxFeatureEdges.
void ReadEdges(const Field& field, std::vector<double>& edges, Diagnostics& diagnostics) {
  const std::optional<std::vector<Field>> entries = ReadSequence(field, diagnostics);
  if (!entries.has_value()) return;
  if (entries->size() > kMaxFeatureEdges) {
    diagnostics.Error(field, absl::StrCat("lists ", entries->size(), " edges; at most ",
                                          kMaxFeatureEdges, " are allowed"));
    return;
  }
  for (const Field& entry : *entries) {
    const std::optional<double> edge = ReadFiniteNumber(entry, diagnostics);
    if (!edge.has_value()) return;
    if (!edges.empty() && *edge <= edges.back()) {
      diagnostics.Error(entry, absl::StrCat(DescribeValue(entry.node),
                                            " is not greater than the edge before it; edges must "
                                            "be strictly ascending"));
      return;
    }
    edges.push_back(*edge);
  }
}

// Reads `features:`: distinct names, each with optional edges.
void ReadFeatures(const Field& field, core::ModelSpec& spec, Diagnostics& diagnostics) {
  static constexpr std::array<absl::string_view, 2> kKeys = {"name", "edges"};
  const std::optional<std::vector<Field>> entries = ReadSequence(field, diagnostics);
  if (!entries.has_value()) return;
  std::map<std::string, size_t> index_of_feature;
  for (size_t i = 0; i < entries->size(); ++i) {
    const Field& entry = (*entries)[i];
    const std::optional<Mapping> mapping = ReadMapping(entry, kKeys, diagnostics);
    if (!mapping.has_value()) continue;
    const std::optional<Field> name_field = mapping->Find("name");
    if (!name_field.has_value()) {
      diagnostics.Error(entry, "missing name; a feature needs a name, such as {name: amount}");
      continue;
    }
    const std::optional<std::string> name = ReadString(*name_field, diagnostics);
    if (!name.has_value()) continue;
    const auto [it, inserted] = index_of_feature.emplace(*name, i);
    if (!inserted) {
      diagnostics.Error(*name_field,
                        absl::StrCat("duplicate feature \"", *name, "\" (also ", field.path, "[",
                                     it->second, "]); feature names must be distinct"));
      continue;
    }
    core::FeatureSpec feature{.name = *name, .edges = {}};
    if (auto edges_field = mapping->Find("edges")) {
      ReadEdges(*edges_field, feature.edges, diagnostics);
    }
    spec.features.push_back(std::move(feature));
  }
}

// A model as read, with the field of its name for the duplicate check.
struct ReadModelEntry {
  core::ModelSpec spec;
  Field name;
};

// Reads one `models:` entry starting from the default spec; nullopt when it has no valid name.
std::optional<ReadModelEntry> ReadModel(const Field& entry, const core::ModelSpec& defaults,
                                        Diagnostics& diagnostics) {
  const std::optional<Mapping> mapping = ReadMapping(entry, kModelKeys, diagnostics);
  if (!mapping.has_value()) return std::nullopt;

  core::ModelSpec spec = defaults;
  ReadSharedFields(*mapping, spec, diagnostics);
  const std::optional<Field> classes = mapping->Find("classes");
  if (classes.has_value()) ReadClasses(*classes, spec, diagnostics);
  if (auto learned = mapping->Find("max_learned_classes"); learned && classes) {
    diagnostics.Error(*learned,
                      "applies only to a model that learns its classes; remove it or `classes`");
  }
  if (auto features = mapping->Find("features")) ReadFeatures(*features, spec, diagnostics);
  // After classes, score_bins and features: a drift reference is checked against them.
  if (auto drift = mapping->Find("drift")) ReadDriftSection(*drift, spec, diagnostics);

  const std::optional<Field> name_field = mapping->Find("name");
  if (!name_field.has_value()) {
    diagnostics.Error(entry, "missing name; every model needs a name, such as {name: fraud}");
    return std::nullopt;
  }
  const std::optional<std::string> name = ReadString(*name_field, diagnostics);
  if (!name.has_value()) return std::nullopt;
  if (!IsModelName(*name)) {
    diagnostics.Error(*name_field, absl::StrCat(DescribeValue(name_field->node),
                                                " is not a model name; use letters, digits and "
                                                "_ . : -, starting with a letter or _"));
    return std::nullopt;
  }
  spec.name = *name;
  return ReadModelEntry{std::move(spec), *name_field};
}

}  // namespace

core::ModelSpec BuiltInModelDefaults() {
  core::ModelSpec spec;
  spec.join.capacity = 100'000;
  return spec;
}

void ParseDefaultsSection(const Field& section, ConfigDraft& draft, Diagnostics& diagnostics) {
  const std::optional<Mapping> mapping = ReadMapping(section, kDefaultsKeys, diagnostics);
  if (!mapping.has_value()) return;
  ReadSharedFields(*mapping, draft.config.registry.default_spec, diagnostics);
}

void ParseModelsSection(const Field& section, ConfigDraft& draft, Diagnostics& diagnostics) {
  const std::optional<std::vector<Field>> entries = ReadSequence(section, diagnostics);
  if (!entries.has_value()) return;
  std::map<std::string, size_t> index_of_model;
  for (size_t i = 0; i < entries->size(); ++i) {
    std::optional<ReadModelEntry> model =
        ReadModel((*entries)[i], draft.config.registry.default_spec, diagnostics);
    if (!model.has_value()) continue;
    const auto [it, inserted] = index_of_model.emplace(model->spec.name, i);
    if (!inserted) {
      diagnostics.Error(
          model->name, absl::StrCat("duplicate model name \"", model->spec.name, "\" (also models[",
                                    it->second, "]); model names must be distinct"));
      continue;
    }
    draft.config.models.push_back(std::move(model->spec));
  }

  // Declared models turn off first-sight models unless the config says otherwise. Resolved here
  // so that sections after `models` (such as alerts) see the final value.
  if (!draft.accept_unknown_models.has_value()) {
    draft.config.registry.accept_unknown_models = draft.config.models.empty();
  }
}

}  // namespace modelwatch::config
