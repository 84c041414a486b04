#pragma once

#include <optional>
#include <string_view>

#include "absl/time/time.h"

namespace modelwatch::config {

// Parses a configuration duration: a non-negative integer or decimal number immediately followed
// by a unit, one of ms, s, m, h or d (a day is 24h), for example "90s", "5m", "1.5h", "7d" or
// "250ms". The value is computed exactly (no floating point): "0.1s" is 100ms.
//
// Returns nullopt for anything else: no unit, an unknown unit, a sign, spaces, exponents, more
// than 9 decimal places, or a value too large for absl::Duration. Pure function; thread-safe.
std::optional<absl::Duration> ParseDuration(std::string_view text);

}  // namespace modelwatch::config
