#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

struct mg_context;
struct mg_connection;

namespace modelwatch::daemon {

// One HTTP request as a handler sees it.
struct HttpRequest {
  std::string_view method;  // "GET", "POST", ...
  std::string_view query;   // the part after '?', not decoded; empty when absent
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// A small HTTP/1.1 server (civetweb) that maps exact paths to handlers: /metrics, /healthz,
// /readyz and the test-clock endpoint. Unknown paths answer 404.
//
// Handlers run on the server's worker threads (`threads` of them), concurrently with each other;
// they must be thread-safe and must not throw. The server owns its handlers. Destroying the
// server stops it: it waits for running handlers to return.
class HttpServer {
 public:
  // Binds `listen` ("host:port"; port 0 picks a free port) and starts serving `routes`. Errors:
  // InvalidArgument for a malformed address, Unavailable when the port cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const std::string& listen, int threads,
      std::vector<std::pair<std::string, HttpHandler>> routes);

  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound port (the chosen one when started on port 0).
  int port() const { return port_; }

 private:
  struct Route {
    HttpServer* server;
    HttpHandler handler;
  };
  HttpServer() = default;
  static int Dispatch(mg_connection* conn, void* route);

  // Opens and closes a loopback connection to the listening port (see the destructor).
  void Wake() const;

  // Set at construction.
  std::string host_;
  std::vector<std::unique_ptr<Route>> routes_;
  mg_context* ctx_ = nullptr;
  int port_ = 0;
};

// The URL-decoded value of `name` in a query string such as "a=1&b=2"; nullopt when absent.
std::optional<std::string> QueryParam(std::string_view query, std::string_view name);

}  // namespace modelwatch::daemon
