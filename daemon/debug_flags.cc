#include "daemon/debug_flags.h"

#include "absl/flags/flag.h"

ABSL_FLAG(std::optional<int64_t>, test_clock, std::nullopt,
          "For tests: run on a manual clock starting at this Unix time (seconds), moved only by "
          "POST /debug/clock?advance_seconds=N or ?set_unix=N on the HTTP port.");
