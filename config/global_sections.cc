// The sections that configure the daemon as a whole: server, accept_unknown_models, limits.

#include <array>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "config/sections.h"

namespace modelwatch::config {
namespace {

// Upper bounds that keep a typo from asking for unbounded memory.
constexpr int64_t kMaxModelsLimit = 10'000;
constexpr int64_t kMaxVersionsLimit = 1'000;

// Reads a listen address HOST:PORT (HOST may be a bracketed IPv6 address, PORT 0 picks a free
// port); empty string when invalid.
std::string ReadListenAddress(const Field& field, Diagnostics& diagnostics) {
  const std::optional<std::string> text = ReadString(field, diagnostics);
  if (!text.has_value()) return "";
  const size_t colon = text->rfind(':');
  uint32_t port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(absl::string_view(*text).substr(colon + 1), &port) || port > 65535) {
    diagnostics.Error(field, absl::StrCat(DescribeValue(field.node),
                                          " is not a listen address; use HOST:PORT, such as "
                                          "127.0.0.1:50051, 0.0.0.0:9464 or [::1]:50051"));
    return "";
  }
  return *text;
}

}  // namespace

void ParseServerSection(const Field& section, ConfigDraft& draft, Diagnostics& diagnostics) {
  static constexpr std::array<absl::string_view, 2> kKeys = {"grpc_listen", "http_listen"};
  const std::optional<Mapping> server = ReadMapping(section, kKeys, diagnostics);
  if (!server.has_value()) return;
  if (auto field = server->Find("grpc_listen")) {
    draft.config.grpc_listen = ReadListenAddress(*field, diagnostics);
  }
  if (auto field = server->Find("http_listen")) {
    draft.config.http_listen = ReadListenAddress(*field, diagnostics);
  }
}

void ParseAcceptUnknownModels(const Field& section, ConfigDraft& draft, Diagnostics& diagnostics) {
  draft.accept_unknown_models = ReadBool(section, diagnostics);
  if (draft.accept_unknown_models.has_value()) {
    draft.config.registry.accept_unknown_models = *draft.accept_unknown_models;
  }
}

void ParseLimitsSection(const Field& section, ConfigDraft& draft, Diagnostics& diagnostics) {
  static constexpr std::array<absl::string_view, 2> kKeys = {"max_models", "max_versions"};
  const std::optional<Mapping> limits = ReadMapping(section, kKeys, diagnostics);
  if (!limits.has_value()) return;
  if (auto field = limits->Find("max_models")) {
    if (auto value = ReadInt(*field, 1, kMaxModelsLimit, diagnostics)) {
      draft.config.registry.max_models = static_cast<int>(*value);
    }
  }
  if (auto field = limits->Find("max_versions")) {
    if (auto value = ReadInt(*field, 1, kMaxVersionsLimit, diagnostics)) {
      draft.config.registry.max_versions = static_cast<int>(*value);
    }
  }
}

}  // namespace modelwatch::config
