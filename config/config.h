#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/model_spec.h"
#include "core/registry.h"

namespace modelwatch::config {

// A validated modelwatch configuration: what the daemon runs on and what the rule generator
// reads. Built only by LoadConfigFile() or ParseConfig(), which check everything before
// returning; a Config that exists is valid.
struct Config {
  // Where it came from: a file path, or "<embedded default>".
  std::string source;
  // Hex SHA-256-like digest of the text (for the "config loaded" log line and build info).
  std::string hash;

  // Listen addresses from the `server:` section; empty when not set (flags then decide).
  std::string grpc_listen;
  std::string http_listen;

  // The models declared under `models:`, with `defaults:` applied.
  std::vector<core::ModelSpec> models;
  // Registry options: whether unknown models are accepted, caps, and the spec they get.
  core::Registry::Options registry;
};

// Parses and validates YAML text. `source` names it in errors. An error message names the
// source, line, column and field path, and says what is allowed, for example:
//   "modelwatch.yaml:12:14: models[0].windows[1].length: \"5x\" is not a duration; use a
//    number followed by s, m, h or d, such as 90s or 5m"
absl::StatusOr<Config> ParseConfig(std::string_view yaml, std::string_view source);

// Reads and parses a file; an unreadable file is an error naming the path.
absl::StatusOr<Config> LoadConfigFile(const std::string& path);

// The configuration modelwatchd runs on without --config: every model is accepted on first
// sight with the default windows, join and class cap.
std::string_view EmbeddedDefaultConfig();

}  // namespace modelwatch::config
