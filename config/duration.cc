#include "config/duration.h"

#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"

namespace modelwatch::config {
namespace {

// The unit suffix of `text`, and how long one of it is; nullopt when none matches.
std::optional<absl::Duration> UnitOf(std::string_view unit) {
  if (unit == "ms") return absl::Milliseconds(1);
  if (unit == "s") return absl::Seconds(1);
  if (unit == "m") return absl::Minutes(1);
  if (unit == "h") return absl::Hours(1);
  if (unit == "d") return absl::Hours(24);
  return std::nullopt;
}

bool AllDigits(std::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return !s.empty();
}

}  // namespace

std::optional<absl::Duration> ParseDuration(std::string_view text) {
  // Split the number from its unit at the first letter.
  size_t unit_start = 0;
  while (unit_start < text.size() &&
         !absl::ascii_isalpha(static_cast<unsigned char>(text[unit_start]))) {
    ++unit_start;
  }
  const std::optional<absl::Duration> unit = UnitOf(text.substr(unit_start));
  if (!unit.has_value()) return std::nullopt;
  const std::string_view number = text.substr(0, unit_start);

  // Integer and fraction parts, each plain ASCII digits.
  const size_t dot = number.find('.');
  const std::string_view whole = number.substr(0, dot);
  const std::string_view fraction =
      dot == std::string_view::npos ? std::string_view() : number.substr(dot + 1);
  if (!AllDigits(whole)) return std::nullopt;
  if (dot != std::string_view::npos && (!AllDigits(fraction) || fraction.size() > 9)) {
    return std::nullopt;
  }
  int64_t whole_value = 0;
  if (whole.size() > 18 ||
      !absl::SimpleAtoi(absl::string_view(whole.data(), whole.size()), &whole_value))
    return std::nullopt;

  // whole * unit + fraction * unit / 10^digits, in absl::Duration's exact integer arithmetic.
  absl::Duration result = *unit * whole_value;
  if (!fraction.empty()) {
    int64_t fraction_value = 0;
    int64_t scale = 1;
    for (char c : fraction) {
      fraction_value = fraction_value * 10 + (c - '0');
      scale *= 10;
    }
    result += *unit * fraction_value / scale;
  }
  if (result == absl::InfiniteDuration()) return std::nullopt;
  return result;
}

}  // namespace modelwatch::config
