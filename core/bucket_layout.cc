#include "core/bucket_layout.h"

namespace modelwatch::core {

BucketLayout::BucketLayout(const ModelSpec& spec)
    : num_classes_(spec.ClassCapacity()),
      calibration_bins_(spec.calibration_bins),
      score_bins_(spec.score_bins),
      // Distribution histograms feed only drift statistics, so only drift models pay for them.
      has_histograms_(spec.drift.enabled()) {
  const size_t k = static_cast<size_t>(num_classes_);
  size_t next = 0;
  auto take = [&next](size_t n) {
    size_t at = next;
    next += n;
    return at;
  };
  predictions_ = take(k);
  confusion_ = take(k * k);
  scored_ = take(1);
  evaluated_scored_ = take(1);
  calibration_count_ = take(calibration_bins_);
  calibration_correct_ = take(calibration_bins_);
  const size_t score_bins = has_histograms_ ? static_cast<size_t>(score_bins_) : 0;
  score_histogram_ = take(k * score_bins);
  confidence_histogram_ = take(score_bins);
  with_id_ = take(1);
  joined_ = take(1);
  for (const FeatureSpec& f : spec.features) {
    int bins = static_cast<int>(f.edges.size()) + 1;
    feature_bins_.push_back(bins);
    feature_offsets_.push_back(take(has_histograms_ ? bins : 0));
  }
  num_counts_ = next;
  num_sums_ = 2 + k + calibration_bins_;
}

void Counts::Add(const Counts& other) {
  for (size_t i = 0; i < counts.size(); ++i) counts[i] += other.counts[i];
  for (size_t i = 0; i < sums.size(); ++i) sums[i] += other.sums[i];
}

}  // namespace modelwatch::core
