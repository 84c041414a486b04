#include "config/config.h"

#include <array>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "config/alerts.h"
#include "config/drift_section.h"
#include "config/sections.h"
#include "config/sha256.h"
#include "config/yaml_field.h"

namespace modelwatch::config {
namespace {

// Top-level sections in dependency order: `defaults` before `models`, since each model starts
// from the defaults. A new section is one row here and a parser in its own file.
constexpr std::array<Section, 7> kSections = {{
    {"server", ParseServerSection},
    {"accept_unknown_models", ParseAcceptUnknownModels},
    {"limits", ParseLimitsSection},
    {"defaults", ParseDefaultsSection},
    {"models", ParseModelsSection},
    {"alerts", ParseAlertsSection},
    {"state_dir", ParseStateDirSection},
}};

constexpr std::string_view kDefaultConfig =
    R"yaml(# modelwatchd's embedded default configuration: what it runs on without --config.
# Every value below is the built-in default; docs/configuration.md describes each field.

# Listen addresses are left to the --grpc_listen and --http_listen flags:
# server:
#   grpc_listen: 127.0.0.1:50051
#   http_listen: 0.0.0.0:9464

# No models are declared, so every model is accepted the first time it is seen.
accept_unknown_models: true

limits:
  max_models: 100     # models accepted on first sight
  max_versions: 16    # versions per model

# The spec every model gets.
defaults:
  windows:
    - {name: 5m, length: 5m, granularity: 15s}
    - {name: 1h, length: 1h, granularity: 2m}
    - {name: 24h, length: 24h, granularity: 1h}
  join:
    capacity: 100000  # pending predictions plus labels per model; the oldest is evicted
    ttl: 24h          # how long a prediction waits for its label, and a label for it
  max_learned_classes: 32
  calibration_bins: 10
  score_bins: 20

models: []
)yaml";

constexpr std::array<absl::string_view, kSections.size()> SectionNames() {
  std::array<absl::string_view, kSections.size()> names;
  for (size_t i = 0; i < kSections.size(); ++i) names[i] = kSections[i].name;
  return names;
}

// Runs every section parser on the (single) document.
void ParseDocuments(const std::vector<YAML::Node>& documents, ConfigDraft& draft,
                    Diagnostics& diagnostics) {
  if (documents.empty()) return;
  if (documents.size() > 1) {
    diagnostics.Error(Field{documents[1], ""},
                      "a config holds one YAML document; remove the second `---` and what "
                      "follows, or merge it into the first");
  }

  static constexpr std::array<absl::string_view, kSections.size()> kNames = SectionNames();
  const std::optional<Mapping> root = ReadMapping(Field{documents[0], ""}, kNames, diagnostics);
  if (!root.has_value()) return;
  for (const Section& section : kSections) {
    if (auto field = root->Find(section.name)) section.parse(*field, draft, diagnostics);
  }

  // Without models to restrict to, rejecting unknown models would reject everything.
  if (auto field = root->Find("accept_unknown_models");
      field && draft.accept_unknown_models == false && draft.config.models.empty() &&
      !diagnostics.has_errors()) {
    diagnostics.Error(*field,
                      "is false but no models are declared, so every event would be rejected; "
                      "declare models or set it to true");
  }
}

}  // namespace

absl::StatusOr<Config> ParseConfig(std::string_view yaml, std::string_view source) {
  ConfigDraft draft;
  draft.config.source = std::string(source);
  draft.config.hash = Sha256Hex(yaml);
  draft.config.registry.default_spec = BuiltInModelDefaults();

  // The one place yaml-cpp exceptions are caught: syntax errors from the parser, and (never
  // expected, since the readers check node types first) errors from node access.
  Diagnostics diagnostics{std::string(source)};
  try {
    ParseDocuments(YAML::LoadAll(std::string(yaml)), draft, diagnostics);
  } catch (const YAML::ParserException& e) {
    diagnostics.ErrorAt(e.mark, "", absl::StrCat("YAML syntax error: ", e.msg));
  } catch (const YAML::Exception& e) {
    diagnostics.ErrorAt(e.mark, "", absl::StrCat("cannot read the YAML: ", e.msg));
  }
  if (diagnostics.has_errors()) return diagnostics.ToStatus();
  return std::move(draft.config);
}

absl::StatusOr<Config> LoadConfigFile(const std::string& path) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read config file \"", path, "\": it is a directory"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot read config file \"", path, "\""));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot read config file \"", path, "\""));
  }
  return ParseConfig(text.str(), path);
}

std::string_view EmbeddedDefaultConfig() { return kDefaultConfig; }

}  // namespace modelwatch::config
