#include "daemon/http_server.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace modelwatch::daemon {
namespace {

// civetweb keeps process-wide state that must be initialized once before the first server.
void InitCivetwebOnce() {
  static std::once_flag once;
  std::call_once(once, [] { mg_init_library(0); });
}

// Checks that `listen` is "host:port", the form civetweb's listening_ports option takes.
absl::Status CheckListenAddress(const std::string& listen) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("http listen address \"", listen, "\" is not host:port"));
  }
  int port = 0;
  if (!absl::SimpleAtoi(listen.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("http listen address \"", listen, "\" has no valid port"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const std::string& listen, int threads,
    std::vector<std::pair<std::string, HttpHandler>> routes) {
  if (absl::Status valid = CheckListenAddress(listen); !valid.ok()) return valid;
  InitCivetwebOnce();

  std::unique_ptr<HttpServer> server(new HttpServer());
  server->host_ = listen.substr(0, listen.rfind(':'));
  std::string thread_count = absl::StrCat(threads < 1 ? 1 : threads);
  const char* options[] = {"listening_ports",   listen.c_str(), "num_threads", thread_count.c_str(),
                           "enable_keep_alive", "yes",          nullptr};
  mg_callbacks callbacks{};
  mg_init_data init{&callbacks, server.get(), options};
  char error_text[256] = {0};
  unsigned error_code = 0;
  mg_error_data error{&error_code, error_text, sizeof(error_text)};
  server->ctx_ = mg_start2(&init, &error);
  if (server->ctx_ == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot serve HTTP on ", listen, ": ", error_text));
  }

  mg_server_port bound[4];
  int n = mg_get_server_ports(server->ctx_, 4, bound);
  server->port_ = n > 0 ? bound[0].port : 0;

  // Handlers are registered after start; a request arriving in between gets a 404, and the
  // daemon reports itself ready only after Start() returns.
  for (auto& [path, handler] : routes) {
    server->routes_.push_back(std::make_unique<Route>(Route{server.get(), std::move(handler)}));
    // "$" makes the match exact instead of a prefix match.
    std::string pattern = path + "$";
    mg_set_request_handler(server->ctx_, pattern.c_str(), &HttpServer::Dispatch,
                           server->routes_.back().get());
  }
  return server;
}

HttpServer::~HttpServer() {
  if (ctx_ == nullptr) return;

  // civetweb's accept loop sees the stop flag only when its poll() returns, which without traffic
  // takes its full 2 s quantum; a loopback connection during mg_stop() wakes it at once.
  std::atomic<bool> stopped{false};
  std::thread stopper([this, &stopped] {
    mg_stop(ctx_);
    stopped.store(true);
  });
  while (!stopped.load()) {
    Wake();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stopper.join();
}

void HttpServer::Wake() const {
  // Only IPv4 listeners are woken; others stop after civetweb's quantum.
  std::string host = host_.empty() || host_ == "0.0.0.0" ? "127.0.0.1" : host_;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port_));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) return;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  close(fd);
}

int HttpServer::Dispatch(mg_connection* conn, void* route_ptr) {
  const Route& route = *static_cast<const Route*>(route_ptr);
  const mg_request_info* info = mg_get_request_info(conn);
  HttpRequest request{info->request_method != nullptr ? info->request_method : "",
                      info->query_string != nullptr ? info->query_string : ""};
  HttpResponse response = route.handler(request);

  mg_response_header_start(conn, response.status);
  mg_response_header_add(conn, "Content-Type", response.content_type.c_str(), -1);
  std::string length = absl::StrCat(response.body.size());
  mg_response_header_add(conn, "Content-Length", length.c_str(), -1);
  mg_response_header_send(conn);
  if (info->request_method == nullptr || std::string_view(info->request_method) != "HEAD") {
    mg_write(conn, response.body.data(), response.body.size());
  }
  return response.status;
}

std::optional<std::string> QueryParam(std::string_view query, std::string_view name) {
  // Abseil's string_view is its own type in this build; split over it.
  absl::string_view all(query.data(), query.size());
  for (absl::string_view part : absl::StrSplit(all, '&')) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(part, absl::MaxSplits('=', 1));
    if (std::string_view(kv.first.data(), kv.first.size()) != name) continue;
    std::string decoded(kv.second.size() + 1, '\0');
    int len = mg_url_decode(kv.second.data(), static_cast<int>(kv.second.size()), decoded.data(),
                            static_cast<int>(decoded.size()), /*is_form_url_encoded=*/1);
    decoded.resize(len < 0 ? 0 : static_cast<size_t>(len));
    return decoded;
  }
  return std::nullopt;
}

}  // namespace modelwatch::daemon
