#include "daemon/logging.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "spdlog/sinks/stdout_sinks.h"

namespace modelwatch::daemon {
namespace {

// One sink shared by every component logger, so lines from different threads never interleave.
std::shared_ptr<spdlog::sinks::stderr_sink_mt> Sink() {
  static const auto* sink = new std::shared_ptr<spdlog::sinks::stderr_sink_mt>(
      std::make_shared<spdlog::sinks::stderr_sink_mt>());
  return *sink;
}

spdlog::logger* Named(const char* name) {
  if (std::shared_ptr<spdlog::logger> existing = spdlog::get(name)) return existing.get();
  auto logger = std::make_shared<spdlog::logger>(name, Sink());
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%fZ level=%l logger=%n %v",
                      spdlog::pattern_time_type::utc);
  // Another thread may have registered it first; the registry keeps exactly one.
  try {
    spdlog::register_logger(logger);
  } catch (const spdlog::spdlog_ex&) {
  }
  return spdlog::get(name).get();
}

}  // namespace

absl::Status SetupLogging(std::string_view level) {
  spdlog::level::level_enum parsed = spdlog::level::from_str(std::string(level));
  // from_str maps unknown names to "off"; only the word "off" itself may mean off.
  if (parsed == spdlog::level::off && level != "off") {
    return absl::InvalidArgumentError(
        absl::StrCat("--log_level=", std::string(level),
                     " is not a level; use trace, debug, info, warn, error, critical "
                     "or off"));
  }
  for (spdlog::logger* logger : {MainLog(), IngestLog(), HttpLog(), ExporterLog()}) {
    logger->set_level(parsed);
    logger->flush_on(spdlog::level::info);
  }
  return absl::OkStatus();
}

spdlog::logger* MainLog() {
  static spdlog::logger* logger = Named("main");
  return logger;
}
spdlog::logger* IngestLog() {
  static spdlog::logger* logger = Named("ingest");
  return logger;
}
spdlog::logger* HttpLog() {
  static spdlog::logger* logger = Named("http");
  return logger;
}
spdlog::logger* ExporterLog() {
  static spdlog::logger* logger = Named("exporter");
  return logger;
}

}  // namespace modelwatch::daemon
