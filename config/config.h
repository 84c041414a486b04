#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "config/alerts.h"
#include "core/model_spec.h"
#include "core/registry.h"

namespace modelwatch::config {

// A validated modelwatch configuration: what the daemon runs on and what the rule generator
// reads. Built only by LoadConfigFile() or ParseConfig(), which check everything before
// returning; a Config that exists is valid.
struct Config {
  // Where it came from: a file path, or kEmbeddedSource.
  std::string source;
  // SHA-256 of the text as 64 lowercase hex digits, equal to what `sha256sum FILE` prints (for
  // the "config loaded" log line and modelwatch_config_info). Stable across runs and builds.
  std::string hash;

  // Listen addresses from the `server:` section; empty when not set (flags then decide).
  std::string grpc_listen;
  std::string http_listen;

  // The models declared under `models:`, in file order, with `defaults:` applied.
  std::vector<core::ModelSpec> models;
  // Registry options: whether unknown models are accepted, caps, and the spec they get
  // (`defaults:` applied over the built-in defaults; its name is empty).
  core::Registry::Options registry;
  // The `alerts:` section, validated against `models` (see config/alerts.h).
  std::vector<AlertSpec> alerts;
};

// The `source` of the embedded default config.
inline constexpr std::string_view kEmbeddedSource = "<embedded default>";

// Parses and validates YAML text completely (docs/configuration.md is the schema). `source`
// names it in errors. On failure the status is InvalidArgument and its message lists every
// error found, one per line, each naming the source, line, column (from 1) and field path, and
// saying what is allowed, for example:
//   modelwatch.yaml:12:17: models[0].windows[1].length: "5x" is not a duration; use a number
//   followed by ms, s, m, h or d, such as 90s, 5m or 1.5h
// YAML syntax errors are reported the same way with the parser's line and column.
// Thread-safe (no shared state); runs at startup and reload only, cost linear in the text.
absl::StatusOr<Config> ParseConfig(std::string_view yaml, std::string_view source);

// Reads and parses a file; `source` is the path. An unreadable file is an error naming the
// path and the reason, with the code that matches errno (NotFound, PermissionDenied, ...).
absl::StatusOr<Config> LoadConfigFile(const std::string& path);

// The configuration modelwatchd runs on without --config: commented YAML that spells out every
// default (every model accepted on first sight, default windows, join and caps). Parsing it
// gives the same Config as parsing an empty text, apart from source and hash.
std::string_view EmbeddedDefaultConfig();

}  // namespace modelwatch::config
