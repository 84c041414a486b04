#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "core/bucket_layout.h"

namespace modelwatch::core {

// Precision, recall and F1 of one class (or one average).
struct PrecisionRecallF1 {
  double precision = 0;
  double recall = 0;
  double f1 = 0;
};

// The classification report of one window (or of everything since start), computed from summed
// counters exactly as scikit-learn 1.2 computes it from the same events:
//
// - Classes (sklearn's labels=None): the report covers the classes that occur as a true or a
//   predicted class among the evaluated predictions, not every class the model could emit. A
//   class the model never predicted and never saw as a label in the window has no row, and does
//   not dilute the macro average or the balanced accuracy.
// - Zero division (sklearn's zero_division=0): a class never predicted has precision 0, a class
//   never true (only predicted) has recall 0 and support 0, and F1 is 0 when precision + recall
//   is 0. These zeros do count in the macro average, as in sklearn.
// - precision_recall_fscore_support with average None, "macro", "micro" and "weighted"
//   (weighted by support); accuracy_score; balanced_accuracy_score (the mean recall over the
//   classes with support: a class that is only predicted is dropped from the mean, as sklearn
//   drops its NaN with a warning); cohen_kappa_score; matthews_corrcoef (multiclass formula, 0
//   when its denominator is 0).
// - Over the evaluated predictions that carried scores: log_loss with labels = every model
//   class (each row clipped to [eps, 1 - eps] with eps the float64 epsilon, then normalized to
//   sum 1; the per-event term is summed at ingest), brier_score_loss of each class one-vs-rest
//   on the raw scores, and the expected calibration error sum_b (n_b / n) |acc_b - conf_b| over
//   equal-width bins of the top score, where acc_b is the share of the bin's predictions whose
//   highest-scoring class (lowest index on ties) is the true class and conf_b its mean top score.
struct ClassificationReport {
  // Evaluated predictions (those with a known label).
  uint64_t evaluated = 0;
  // Indices of the classes in the report, ascending: those that occur as a true or predicted
  // class among the evaluated predictions.
  std::vector<int> classes;
  // Parallel to `classes`.
  std::vector<PrecisionRecallF1> per_class;
  std::vector<uint64_t> support;
  PrecisionRecallF1 macro, micro, weighted;
  double accuracy = 0;
  double balanced_accuracy = 0;
  // Absent when the report has a single class: sklearn's kappa is then 0/0 (NaN).
  std::optional<double> cohen_kappa;
  double matthews_corrcoef = 0;

  // Present when some evaluated predictions carried scores (computed over those only).
  std::optional<double> log_loss;
  std::optional<double> expected_calibration_error;
  // Parallel to `classes`; empty when no evaluated prediction carried scores.
  std::vector<double> brier;
};

// Label-free quality estimates, defined as soon as scored predictions arrive.
struct ConfidenceSummary {
  uint64_t scored = 0;
  // Mean of the top score: the accuracy a calibrated model expects to have.
  double mean_confidence = 0;
};

// The report for `counts`, or nullopt when nothing in it was evaluated. `counts` must be laid
// out by `layout` (a sum of buckets of the same model, or Counts::Zero(layout) plus additions);
// counts of another shape also give nullopt rather than reading out of bounds. A pure function:
// thread-safe, costs O(classes^2 + calibration bins) and O(classes) memory. Runs at
// scrape time, never on the per-event path.
std::optional<ClassificationReport> ComputeReport(const BucketLayout& layout, const Counts& counts);

// The confidence summary, or nullopt when no prediction carried scores (or `counts` is not laid
// out by `layout`). A pure function, O(1).
std::optional<ConfidenceSummary> ComputeConfidence(const BucketLayout& layout,
                                                   const Counts& counts);

}  // namespace modelwatch::core
