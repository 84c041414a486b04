#include "core/report.h"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace modelwatch::core {
namespace {

// The sufficient statistics of the confusion matrix: its row sums (support), column sums
// (predictions), diagonal and total, indexed by model class.
struct Margins {
  std::vector<uint64_t> true_sum;
  std::vector<uint64_t> pred_sum;
  std::vector<uint64_t> tp;
  uint64_t correct = 0;
  uint64_t total = 0;
};

bool LaidOutBy(const BucketLayout& layout, const Counts& counts) {
  return counts.counts.size() == layout.num_counts() && counts.sums.size() == layout.num_sums();
}

Margins MarginsOf(const BucketLayout& layout, const Counts& counts) {
  const int k = layout.num_classes();
  Margins m{std::vector<uint64_t>(k), std::vector<uint64_t>(k), std::vector<uint64_t>(k)};
  for (int actual = 0; actual < k; ++actual) {
    for (int predicted = 0; predicted < k; ++predicted) {
      const uint64_t n = counts.count(layout.confusion(actual, predicted));
      m.true_sum[actual] += n;
      m.pred_sum[predicted] += n;
      m.total += n;
    }
    m.tp[actual] = counts.count(layout.confusion(actual, actual));
    m.correct += m.tp[actual];
  }
  return m;
}

// sklearn's _prf_divide with zero_division=0.
double DivideOrZero(uint64_t numerator, uint64_t denominator) {
  return denominator == 0 ? 0.0 : static_cast<double>(numerator) / static_cast<double>(denominator);
}

// F1 from precision and recall as sklearn computes it: 2PR / (P + R), 0 when P + R is 0.
double F1(double precision, double recall) {
  const double denom = precision + recall;
  return denom == 0 ? 0.0 : 2 * precision * recall / denom;
}

void FillPerClassAndAverages(const Margins& m, ClassificationReport& r) {
  const double n = static_cast<double>(m.total);
  double sum_p = 0, sum_r = 0, sum_f = 0, wsum_p = 0, wsum_r = 0, wsum_f = 0;
  for (int c : r.classes) {
    PrecisionRecallF1 prf;
    prf.precision = DivideOrZero(m.tp[c], m.pred_sum[c]);
    prf.recall = DivideOrZero(m.tp[c], m.true_sum[c]);
    prf.f1 = F1(prf.precision, prf.recall);
    r.per_class.push_back(prf);
    r.support.push_back(m.true_sum[c]);

    const double w = static_cast<double>(m.true_sum[c]);
    sum_p += prf.precision;
    sum_r += prf.recall;
    sum_f += prf.f1;
    wsum_p += w * prf.precision;
    wsum_r += w * prf.recall;
    wsum_f += w * prf.f1;
  }

  // Macro: the unweighted mean over the report's classes, zeros included.
  const double classes = static_cast<double>(r.classes.size());
  r.macro = {sum_p / classes, sum_r / classes, sum_f / classes};

  // Weighted by support; the supports sum to n, which is positive here.
  r.weighted = {wsum_p / n, wsum_r / n, wsum_f / n};

  // Micro: every evaluated prediction is one true and one predicted class of the report, so
  // micro precision and micro recall both equal the accuracy.
  r.accuracy = static_cast<double>(m.correct) / n;
  r.micro = {r.accuracy, r.accuracy, F1(r.accuracy, r.accuracy)};
}

void FillAgreement(const Margins& m, ClassificationReport& r) {
  const double n = static_cast<double>(m.total);

  // Balanced accuracy: mean recall over the classes that have support.
  double recall_sum = 0;
  int with_support = 0;
  for (size_t i = 0; i < r.classes.size(); ++i) {
    if (r.support[i] == 0) continue;
    recall_sum += r.per_class[i].recall;
    ++with_support;
  }
  r.balanced_accuracy = recall_sum / with_support;

  // Kappa and MCC need n^2 - t.p, n^2 - p.p and n^2 - t.t (t, p: true and predicted margins).
  // Since the margins sum to n, n^2 - a.b = sum_i a_i (n - b_i): a sum of non-negative terms,
  // which stays accurate in a window of billions of events where n^2 - a.b would cancel.
  double n2_minus_tp = 0, n2_minus_pp = 0, n2_minus_tt = 0;
  for (int c : r.classes) {
    const double t = static_cast<double>(m.true_sum[c]);
    const double p = static_cast<double>(m.pred_sum[c]);
    n2_minus_tp += t * static_cast<double>(m.total - m.pred_sum[c]);
    n2_minus_pp += p * static_cast<double>(m.total - m.pred_sum[c]);
    n2_minus_tt += t * static_cast<double>(m.total - m.true_sum[c]);
  }
  const double wrong = static_cast<double>(m.total - m.correct);

  // Cohen's kappa: 1 - observed disagreement / disagreement expected by chance. The expected
  // disagreement, sum over i != j of pred_i * true_j / n = (n^2 - t.p) / n, is 0 exactly when
  // one class holds every evaluated prediction (a second class would be someone's true or
  // predicted class), where sklearn's kappa is 0/0.
  if (r.classes.size() >= 2) r.cohen_kappa = 1 - wrong / (n2_minus_tp / n);

  // Matthews correlation, multiclass form: (correct n - t.p) / sqrt((n^2 - t.t)(n^2 - p.p)).
  const double cov_ytyp = n2_minus_tp - n * wrong;
  r.matthews_corrcoef =
      n2_minus_pp * n2_minus_tt == 0 ? 0.0 : cov_ytyp / std::sqrt(n2_minus_tt * n2_minus_pp);
}

void FillScoreMetrics(const BucketLayout& layout, const Counts& counts, ClassificationReport& r) {
  const uint64_t scored = counts.count(layout.evaluated_scored());
  if (scored == 0) return;
  const double n = static_cast<double>(scored);

  r.log_loss = counts.sum(layout.log_loss_sum()) / n;
  for (int c : r.classes) r.brier.push_back(counts.sum(layout.brier_sum(c)) / n);

  double ece = 0;
  for (int b = 0; b < layout.calibration_bins(); ++b) {
    const uint64_t in_bin = counts.count(layout.calibration_count(b));
    if (in_bin == 0) continue;
    const double nb = static_cast<double>(in_bin);
    const double accuracy = static_cast<double>(counts.count(layout.calibration_correct(b))) / nb;
    const double confidence = counts.sum(layout.calibration_confidence_sum(b)) / nb;
    ece += nb / n * std::fabs(accuracy - confidence);
  }
  r.expected_calibration_error = ece;
}

}  // namespace

std::optional<ClassificationReport> ComputeReport(const BucketLayout& layout,
                                                  const Counts& counts) {
  if (!LaidOutBy(layout, counts)) return std::nullopt;
  const Margins m = MarginsOf(layout, counts);
  if (m.total == 0) return std::nullopt;

  ClassificationReport r;
  r.evaluated = m.total;
  for (int c = 0; c < layout.num_classes(); ++c) {
    if (m.true_sum[c] != 0 || m.pred_sum[c] != 0) r.classes.push_back(c);
  }

  FillPerClassAndAverages(m, r);
  FillAgreement(m, r);
  FillScoreMetrics(layout, counts, r);
  return r;
}

std::optional<ConfidenceSummary> ComputeConfidence(const BucketLayout& layout,
                                                   const Counts& counts) {
  if (!LaidOutBy(layout, counts)) return std::nullopt;
  const uint64_t scored = counts.count(layout.scored());
  if (scored == 0) return std::nullopt;
  return ConfidenceSummary{scored,
                           counts.sum(layout.confidence_sum()) / static_cast<double>(scored)};
}

}  // namespace modelwatch::core
