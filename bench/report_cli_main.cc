// report_cli: reads a stream of evaluated (or unlabeled) predictions, accumulates them into one
// bucket with the daemon's per-event formulas and prints core::ComputeReport and
// core::ComputeConfidence as JSON. tests/core/report_oracle_test.py compares that JSON with
// scikit-learn on the same events.
//
// Input (stdin), whitespace separated:
//   first line:  <classes> [<calibration bins>]
//   then per event: <actual> <predicted> [<score of class 0> ... <score of class K-1>]
// `actual` is -1 for a prediction whose label is unknown. A line holds no scores or exactly one
// per class; scores are parsed as float, as they travel on the wire.
//
// Exit status: 0 with the JSON on stdout, 2 with a message on stderr for malformed input.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "core/bucket_layout.h"
#include "core/model_spec.h"
#include "core/report.h"

namespace modelwatch::core {
namespace {

struct Event {
  int actual = -1;
  int predicted = 0;
  std::vector<float> scores;  // empty, or one per class
};

// Adds one prediction (and its evaluation when `actual` is known) to `counts`: the per-event
// formulas of the ingest path.
void Accumulate(const BucketLayout& layout, const Event& e, Counts& counts) {
  counts.counts[layout.prediction(e.predicted)] += 1;
  if (e.actual >= 0) counts.counts[layout.confusion(e.actual, e.predicted)] += 1;
  if (e.scores.empty()) return;

  // The top score and its class, ties to the lowest index.
  int top_class = 0;
  for (size_t c = 1; c < e.scores.size(); ++c) {
    if (e.scores[c] > e.scores[top_class]) top_class = static_cast<int>(c);
  }
  const double top = e.scores[top_class];
  counts.counts[layout.scored()] += 1;
  counts.sums[layout.confidence_sum()] += top;
  if (layout.has_histograms()) {
    counts.counts[layout.confidence_histogram(layout.ScoreBin(top))] += 1;
    for (size_t c = 0; c < e.scores.size(); ++c) {
      counts.counts[layout.score_histogram(static_cast<int>(c), layout.ScoreBin(e.scores[c]))] += 1;
    }
  }
  if (e.actual < 0) return;
  counts.counts[layout.evaluated_scored()] += 1;

  // Log loss as sklearn's log_loss: clip every score to [eps, 1 - eps], normalize the row.
  const double eps = std::numeric_limits<double>::epsilon();
  double row_sum = 0;
  for (float s : e.scores) row_sum += std::clamp<double>(s, eps, 1 - eps);
  const double p_true = std::clamp<double>(e.scores[e.actual], eps, 1 - eps) / row_sum;
  counts.sums[layout.log_loss_sum()] += -std::log(p_true);

  // Brier, one-vs-rest per class, on the raw scores.
  for (size_t c = 0; c < e.scores.size(); ++c) {
    const double d = static_cast<double>(e.scores[c]) - (static_cast<int>(c) == e.actual ? 1 : 0);
    counts.sums[layout.brier_sum(static_cast<int>(c))] += d * d;
  }

  // Calibration of the top score: right when the top class is the true class.
  const int bin = layout.CalibrationBin(top);
  counts.counts[layout.calibration_count(bin)] += 1;
  if (top_class == e.actual) counts.counts[layout.calibration_correct(bin)] += 1;
  counts.sums[layout.calibration_confidence_sum(bin)] += top;
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
  const BucketLayout layout(spec);
  Counts counts = Counts::Zero(layout);

  for (int line_number = 2; std::getline(std::cin, line); ++line_number) {
    if (Fields(line).empty()) continue;
    absl::StatusOr<Event> e = ParseEvent(line, classes);
    if (!e.ok()) {
      std::cerr << "line " << line_number << ": " << e.status().message() << "\n";
      return 2;
    }
    Accumulate(layout, *e, counts);
  }

  std::cout << "{\"report\": " << ReportJson(ComputeReport(layout, counts))
            << ", \"confidence\": " << ConfidenceJson(ComputeConfidence(layout, counts)) << "}\n";
  return 0;
}

}  // namespace
}  // namespace modelwatch::core

int main() { return modelwatch::core::Run(); }
