#pragma once

#include <optional>

#include "absl/strings/string_view.h"
#include "config/config.h"
#include "config/yaml_field.h"
#include "core/model_spec.h"

// The top-level sections of a config file, each read by its own parser.
//
// ParseConfig() looks up every top-level key in its section table (name -> parser) and calls the
// parsers in table order, which is dependency order (`defaults` before `models`). A new section,
// such as `alerts:`, is a parser declared here, defined in its own file, and one row in the
// table in config.cc, after the sections it refers to. Parsers record errors in the Diagnostics
// and keep going; a parser that depends on earlier sections may return early when
// diagnostics.has_errors() (what it would check against is incomplete), and one that returns a
// Status with its first error adds it with Diagnostics::AddFormatted(). Parsers are not
// thread-safe and run at config time only.

namespace modelwatch::config {

// The config as the sections fill it in.
struct ConfigDraft {
  Config config;
  // Set when `accept_unknown_models` is present. Either way, config.registry's
  // accept_unknown_models holds the final value once `models` has been read (true when the
  // config declares no models, unless set).
  std::optional<bool> accept_unknown_models;
};

using SectionParser = void (*)(const Field& section, ConfigDraft& draft, Diagnostics& diagnostics);

struct Section {
  absl::string_view name;
  SectionParser parse;
};

// The spec a model gets when the config says nothing: core's ModelSpec defaults, with a join
// capacity of 100,000 pending entries per model (about 10 MB) instead of core's 1,000,000.
core::ModelSpec BuiltInModelDefaults();

// `server:` listen addresses.
void ParseServerSection(const Field& section, ConfigDraft& draft, Diagnostics& diagnostics);
// `accept_unknown_models:` true or false.
void ParseAcceptUnknownModels(const Field& section, ConfigDraft& draft, Diagnostics& diagnostics);
// `limits:` max_models and max_versions.
void ParseLimitsSection(const Field& section, ConfigDraft& draft, Diagnostics& diagnostics);
// `defaults:` fields every model starts from; sets draft.config.registry.default_spec.
void ParseDefaultsSection(const Field& section, ConfigDraft& draft, Diagnostics& diagnostics);
// `models:` the declared models, starting from the default spec.
void ParseModelsSection(const Field& section, ConfigDraft& draft, Diagnostics& diagnostics);

}  // namespace modelwatch::config
