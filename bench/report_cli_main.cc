// report_cli: reads a stream of evaluated (or unlabeled) predictions, ingests them through
// core::Registry (the daemon's own per-event path) and prints core::ComputeReport and
// core::ComputeConfidence of the counters as JSON. tests/core/report_oracle_test.py compares that
// JSON with scikit-learn on the same events.
//
// Input (stdin), whitespace separated:
//   first line:  <classes> [<calibration bins>]
//   then per event: <actual> <predicted> [<score of class 0> ... <score of class K-1>]
// `actual` is -1 for a prediction whose label is unknown. A line holds no scores or exactly one
// per class; scores are parsed as float, as they travel on the wire.
//
// Exit status: 0 with the JSON on stdout, 2 with a message on stderr for malformed input.

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/bucket_layout.h"
#include "core/model_spec.h"
#include "core/registry.h"
#include "core/reject_reason.h"
#include "core/report.h"

namespace modelwatch::core {
namespace {

struct Event {
  int actual = -1;
  int predicted = 0;
  std::vector<float> scores;  // empty, or one per class
};

// The events as columns of one group, as a model server would send them: the CLI feeds them
// through Registry::Ingest, so the report is computed from exactly the counters the daemon keeps.
struct Columns {
  std::vector<uint32_t> predicted;
  std::vector<int32_t> labels;
  std::vector<float> scores;

  void Add(const Event& e) {
    predicted.push_back(static_cast<uint32_t>(e.predicted));
    labels.push_back(e.actual);
    scores.insert(scores.end(), e.scores.begin(), e.scores.end());
  }
};

// Ingests `events` (all with scores, or all without) as one group; false when the registry
// rejected any of them, which would mean the CLI and the daemon disagree on what is valid.
bool IngestGroup(Registry& registry, const Columns& events, absl::Time now) {
  if (events.predicted.empty()) return true;
  GroupView group;
  group.model = "report_cli";
  group.predicted = events.predicted;
  group.inline_labels = events.labels;
  group.scores = events.scores;
  IngestTally tally;
  registry.Ingest(group, 0, now, tally);
  for (const IngestTally::Rejected& r : tally.rejected) {
    if (r.count > 0) std::cerr << "rejected by the registry: " << r.first_message << "\n";
  }
  return tally.TotalRejected() == 0;
}

std::vector<absl::string_view> Fields(const std::string& line) {
  return absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
}

absl::StatusOr<Event> ParseEvent(const std::string& line, int classes) {
  const std::vector<absl::string_view> f = Fields(line);
  Event e;
  if (f.size() < 2 || !absl::SimpleAtoi(f[0], &e.actual) || !absl::SimpleAtoi(f[1], &e.predicted)) {
    return absl::InvalidArgumentError("expected <actual> <predicted> [scores...]");
  }
  if (e.actual < -1 || e.actual >= classes || e.predicted < 0 || e.predicted >= classes) {
    return absl::InvalidArgumentError("class index out of range");
  }
  if (f.size() == 2) return e;
  if (f.size() != 2 + static_cast<size_t>(classes)) {
    return absl::InvalidArgumentError(absl::StrCat("expected ", classes, " scores"));
  }
  for (size_t i = 2; i < f.size(); ++i) {
    float s;
    if (!absl::SimpleAtof(f[i], &s) || !std::isfinite(s) || s < 0 || s > 1) {
      return absl::InvalidArgumentError(absl::StrCat("bad score '", f[i], "'"));
    }
    e.scores.push_back(s);
  }
  return e;
}

std::string Number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

std::string Number(const std::optional<double>& v) { return v ? Number(*v) : "null"; }

std::string Prf(const PrecisionRecallF1& p) {
  return absl::StrCat("{\"precision\": ", Number(p.precision), ", \"recall\": ", Number(p.recall),
                      ", \"f1\": ", Number(p.f1), "}");
}

template <typename T, typename Format>
std::string List(const std::vector<T>& items, Format format) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) absl::StrAppend(&out, i ? ", " : "", format(items[i]));
  return out + "]";
}

std::string ReportJson(const std::optional<ClassificationReport>& r) {
  if (!r) return "null";
  auto integer = [](auto v) { return absl::StrCat(v); };
  auto number = [](double v) { return Number(v); };
  return absl::StrCat(
      "{\"evaluated\": ", r->evaluated, ", \"classes\": ", List(r->classes, integer),
      ", \"per_class\": ", List(r->per_class, Prf), ", \"support\": ", List(r->support, integer),
      ", \"macro\": ", Prf(r->macro), ", \"micro\": ", Prf(r->micro),
      ", \"weighted\": ", Prf(r->weighted), ", \"accuracy\": ", Number(r->accuracy),
      ", \"balanced_accuracy\": ", Number(r->balanced_accuracy),
      ", \"cohen_kappa\": ", Number(r->cohen_kappa),
      ", \"matthews_corrcoef\": ", Number(r->matthews_corrcoef),
      ", \"log_loss\": ", Number(r->log_loss),
      ", \"expected_calibration_error\": ", Number(r->expected_calibration_error),
      ", \"brier\": ", List(r->brier, number), "}");
}

std::string ConfidenceJson(const std::optional<ConfidenceSummary>& c) {
  if (!c) return "null";
  return absl::StrCat("{\"scored\": ", c->scored,
                      ", \"mean_confidence\": ", Number(c->mean_confidence), "}");
}

int Run() {
  std::string line;
  int classes = 0, bins = 10;
  std::getline(std::cin, line);
  const std::vector<absl::string_view> header = Fields(line);
  if (header.empty() || header.size() > 2 || !absl::SimpleAtoi(header[0], &classes) ||
      classes < 1 || (header.size() == 2 && (!absl::SimpleAtoi(header[1], &bins) || bins < 1))) {
    std::cerr << "line 1: expected <classes> [<calibration bins>]\n";
    return 2;
  }

  ModelSpec spec;
  spec.name = "report_cli";
  for (int c = 0; c < classes; ++c) spec.classes.push_back(absl::StrCat("c", c));
  spec.calibration_bins = bins;
  Registry::Options options;
  options.accept_unknown_models = false;
  Registry registry({spec}, options);

  Columns scored, unscored;
  for (int line_number = 2; std::getline(std::cin, line); ++line_number) {
    if (Fields(line).empty()) continue;
    absl::StatusOr<Event> e = ParseEvent(line, classes);
    if (!e.ok()) {
      std::cerr << "line " << line_number << ": " << e.status().message() << "\n";
      return 2;
    }
    (e->scores.empty() ? unscored : scored).Add(*e);
  }
  const absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  if (!IngestGroup(registry, scored, now) || !IngestGroup(registry, unscored, now)) return 2;

  const Model& model = *registry.Models().front();
  const BucketLayout& layout = model.layout();
  const std::vector<const ModelVersion*> versions = model.Versions();
  const Counts counts =
      versions.empty() ? Counts::Zero(layout) : versions.front()->counters.Cumulative();
  std::cout << "{\"report\": " << ReportJson(ComputeReport(layout, counts))
            << ", \"confidence\": " << ConfidenceJson(ComputeConfidence(layout, counts)) << "}\n";
  return 0;
}

}  // namespace
}  // namespace modelwatch::core

int main() { return modelwatch::core::Run(); }
