#pragma once

#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "spdlog/spdlog.h"

namespace modelwatch::daemon {

// Creates the daemon's named spdlog loggers ("main", "ingest", "http", "exporter"), all writing
// to stderr at `level` (trace, debug, info, warn, error, critical or off). Call once at startup,
// before other threads run; a second call only changes the level. Errors: InvalidArgument for an
// unknown level name.
absl::Status SetupLogging(std::string_view level);

// The component loggers. Thread-safe; valid after SetupLogging() (before it, they are created on
// first use at info level). Messages are key=value fields: "event=listening grpc=127.0.0.1:50051".
spdlog::logger* MainLog();
spdlog::logger* IngestLog();
spdlog::logger* HttpLog();
spdlog::logger* ExporterLog();

}  // namespace modelwatch::daemon
