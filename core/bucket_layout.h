#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/model_spec.h"

namespace modelwatch::core {

// Where each counter of a model's time bucket lives. A bucket is one flat array of 64-bit slots:
// first the integer counts, then the floating-point sums. The layout is fixed when the model is
// created (from its class capacity, calibration bins, score bins and features) and shared by
// every bucket of the model, so adding two buckets is a loop over two arrays.
//
// The distribution histograms (per-class score, confidence and feature histograms) are what drift
// statistics are computed from. has_histograms() says whether they have slots; when it is false
// they take none, the ingest path skips them, and their accessors must not be called (the slot
// they return belongs to another counter).
//
// Immutable after construction; thread-safe. Every accessor is a multiply-add.
class BucketLayout {
 public:
  explicit BucketLayout(const ModelSpec& spec);

  int num_classes() const { return num_classes_; }
  int calibration_bins() const { return calibration_bins_; }
  int score_bins() const { return score_bins_; }
  int num_features() const { return static_cast<int>(feature_bins_.size()); }
  int feature_bins(int f) const { return feature_bins_[f]; }
  // Whether the score, confidence and feature histograms have slots.
  bool has_histograms() const { return has_histograms_; }

  // Integer counts.
  // Predictions by predicted class, with or without a label.
  size_t prediction(int predicted) const { return predictions_ + predicted; }
  // Evaluated predictions (those whose label is known), by true and predicted class.
  size_t confusion(int actual, int predicted) const {
    return confusion_ + static_cast<size_t>(actual) * num_classes_ + predicted;
  }
  // Predictions that carried scores.
  size_t scored() const { return scored_; }
  // Evaluated predictions that carried scores.
  size_t evaluated_scored() const { return evaluated_scored_; }
  // Evaluated scored predictions by calibration bin of their top score, and how many of those
  // were right.
  size_t calibration_count(int bin) const { return calibration_count_ + bin; }
  size_t calibration_correct(int bin) const { return calibration_correct_ + bin; }
  // Histogram of each class's score over all scored predictions (only with has_histograms()).
  size_t score_histogram(int cls, int bin) const {
    return score_histogram_ + static_cast<size_t>(cls) * score_bins_ + bin;
  }
  // Histogram of the top score over all scored predictions (only with has_histograms()).
  size_t confidence_histogram(int bin) const { return confidence_histogram_ + bin; }
  // Histogram of each feature's values (only with has_histograms()).
  size_t feature_histogram(int feature, int bin) const { return feature_offsets_[feature] + bin; }
  // Predictions that carried an id (candidates for a join), and joins made (counted when the
  // later of prediction and label arrives).
  size_t with_id() const { return with_id_; }
  size_t joined() const { return joined_; }
  size_t num_counts() const { return num_counts_; }

  // Floating-point sums; the index is into the sums part, after the counts.
  // Sum of the top score over all scored predictions (for the label-free accuracy estimate).
  size_t confidence_sum() const { return 0; }
  // Sum over evaluated scored predictions of -log(p[true class]), scores clipped and normalized
  // as scikit-learn's log_loss does.
  size_t log_loss_sum() const { return 1; }
  // Per class, sum over evaluated scored predictions of (p[class] - [true == class])^2.
  size_t brier_sum(int cls) const { return 2 + cls; }
  // Per calibration bin, sum of the top score of its evaluated scored predictions.
  size_t calibration_confidence_sum(int bin) const { return 2 + num_classes_ + bin; }
  size_t num_sums() const { return num_sums_; }

  // Which calibration or score bin a value in [0, 1] falls in (1.0 falls in the last bin).
  int CalibrationBin(double p) const { return EqualWidthBin(p, calibration_bins_); }
  int ScoreBin(double p) const { return EqualWidthBin(p, score_bins_); }
  // Which of `bins` equal-width bins of [0, 1] a value falls in, clamped to the first and last.
  static int EqualWidthBin(double p, int bins) {
    int b = static_cast<int>(p * bins);
    return b < 0 ? 0 : (b >= bins ? bins - 1 : b);
  }

 private:
  int num_classes_;
  int calibration_bins_;
  int score_bins_;
  bool has_histograms_;
  std::vector<int> feature_bins_;
  std::vector<size_t> feature_offsets_;
  size_t predictions_, confusion_, scored_, evaluated_scored_, calibration_count_,
      calibration_correct_, score_histogram_, confidence_histogram_, with_id_, joined_;
  size_t num_counts_;
  size_t num_sums_;
};

// A plain copy of one or more buckets, summed: what readers compute reports from. Not
// thread-safe; cheap to move.
struct Counts {
  std::vector<uint64_t> counts;
  std::vector<double> sums;

  static Counts Zero(const BucketLayout& layout) {
    return Counts{std::vector<uint64_t>(layout.num_counts()),
                  std::vector<double>(layout.num_sums())};
  }
  void Add(const Counts& other);
  uint64_t count(size_t slot) const { return counts[slot]; }
  double sum(size_t slot) const { return sums[slot]; }
};

}  // namespace modelwatch::core
