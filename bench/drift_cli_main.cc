// drift_cli: computes the drift statistics of core/drift_stats.h for histograms read from stdin,
// one JSON object per input line on stdout. It exists so tests can compare the statistics with
// scipy's on the same numbers.
//
// --mode=drift (default): each line is "reference counts / current counts [/ bin centers]",
// numbers separated by spaces, for example "10 20 30 / 12 18 30 / 0.5 1.5 2.5". The output is
// {"drift": {...}} with every statistic, {"drift": null} below --min_samples, or
// {"error": "..."} for an invalid line.
//
// --mode=kolmogorov: each line is a list of z values; the output is {"sf": [...]} with
// KolmogorovSurvival(z) for each.

#include <cmath>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "core/drift_stats.h"

ABSL_FLAG(std::string, mode, "drift", "drift: histograms in; kolmogorov: z values in");
ABSL_FLAG(double, min_samples, 100, "DriftOptions::min_samples");

namespace modelwatch::core {
namespace {

// Text that reads back as the same double; JSON has no infinities, so those become null (no
// statistic is ever infinite, and a test reading null fails loudly).
std::string Number(double x) {
  return std::isfinite(x) ? absl::StrFormat("%.17g", x) : std::string("null");
}

std::string JsonString(absl::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

absl::StatusOr<std::vector<double>> ParseNumbers(absl::string_view text) {
  std::vector<double> numbers;
  for (absl::string_view token : absl::StrSplit(text, ' ', absl::SkipWhitespace())) {
    double x;
    if (!absl::SimpleAtod(token, &x)) {
      return absl::InvalidArgumentError(absl::StrCat("not a number: ", token));
    }
    numbers.push_back(x);
  }
  return numbers;
}

std::string DriftJson(const DriftStatistics& d) {
  const std::string wasserstein = d.wasserstein_distance ? Number(*d.wasserstein_distance) : "null";
  return absl::StrCat(
      "{\"psi\": ", Number(d.population_stability_index), ", \"kl\": ", Number(d.kl_divergence),
      ", \"js\": ", Number(d.jensen_shannon_distance),
      ", \"hellinger\": ", Number(d.hellinger_distance), ", \"tv\": ", Number(d.total_variation),
      ", \"linf\": ", Number(d.linf_distance), ", \"wasserstein\": ", wasserstein,
      ", \"chi2\": {\"statistic\": ", Number(d.chi_square.statistic),
      ", \"dof\": ", d.chi_square.degrees_of_freedom,
      ", \"p_value\": ", Number(d.chi_square.p_value),
      "}, \"ks\": {\"statistic\": ", Number(d.kolmogorov_smirnov.statistic),
      ", \"p_value\": ", Number(d.kolmogorov_smirnov.p_value),
      ", \"effective_samples\": ", Number(d.kolmogorov_smirnov.effective_samples), "}}");
}

std::string DriftLine(absl::string_view line, const DriftOptions& options) {
  std::vector<absl::string_view> parts = absl::StrSplit(line, '/');
  if (parts.size() < 2 || parts.size() > 3) {
    return "{\"error\": \"want: reference counts / current counts [/ centers]\"}";
  }
  std::vector<std::vector<double>> columns;
  for (absl::string_view part : parts) {
    absl::StatusOr<std::vector<double>> numbers = ParseNumbers(part);
    if (!numbers.ok())
      return absl::StrCat("{\"error\": ", JsonString(numbers.status().message()), "}");
    columns.push_back(*std::move(numbers));
  }
  const std::vector<double> no_centers;
  absl::StatusOr<BinnedDistributions> bins = BinnedDistributions::Create(
      columns[0], columns[1], columns.size() == 3 ? columns[2] : no_centers);
  if (!bins.ok()) return absl::StrCat("{\"error\": ", JsonString(bins.status().message()), "}");
  std::optional<DriftStatistics> drift = ComputeDrift(*bins, options);
  return absl::StrCat("{\"drift\": ", drift ? DriftJson(*drift) : "null", "}");
}

std::string KolmogorovLine(absl::string_view line) {
  absl::StatusOr<std::vector<double>> z = ParseNumbers(line);
  if (!z.ok()) return absl::StrCat("{\"error\": ", JsonString(z.status().message()), "}");
  std::vector<std::string> sf;
  for (double x : *z) sf.push_back(Number(KolmogorovSurvival(x)));
  return absl::StrCat("{\"sf\": [", absl::StrJoin(sf, ", "), "]}");
}

}  // namespace
}  // namespace modelwatch::core

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Reads histograms from stdin and prints their drift statistics");
  absl::ParseCommandLine(argc, argv);
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode != "drift" && mode != "kolmogorov") {
    std::cerr << "drift_cli: --mode must be drift or kolmogorov, not " << mode << "\n";
    return 2;
  }
  const modelwatch::core::DriftOptions options{.min_samples = absl::GetFlag(FLAGS_min_samples)};

  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::cout << (mode == "drift" ? modelwatch::core::DriftLine(line, options)
                                  : modelwatch::core::KolmogorovLine(line))
              << "\n";
  }
  return 0;
}
