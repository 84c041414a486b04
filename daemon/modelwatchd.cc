// modelwatchd: the modelwatch sidecar. Receives prediction and label events over gRPC
// (modelwatch.v1.Ingest) and serves model quality metrics on /metrics for Prometheus.
//
// Exit codes: 0 after a clean shutdown (SIGTERM or SIGINT), 1 when a server cannot start,
// 2 for bad flags or a bad config.

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "config/config.h"
#include "core/reject_reason.h"
#include "core/writer_slot.h"
#include "daemon/daemon.h"
#include "daemon/debug_flags.h"
#include "daemon/logging.h"
#include "daemon/process_tuning.h"

ABSL_FLAG(std::string, config, "",
          "Path of the YAML config (models, classes, windows, server addresses). Without it the "
          "embedded default config runs: every model is accepted on first sight.");
ABSL_FLAG(std::string, grpc_listen, "127.0.0.1:50051",
          "host:port for the gRPC ingest service (modelwatch.v1.Ingest and grpc.health.v1). "
          "Loopback by default: modelwatchd is a sidecar. Port 0 picks a free port. When not "
          "given, the config's server.grpc_listen applies if set.");
ABSL_FLAG(std::string, http_listen, "0.0.0.0:9464",
          "host:port for HTTP: /metrics (Prometheus), /healthz and /readyz. Port 0 picks a free "
          "port. When not given, the config's server.http_listen applies if set.");
ABSL_FLAG(std::string, log_level, "info",
          "One of trace, debug, info, warn, error, critical, off. info logs lifecycle only; "
          "debug adds one line per stream, trace one per batch.");
ABSL_FLAG(uint64_t, max_batch_bytes, 16 << 20,
          "Largest batch accepted, in bytes (default 16 MiB). A larger batch is read, rejected "
          "as one batch_too_large event, and the stream stays open; beyond twice this size plus "
          "1 MiB gRPC itself refuses the message and ends the stream.");
ABSL_FLAG(int32_t, writer_slots, 16,
          "Counter shards for writer threads, and the cap on gRPC server threads (so every "
          "handler writes to a shard of its own). Each open stream holds one thread.");
ABSL_FLAG(int32_t, ingest_threads, 0,
          "Streams whose batches a second thread applies while the next ones are read, at once "
          "(0: none, every stream applies on its own thread; -1: one per core the process may "
          "run on beyond two). Each takes a counter shard beyond --writer_slots. Worth it only "
          "with idle cores: the CPU affinity mask, not a container's CPU quota, is what -1 "
          "counts.");
ABSL_FLAG(absl::Duration, shutdown_timeout, absl::Seconds(10),
          "On SIGTERM/SIGINT, how long in-flight RPCs may take to finish before they are "
          "cancelled.");
ABSL_FLAG(std::string, port_file, "",
          "When set, write \"grpc=HOST:PORT\\nhttp=HOST:PORT\\n\" to this path once both "
          "servers listen (for starting on port 0).");

namespace modelwatch::daemon {
namespace {

constexpr int kExitServerError = 1;
constexpr int kExitBadInput = 2;

// Whether --name (or -name) appears on the command line, so a config value applies only when
// the flag was not given explicitly.
bool GivenOnCommandLine(int argc, char** argv, absl::string_view name) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") break;
    if (absl::ConsumePrefix(&arg, "--") || absl::ConsumePrefix(&arg, "-")) {
      if (arg == name || absl::StartsWith(arg, absl::StrCat(name, "="))) return true;
    }
  }
  return false;
}

absl::StatusOr<config::Config> LoadConfig() {
  std::string path = absl::GetFlag(FLAGS_config);
  if (path.empty())
    return config::ParseConfig(config::EmbeddedDefaultConfig(), "<embedded default>");
  return config::LoadConfigFile(path);
}

// Blocks SIGTERM and SIGINT in this thread and every thread it starts later, so that only
// sigwait() in main receives them.
sigset_t BlockShutdownSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

void LogTotals(const IngestCounters& counters) {
  uint64_t predictions = 0, labels = 0, rejected = 0;
  for (const IngestCounters::ModelTotals& m : counters.Accepted()) {
    predictions += m.predictions;
    labels += m.labels;
  }
  for (int i = 1; i < core::kNumRejectReasons; ++i) {
    rejected += counters.Rejected(static_cast<core::RejectReason>(i));
  }
  MainLog()->info(
      "event=shutdown accepted_predictions={} accepted_labels={} rejected={} batches_stream={} "
      "batches_send={}",
      predictions, labels, rejected, counters.Batches(Rpc::kStream), counters.Batches(Rpc::kSend));
}

int Run(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "monitoring sidecar for ML model servers.\n"
      "Receives predictions and labels over gRPC and serves model quality on /metrics.\n"
      "Usage: modelwatchd [--config=modelwatch.yaml] [--grpc_listen=HOST:PORT] "
      "[--http_listen=HOST:PORT]");
  absl::ParseCommandLine(argc, argv);

  if (absl::Status s = SetupLogging(absl::GetFlag(FLAGS_log_level)); !s.ok()) {
    MainLog()->critical("event=bad_flag error=\"{}\"", std::string(s.message()));
    return kExitBadInput;
  }
  int32_t writer_slots = absl::GetFlag(FLAGS_writer_slots);
  uint64_t max_batch_bytes = absl::GetFlag(FLAGS_max_batch_bytes);
  if (writer_slots < 2 || writer_slots > 4096) {
    MainLog()->critical("event=bad_flag error=\"--writer_slots={} must be in [2, 4096]\"",
                        writer_slots);
    return kExitBadInput;
  }
  if (max_batch_bytes == 0 || max_batch_bytes > (uint64_t{1} << 30)) {
    MainLog()->critical("event=bad_flag error=\"--max_batch_bytes={} must be in [1, 1 GiB]\"",
                        max_batch_bytes);
    return kExitBadInput;
  }
  MainLog()->info("event=start version={} revision={}", MODELWATCH_VERSION, MODELWATCH_REVISION);

  absl::StatusOr<config::Config> config = LoadConfig();
  if (!config.ok()) {
    MainLog()->critical("event=config_error error=\"{}\"", std::string(config.status().message()));
    return kExitBadInput;
  }
  MainLog()->info("event=config_loaded source={} hash={} models={}", config->source, config->hash,
                  config->models.size());

  DaemonOptions options;
  options.grpc_listen = absl::GetFlag(FLAGS_grpc_listen);
  options.http_listen = absl::GetFlag(FLAGS_http_listen);
  if (!GivenOnCommandLine(argc, argv, "grpc_listen") && !config->grpc_listen.empty()) {
    options.grpc_listen = config->grpc_listen;
  }
  if (!GivenOnCommandLine(argc, argv, "http_listen") && !config->http_listen.empty()) {
    options.http_listen = config->http_listen;
  }
  options.max_batch_bytes = max_batch_bytes;
  options.grpc_threads = writer_slots;
  options.ingest_threads = absl::GetFlag(FLAGS_ingest_threads) >= 0
                               ? std::min(absl::GetFlag(FLAGS_ingest_threads), 4096)
                               : IngestService::DefaultIngestThreads();
  options.test_clock_unix = absl::GetFlag(FLAGS_test_clock);
  options.port_file = absl::GetFlag(FLAGS_port_file);
  options.shutdown_timeout = absl::GetFlag(FLAGS_shutdown_timeout);
  options.version = MODELWATCH_VERSION;
  options.revision = MODELWATCH_REVISION;

  // Before any thread starts: signals go to sigwait() below, and writer slots are fixed.
  TuneProcessForIngest();
  sigset_t signals = BlockShutdownSignals();
  core::WriterSlot::SetCapacity(writer_slots + options.ingest_threads);

  absl::StatusOr<std::unique_ptr<Daemon>> daemon = Daemon::Start(*config, options);
  if (!daemon.ok()) {
    MainLog()->critical("event=start_failed error=\"{}\"", std::string(daemon.status().message()));
    return daemon.status().code() == absl::StatusCode::kInvalidArgument ? kExitBadInput
                                                                        : kExitServerError;
  }

  int signal = 0;
  sigwait(&signals, &signal);
  MainLog()->info("event=signal signal={}", signal == SIGTERM ? "SIGTERM" : "SIGINT");
  (*daemon)->Shutdown();
  LogTotals((*daemon)->counters());
  daemon->reset();
  MainLog()->info("event=exit code=0");
  return 0;
}

}  // namespace
}  // namespace modelwatch::daemon

int main(int argc, char** argv) { return modelwatch::daemon::Run(argc, argv); }
