#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/registry.h"
#include "daemon/exporter.h"
#include "daemon/http_server.h"
#include "daemon/ingest_counters.h"
#include "daemon/ingest_service.h"
#include "grpcpp/grpcpp.h"

namespace modelwatch::daemon {

// How the daemon runs, after flags and the config's `server:` section are resolved.
struct DaemonOptions {
  std::string grpc_listen = "127.0.0.1:50051";  // host:port; port 0 picks a free port
  std::string http_listen = "0.0.0.0:9464";
  // Batches above this many bytes are rejected as one batch_too_large event; gRPC's receive
  // limit is set above it so such a batch is still read and the stream stays open.
  size_t max_batch_bytes = 16 << 20;
  // gRPC sync server threads (each one a potential writer, so at most the WriterSlot capacity).
  int grpc_threads = 16;
  // Streams whose batches a second thread applies while the next are read (each a writer too,
  // so the WriterSlot capacity must be at least grpc_threads + ingest_threads).
  int ingest_threads = 0;
  int http_threads = 4;
  // When set, time is a core::ManualClock starting at this Unix time, moved by POST
  // /debug/clock?advance_seconds=N or ?set_unix=N on the HTTP port.
  std::optional<int64_t> test_clock_unix;
  // When non-empty, "grpc=HOST:PORT\nhttp=HOST:PORT\n" is written there once both listen.
  std::string port_file;
  // How long in-flight RPCs may take to finish at shutdown before they are cancelled.
  absl::Duration shutdown_timeout = absl::Seconds(10);
  // How often pending joins are expired between scrapes.
  absl::Duration tick_interval = absl::Seconds(1);
  std::string version = "dev";
  std::string revision = "unknown";
};

// The running modelwatchd: registry, gRPC ingest server (with grpc.health.v1), HTTP server
// (/metrics, /healthz, /readyz, and /debug/clock under a test clock) and the background tick.
//
// Lifecycle: Start() binds both servers and reports ready; Shutdown() flips /readyz to 503 and
// health to NOT_SERVING, lets in-flight RPCs finish (up to shutdown_timeout, then cancels them),
// then stops the tick thread and the HTTP server. Shutdown() is idempotent and called by the
// destructor. Start and Shutdown are called from one thread; everything else is thread-safe.
class Daemon {
 public:
  // Errors: InvalidArgument for a bad address, Unavailable when a port cannot be bound,
  // Internal when the port file cannot be written.
  static absl::StatusOr<std::unique_ptr<Daemon>> Start(const config::Config& config,
                                                       const DaemonOptions& options);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  void Shutdown();

  // The bound addresses, "host:port" with the port chosen when 0 was asked for.
  const std::string& grpc_address() const { return grpc_address_; }
  const std::string& http_address() const { return http_address_; }
  const IngestCounters& counters() const { return counters_; }

 private:
  explicit Daemon(const config::Config& config, const DaemonOptions& options);
  absl::Status StartGrpc();
  absl::Status StartHttp();
  absl::Status WritePortFile() const;
  HttpResponse HandleClock(const HttpRequest& request);
  void TickLoop();

  // Set at construction.
  const DaemonOptions options_;
  std::unique_ptr<core::ManualClock> test_clock_;
  const core::Clock& clock_;
  core::Registry registry_;
  IngestCounters counters_;
  IngestService service_;
  Exporter exporter_;

  // Set by Start(), read by Shutdown() on the same thread.
  std::unique_ptr<grpc::Server> grpc_server_;
  std::unique_ptr<HttpServer> http_server_;
  std::string grpc_address_;
  std::string http_address_;
  std::thread tick_thread_;
  absl::Notification stop_tick_;
  bool shut_down_ = false;

  // Read by HTTP handlers.
  std::atomic<bool> ready_{false};
};

}  // namespace modelwatch::daemon
