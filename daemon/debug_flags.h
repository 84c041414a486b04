#pragma once

#include <cstdint>
#include <optional>

#include "absl/flags/declare.h"

// Flags for tests, defined outside modelwatchd.cc so that --help hides them (--helpfull lists
// them).

// When set, the daemon's clock is a manual clock starting at this Unix time, moved only through
// POST /debug/clock on the HTTP port.
ABSL_DECLARE_FLAG(std::optional<int64_t>, test_clock);
