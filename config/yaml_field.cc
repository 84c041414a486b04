#include "config/yaml_field.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "config/duration.h"

namespace modelwatch::config {
namespace {

// More errors than this are summarized: after a few dozen, the rest are usually one mistake.
constexpr size_t kMaxReportedErrors = 50;

// yaml-cpp tags a quoted scalar "!" and a plain one "?".
bool IsQuoted(const YAML::Node& node) { return node.Tag() == "!"; }

// Levenshtein distance between two short keys.
size_t EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// The known key closest to `key` when it is close enough to be a typo, else empty.
absl::string_view ClosestKey(absl::string_view key, std::span<const absl::string_view> known) {
  absl::string_view best;
  size_t best_distance = std::max<size_t>(2, key.size() / 3) + 1;
  for (absl::string_view candidate : known) {
    const size_t distance = EditDistance(key, candidate);
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

std::string UnknownKeyMessage(absl::string_view key, std::span<const absl::string_view> known) {
  std::string message = absl::StrCat("unknown key \"", key, "\"");
  const absl::string_view closest = ClosestKey(key, known);
  if (!closest.empty()) absl::StrAppend(&message, "; did you mean \"", closest, "\"?");
  absl::StrAppend(&message, " Allowed keys: ", absl::StrJoin(known, ", "));
  return message;
}

}  // namespace

Field Field::Child(absl::string_view key, YAML::Node value) const {
  return Field{std::move(value), path.empty() ? std::string(key) : absl::StrCat(path, ".", key)};
}

Field Field::Element(size_t index, YAML::Node value) const {
  return Field{std::move(value), absl::StrCat(path, "[", index, "]")};
}

void Diagnostics::Error(const Field& at, absl::string_view message) {
  ErrorAt(at.node.Mark(), at.path, message);
}

void Diagnostics::ErrorAt(const YAML::Mark& mark, absl::string_view path,
                          absl::string_view message) {
  // yaml-cpp counts lines and columns from 0; editors count from 1.
  std::string error = source_;
  if (!mark.is_null()) absl::StrAppend(&error, ":", mark.line + 1, ":", mark.column + 1);
  absl::StrAppend(&error, ": ");
  if (!path.empty()) absl::StrAppend(&error, path, ": ");
  absl::StrAppend(&error, message);
  errors_.push_back(std::move(error));
}

absl::Status Diagnostics::ToStatus() const {
  if (errors_.empty()) return absl::OkStatus();
  if (errors_.size() <= kMaxReportedErrors) {
    return absl::InvalidArgumentError(absl::StrJoin(errors_, "\n"));
  }
  const std::vector<std::string> first(errors_.begin(), errors_.begin() + kMaxReportedErrors);
  return absl::InvalidArgumentError(absl::StrCat(absl::StrJoin(first, "\n"), "\n... and ",
                                                 errors_.size() - kMaxReportedErrors,
                                                 " more errors"));
}

std::optional<Field> Mapping::Find(absl::string_view key) const {
  for (const auto& [name, field] : entries_) {
    if (name == key) return field;
  }
  return std::nullopt;
}

std::string DescribeValue(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return absl::StrCat("\"", absl::Utf8SafeCEscape(node.Scalar()), "\"");
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    default:
      return "empty";
  }
}

std::optional<Mapping> ReadMapping(const Field& field, std::span<const absl::string_view> known,
                                   Diagnostics& diagnostics) {
  Mapping mapping(field);
  if (field.node.IsNull()) return mapping;
  if (!field.node.IsMap()) {
    diagnostics.Error(
        field, absl::StrCat(DescribeValue(field.node), " is not a mapping; expected keys among: ",
                            absl::StrJoin(known, ", ")));
    return std::nullopt;
  }

  for (const auto& entry : field.node) {
    const YAML::Node& key = entry.first;
    if (!key.IsScalar()) {
      diagnostics.Error(Field{key, field.path},
                        absl::StrCat("a key must be a plain name, not ", DescribeValue(key)));
      continue;
    }
    const std::string& name = key.Scalar();
    Field child = field.Child(name, entry.second);
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      diagnostics.Error(Field{key, child.path}, UnknownKeyMessage(name, known));
      continue;
    }
    if (mapping.Find(name).has_value()) {
      diagnostics.Error(Field{key, child.path}, "duplicate key; each key may appear once");
      continue;
    }
    mapping.entries_.emplace_back(name, std::move(child));
  }
  return mapping;
}

std::optional<std::vector<Field>> ReadSequence(const Field& field, Diagnostics& diagnostics) {
  std::vector<Field> elements;
  if (field.node.IsNull()) return elements;
  if (!field.node.IsSequence()) {
    diagnostics.Error(field, absl::StrCat(DescribeValue(field.node), " is not a list"));
    return std::nullopt;
  }
  size_t index = 0;
  for (const YAML::Node& element : field.node) elements.push_back(field.Element(index++, element));
  return elements;
}

std::optional<int64_t> ReadInt(const Field& field, int64_t min, int64_t max,
                               Diagnostics& diagnostics) {
  const std::string allowed = absl::StrCat("an integer from ", min, " to ", max);
  int64_t value = 0;
  if (!field.node.IsScalar() || IsQuoted(field.node)) {
    diagnostics.Error(field, absl::StrCat(DescribeValue(field.node), " is not ", allowed,
                                          IsQuoted(field.node) ? " (remove the quotes)" : ""));
    return std::nullopt;
  }
  const std::string& text = field.node.Scalar();
  const bool digits_only =
      !text.empty() && std::all_of(text.begin() + (text[0] == '-' ? 1 : 0), text.end(),
                                   [](char c) { return c >= '0' && c <= '9'; });
  if (!digits_only || !absl::SimpleAtoi(text, &value) || value < min || value > max) {
    diagnostics.Error(field, absl::StrCat(DescribeValue(field.node), " is not ", allowed));
    return std::nullopt;
  }
  return value;
}

std::optional<bool> ReadBool(const Field& field, Diagnostics& diagnostics) {
  if (field.node.IsScalar() && !IsQuoted(field.node)) {
    const std::string& text = field.node.Scalar();
    if (text == "true" || text == "True" || text == "TRUE") return true;
    if (text == "false" || text == "False" || text == "FALSE") return false;
  }
  diagnostics.Error(field, absl::StrCat(DescribeValue(field.node), " is not true or false"));
  return std::nullopt;
}

std::optional<double> ReadFiniteNumber(const Field& field, Diagnostics& diagnostics) {
  double value = 0;
  if (!field.node.IsScalar() || IsQuoted(field.node) ||
      !absl::SimpleAtod(field.node.Scalar(), &value) || !std::isfinite(value)) {
    diagnostics.Error(field, absl::StrCat(DescribeValue(field.node),
                                          " is not a finite number; write a decimal number "
                                          "such as 0.5, -3 or 1e6 without quotes"));
    return std::nullopt;
  }
  return value;
}

std::optional<absl::Duration> ReadDuration(const Field& field, Diagnostics& diagnostics) {
  std::optional<absl::Duration> value;
  if (field.node.IsScalar()) value = ParseDuration(field.node.Scalar());
  if (!value.has_value()) {
    diagnostics.Error(field, absl::StrCat(DescribeValue(field.node),
                                          " is not a duration; use a number followed by ms, s, "
                                          "m, h or d, such as 90s, 5m or 1.5h"));
  }
  return value;
}

std::optional<std::string> ReadString(const Field& field, Diagnostics& diagnostics) {
  if (!field.node.IsScalar() || field.node.Scalar().empty()) {
    diagnostics.Error(field, absl::StrCat(DescribeValue(field.node), " is not a non-empty string"));
    return std::nullopt;
  }
  return field.node.Scalar();
}

}  // namespace modelwatch::config
