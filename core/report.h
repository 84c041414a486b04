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
// counters exactly as scikit-learn computes it from the same events:
// classification_report / precision_recall_fscore_support with labels=None (the classes that
// occur as a true or a predicted class), zero_division=0, confusion_matrix,
// balanced_accuracy_score, cohen_kappa_score, matthews_corrcoef, log_loss (labels = every model
// class, scores clipped to [eps, 1-eps] and normalized per row), brier_score_loss per class
// (one-vs-rest), and expected calibration error over equal-width bins of the top score.
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
  double cohen_kappa = 0;
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

// The report for `counts`, or nullopt when nothing in it was evaluated. Costs O(classes^2).
std::optional<ClassificationReport> ComputeReport(const BucketLayout& layout, const Counts& counts);

// The confidence summary, or nullopt when no prediction carried scores.
std::optional<ConfidenceSummary> ComputeConfidence(const BucketLayout& layout,
                                                   const Counts& counts);

}  // namespace modelwatch::core
