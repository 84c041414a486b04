#include "daemon/daemon.h"

#include <climits>
#include <cstdio>
#include <fstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "daemon/logging.h"
#include "grpc/grpc.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"

namespace modelwatch::daemon {
namespace {

// The host part of "host:port" (everything before the last colon).
std::string HostOf(const std::string& address) {
  size_t colon = address.rfind(':');
  return colon == std::string::npos ? address : address.substr(0, colon);
}

// gRPC's receive limit: room above --max_batch_bytes so an oversize batch is read and rejected
// as one event instead of failing the stream.
int GrpcReceiveLimit(size_t max_batch_bytes) {
  size_t limit = max_batch_bytes * 2 + (1 << 20);
  return limit > static_cast<size_t>(INT_MAX) ? INT_MAX : static_cast<int>(limit);
}

HttpResponse Text(int status, std::string body) {
  return HttpResponse{status, "text/plain; charset=utf-8", std::move(body)};
}

}  // namespace

Daemon::Daemon(const config::Config& config, const DaemonOptions& options)
    : options_(options),
      test_clock_(options.test_clock_unix ? std::make_unique<core::ManualClock>(
                                                absl::FromUnixSeconds(*options.test_clock_unix))
                                          : nullptr),
      clock_(test_clock_ ? static_cast<const core::Clock&>(*test_clock_)
                         : core::SystemClock::Get()),
      registry_(config.models, config.registry),
      service_(registry_, clock_, counters_, options.max_batch_bytes, options.ingest_threads),
      exporter_(registry_, counters_, clock_,
                ExporterInfo{options.version, options.revision, config.source, config.hash}) {}

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Start(const config::Config& config,
                                                      const DaemonOptions& options) {
  std::unique_ptr<Daemon> daemon(new Daemon(config, options));
  if (absl::Status s = daemon->StartGrpc(); !s.ok()) return s;
  if (absl::Status s = daemon->StartHttp(); !s.ok()) return s;
  if (!options.port_file.empty()) {
    if (absl::Status s = daemon->WritePortFile(); !s.ok()) return s;
  }
  daemon->tick_thread_ = std::thread([d = daemon.get()] { d->TickLoop(); });

  daemon->grpc_server_->GetHealthCheckService()->SetServingStatus(true);
  daemon->ready_.store(true);
  MainLog()->info(
      "event=listening grpc={} http={} max_batch_bytes={} grpc_threads={} "
      "test_clock={}",
      daemon->grpc_address_, daemon->http_address_, options.max_batch_bytes, options.grpc_threads,
      options.test_clock_unix.has_value());
  return daemon;
}

absl::Status Daemon::StartGrpc() {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options_.grpc_listen, grpc::InsecureServerCredentials(), &port);
  // gRPC sets SO_REUSEPORT by default, so a second daemon on a busy port would start and take
  // half the model servers' connections; a port in use must stop startup instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(&service_);
  builder.SetMaxReceiveMessageSize(GrpcReceiveLimit(options_.max_batch_bytes));
  // Each sync-server thread may run a handler, and each handler is a counter writer: capping the
  // threads at the writer slot count keeps every writer on a shard of its own.
  grpc::ResourceQuota quota("modelwatchd");
  quota.SetMaxThreads(options_.grpc_threads);
  builder.SetResourceQuota(quota);

  grpc_server_ = builder.BuildAndStart();
  if (grpc_server_ == nullptr || port == 0) {
    grpc_server_.reset();
    return absl::UnavailableError(absl::StrCat("cannot serve gRPC on ", options_.grpc_listen,
                                               ": the address is malformed or the port is in use"));
  }
  grpc_address_ = absl::StrCat(HostOf(options_.grpc_listen), ":", port);
  return absl::OkStatus();
}

absl::Status Daemon::StartHttp() {
  std::vector<std::pair<std::string, HttpHandler>> routes;
  routes.emplace_back("/metrics", [this](const HttpRequest&) {
    return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8", exporter_.Scrape()};
  });
  routes.emplace_back("/healthz", [](const HttpRequest&) { return Text(200, "ok\n"); });
  routes.emplace_back("/readyz", [this](const HttpRequest&) {
    return ready_.load() ? Text(200, "ready\n") : Text(503, "not ready\n");
  });
  if (test_clock_ != nullptr) {
    routes.emplace_back("/debug/clock",
                        [this](const HttpRequest& request) { return HandleClock(request); });
  }

  absl::StatusOr<std::unique_ptr<HttpServer>> server =
      HttpServer::Start(options_.http_listen, options_.http_threads, std::move(routes));
  if (!server.ok()) return server.status();
  http_server_ = *std::move(server);
  http_address_ = absl::StrCat(HostOf(options_.http_listen), ":", http_server_->port());
  return absl::OkStatus();
}

absl::Status Daemon::WritePortFile() const {
  // Written under a temporary name and renamed, so a reader never sees half a file.
  std::string tmp = options_.port_file + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << "grpc=" << grpc_address_ << "\nhttp=" << http_address_ << "\n";
    if (!out.good()) return absl::InternalError(absl::StrCat("cannot write port file ", tmp));
  }
  if (std::rename(tmp.c_str(), options_.port_file.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot rename ", tmp, " to ", options_.port_file));
  }
  return absl::OkStatus();
}

HttpResponse Daemon::HandleClock(const HttpRequest& request) {
  if (request.method != "POST") return Text(405, "use POST\n");

  if (std::optional<std::string> advance = QueryParam(request.query, "advance_seconds")) {
    double seconds = 0;
    if (!absl::SimpleAtod(*advance, &seconds) || seconds < 0) {
      return Text(400, "advance_seconds must be a non-negative number\n");
    }
    test_clock_->Advance(absl::Seconds(seconds));
  } else if (std::optional<std::string> set = QueryParam(request.query, "set_unix")) {
    double unix_seconds = 0;
    if (!absl::SimpleAtod(*set, &unix_seconds)) return Text(400, "set_unix must be a number\n");
    test_clock_->Set(absl::FromUnixNanos(static_cast<int64_t>(unix_seconds * 1e9)));
  } else {
    return Text(400, "give advance_seconds=N or set_unix=N\n");
  }

  absl::Time now = test_clock_->Now();
  registry_.Tick(now);
  HttpLog()->debug("event=clock_moved now_unix={}", absl::ToDoubleSeconds(now - absl::UnixEpoch()));
  return Text(200,
              absl::StrFormat("now_unix=%.3f\n", absl::ToDoubleSeconds(now - absl::UnixEpoch())));
}

void Daemon::TickLoop() {
  while (!stop_tick_.WaitForNotificationWithTimeout(options_.tick_interval)) {
    registry_.Tick(clock_.Now());
  }
}

void Daemon::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  MainLog()->info("event=shutdown_begin timeout={}",
                  absl::FormatDuration(options_.shutdown_timeout));

  // Unready first, so load balancers and probes stop sending before the servers go away.
  ready_.store(false);
  if (grpc_server_ != nullptr) {
    grpc_server_->GetHealthCheckService()->Shutdown();
    grpc_server_->Shutdown(absl::ToChronoTime(absl::Now() + options_.shutdown_timeout));
    grpc_server_->Wait();
    MainLog()->debug("event=grpc_stopped");
  }
  if (tick_thread_.joinable()) {
    stop_tick_.Notify();
    tick_thread_.join();
  }
  http_server_.reset();
  MainLog()->debug("event=http_stopped");
}

Daemon::~Daemon() { Shutdown(); }

}  // namespace modelwatch::daemon
