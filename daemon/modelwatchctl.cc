// modelwatchctl: config tooling that starts nothing.
//
//   modelwatchctl validate --config FILE
//   modelwatchctl rules --config FILE [--out FILE] [--format prometheus|kubernetes]
//
// Exit status: 0 on success, 1 when the config is invalid or a file cannot be read or written,
// 2 on a usage error.

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <system_error>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "config/alerts.h"
#include "config/config.h"
#include "config/rules.h"

ABSL_FLAG(std::string, config, "", "Path of the modelwatch YAML config to read (required).");
ABSL_FLAG(std::string, out, "",
          "rules: file to write the rules to (replaced atomically); standard output when empty.");
ABSL_FLAG(std::string, format, "prometheus",
          "rules: `prometheus` for a rule file (prometheus.yml rule_files, promtool check rules) "
          "or `kubernetes` for a PrometheusRule object of the Prometheus Operator.");
ABSL_FLAG(std::string, kubernetes_name, "modelwatch",
          "rules --format kubernetes: metadata.name of the PrometheusRule.");
ABSL_FLAG(std::string, kubernetes_namespace, "",
          "rules --format kubernetes: metadata.namespace of the PrometheusRule (omitted when "
          "empty).");

namespace modelwatch {
namespace {

constexpr char kUsage[] =
    "Checks a modelwatch config and generates Prometheus rules from it; starts nothing.\n"
    "\n"
    "  modelwatchctl validate --config FILE\n"
    "      Checks the config completely, including its alerts, and prints a summary. Exits 1\n"
    "      with every error (file:line:column: field: what is allowed) when it is invalid.\n"
    "\n"
    "  modelwatchctl rules --config FILE [--out FILE] [--format prometheus|kubernetes]\n"
    "      Writes the recording rules (fleet-wide quality summed across replicas) and the\n"
    "      alerting rules of the config's `alerts:` section.\n"
    "\n"
    "Exit status: 0 on success, 1 for an invalid config or an I/O error, 2 for a usage error.";

int UsageError(absl::string_view message) {
  std::cerr << "modelwatchctl: " << message << "\nRun modelwatchctl --help for usage.\n";
  return 2;
}

int Fail(const absl::Status& status) {
  std::cerr << status.message() << "\n";
  return 1;
}

// Writes `text` to `path` through a temporary file and a rename, so a reader (Prometheus
// reloading its rules) never sees half a file.
absl::Status WriteFileAtomically(const std::string& path, const std::string& text) {
  const std::string temporary = absl::StrCat(path, ".tmp");
  {
    std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
    file << text;
    file.close();
    if (!file) return absl::UnavailableError(absl::StrCat("cannot write ", temporary));
  }
  std::error_code error;
  std::filesystem::rename(temporary, path, error);
  if (error) {
    return absl::UnavailableError(
        absl::StrCat("cannot rename ", temporary, " to ", path, ": ", error.message()));
  }
  return absl::OkStatus();
}

int Validate(const config::Config& config) {
  std::cout << config.source << ": valid; " << config.models.size() << " models, "
            << config.alerts.size() << " alerts, accept_unknown_models="
            << (config.registry.accept_unknown_models ? "true" : "false")
            << ", sha256=" << config.hash << "\n";
  return 0;
}

int Rules(const config::Config& config) {
  config::RuleOptions options;
  const std::string format = absl::GetFlag(FLAGS_format);
  if (format == "kubernetes") {
    options.format = config::RuleOptions::Format::kKubernetes;
  } else if (format != "prometheus") {
    return UsageError(absl::StrCat("--format=", format, " is not prometheus or kubernetes"));
  }
  options.kubernetes_name = absl::GetFlag(FLAGS_kubernetes_name);
  options.kubernetes_namespace = absl::GetFlag(FLAGS_kubernetes_namespace);

  const absl::StatusOr<std::string> rules = config::GenerateRules(config, options);
  if (!rules.ok()) return Fail(rules.status());
  const std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) {
    std::cout << *rules;
    return 0;
  }
  if (absl::Status written = WriteFileAtomically(out, *rules); !written.ok()) return Fail(written);
  return 0;
}

int Main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  const std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() != 2) return UsageError("expected one command: validate or rules");
  const std::string command = args[1];
  if (command != "validate" && command != "rules") {
    return UsageError(absl::StrCat("unknown command \"", command, "\"; use validate or rules"));
  }
  const std::string path = absl::GetFlag(FLAGS_config);
  if (path.empty()) return UsageError("--config=FILE is required");

  const absl::StatusOr<config::Config> config = config::LoadConfigFile(path);
  if (!config.ok()) return Fail(config.status());
  return command == "validate" ? Validate(*config) : Rules(*config);
}

}  // namespace
}  // namespace modelwatch

int main(int argc, char** argv) { return modelwatch::Main(argc, argv); }
