#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "yaml-cpp/yaml.h"

// Typed, validating reads of a parsed YAML document. Every read that fails records an error in a
// Diagnostics, formatted "<source>:<line>:<column>: <field path>: <what is wrong>", and returns
// nullopt; callers carry on with the next field so that one pass reports every independent
// error. None of these functions throws on valid nodes from YAML::Load (they read only
// Type(), Tag(), Scalar(), Mark() and iterators); the single catch of yaml-cpp exceptions is in
// ParseConfig(). Not thread-safe (a Diagnostics is per parse); cheap (config time only).

namespace modelwatch::config {

// A YAML node and where it sits in the config: its field path, such as "models[1].windows[0]".
struct Field {
  YAML::Node node;
  std::string path;

  // The value under `key` of this mapping, and the element `index` of this sequence.
  Field Child(absl::string_view key, YAML::Node value) const;
  Field Element(size_t index, YAML::Node value) const;
};

// The errors found in one parse, in document order of discovery.
class Diagnostics {
 public:
  explicit Diagnostics(std::string source) : source_(std::move(source)) {}

  // Records an error at the position of `at` (its line and column) naming its path.
  void Error(const Field& at, absl::string_view message);
  // Records an error at an explicit position (for example a syntax error's).
  void ErrorAt(const YAML::Mark& mark, absl::string_view path, absl::string_view message);

  // Records an error already formatted as above, such as the message of a Status returned by a
  // section parser that reports its first error itself.
  void AddFormatted(std::string error) { errors_.push_back(std::move(error)); }

  const std::string& source() const { return source_; }
  bool has_errors() const { return !errors_.empty(); }
  // OK without errors; otherwise InvalidArgument listing them, one per line.
  absl::Status ToStatus() const;

 private:
  const std::string source_;
  std::vector<std::string> errors_;
};

// A mapping whose keys were checked by ReadMapping(): every key is a known, unique scalar.
class Mapping {
 public:
  explicit Mapping(Field self) : self_(std::move(self)) {}

  // The value under `key`, or nullopt when the key is absent.
  std::optional<Field> Find(absl::string_view key) const;
  // The mapping itself (for errors about a missing key).
  const Field& self() const { return self_; }

 private:
  friend std::optional<Mapping> ReadMapping(const Field&, std::span<const absl::string_view>,
                                            Diagnostics&);
  Field self_;
  std::vector<std::pair<std::string, Field>> entries_;
};

// Reads a mapping whose keys must be among `known`. An empty value counts as an empty mapping.
// Errors: not a mapping (returns nullopt); a key that is not a plain scalar, a duplicate key, or
// an unknown key (with a did-you-mean when a known key is close); those keys are left out of
// the result.
std::optional<Mapping> ReadMapping(const Field& field, std::span<const absl::string_view> known,
                                   Diagnostics& diagnostics);

// Reads a sequence's elements. An empty value counts as an empty sequence.
std::optional<std::vector<Field>> ReadSequence(const Field& field, Diagnostics& diagnostics);

// Reads a plain decimal integer in [min, max].
std::optional<int64_t> ReadInt(const Field& field, int64_t min, int64_t max,
                               Diagnostics& diagnostics);

// Reads true or false (also True, TRUE, False, FALSE).
std::optional<bool> ReadBool(const Field& field, Diagnostics& diagnostics);

// Reads a finite decimal number (no .inf, .nan or quotes).
std::optional<double> ReadFiniteNumber(const Field& field, Diagnostics& diagnostics);

// Reads a duration (see ParseDuration()).
std::optional<absl::Duration> ReadDuration(const Field& field, Diagnostics& diagnostics);

// Reads any scalar as text, quoted or not. An empty value or an empty string is an error.
std::optional<std::string> ReadString(const Field& field, Diagnostics& diagnostics);

// How a value reads in an error message: a scalar as written, in double quotes, or what kind of
// node it is ("a mapping", "a list", "empty").
std::string DescribeValue(const YAML::Node& node);

}  // namespace modelwatch::config
