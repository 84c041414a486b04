#include "core/change_detectors.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace modelwatch::core {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

// 2^level as a double; levels stay far below 64 (a level holds 2^level values).
double BucketSize(size_t level) { return static_cast<double>(uint64_t{1} << level); }

}  // namespace

absl::StatusOr<Adwin> Adwin::Create(const AdwinOptions& options) {
  if (!(options.delta > 0 && options.delta < 1)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("ADWIN delta is %g: it must lie in (0, 1)", options.delta));
  }
  if (options.max_buckets < 1 || options.clock < 1 || options.min_window_length < 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "ADWIN max_buckets (%d), clock (%d) and min_window_length (%d) must be at least 1",
        options.max_buckets, options.clock, options.min_window_length));
  }
  if (options.grace_period < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("ADWIN grace_period is %d: it must not be negative", options.grace_period));
  }
  return Adwin(options);
}

bool Adwin::Update(double x) {
  if (!std::isfinite(x)) {
    ++ignored_;
    return false;
  }
  Insert(x);

  ++ticks_;
  if (ticks_ % options_.clock != 0 || width_ <= options_.grace_period) return false;
  bool detected = false;
  while (CutOnce()) detected = true;
  if (detected) ++detections_;
  return detected;
}

int Adwin::num_buckets() const {
  size_t n = 0;
  for (const std::vector<Bucket>& level : levels_) n += level.size();
  return static_cast<int>(n);
}

void Adwin::Insert(double x) {
  // The window's sum of squared deviations grows by w / (w + 1) * (x - old mean)^2.
  if (width_ > 0) {
    const double w = static_cast<double>(width_);
    const double d = x - total_ / w;
    squared_deviations_ += w * d * d / (w + 1);
  }
  ++width_;
  total_ += x;

  if (levels_.empty()) levels_.emplace_back().reserve(options_.max_buckets + 1);
  levels_[0].push_back(Bucket{x, 0});
  MergeFullLevels();
}

void Adwin::MergeFullLevels() {
  const size_t max = static_cast<size_t>(options_.max_buckets);
  for (size_t level = 0; level < levels_.size() && levels_[level].size() > max; ++level) {
    // The two oldest buckets of this level become the newest of the next: they are newer than
    // everything already there.
    const Bucket& a = levels_[level][0];
    const Bucket& b = levels_[level][1];
    const double n = BucketSize(level);
    const double d = (a.total - b.total) / n;
    const Bucket merged{a.total + b.total,
                        a.squared_deviations + b.squared_deviations + n / 2 * d * d};
    levels_[level].erase(levels_[level].begin(), levels_[level].begin() + 2);
    if (level + 1 == levels_.size()) levels_.emplace_back().reserve(max + 1);
    levels_[level + 1].push_back(merged);
  }
}

void Adwin::DropOldestBucket() {
  while (!levels_.empty() && levels_.back().empty()) levels_.pop_back();
  if (levels_.empty()) return;

  const Bucket oldest = levels_.back().front();
  const double n = BucketSize(levels_.size() - 1);
  levels_.back().erase(levels_.back().begin());
  if (levels_.back().empty()) levels_.pop_back();

  // Removing a run of n values with mean mu_b from a window leaving w values with mean mu_w
  // takes away its own squared deviations plus n w / (n + w) (mu_b - mu_w)^2.
  width_ -= static_cast<int64_t>(n);
  total_ -= oldest.total;
  if (width_ <= 0) {
    width_ = 0;
    total_ = 0;
    squared_deviations_ = 0;
    return;
  }
  const double w = static_cast<double>(width_);
  const double d = oldest.total / n - total_ / w;
  squared_deviations_ -= oldest.squared_deviations + n * w / (n + w) * d * d;
  squared_deviations_ = std::max(0.0, squared_deviations_);
}

bool Adwin::CutOnce() {
  // Walk the bucket boundaries from the oldest value to the newest, moving each bucket from the
  // newer part W1 to the older part W0. The last boundary (W1 empty) is not a split.
  double n0 = 0, total0 = 0;
  double n1 = static_cast<double>(width_), total1 = total_;
  const double log_term = std::log(2.0 * std::log(n1) / options_.delta);
  const double window_variance = variance();
  for (size_t level = levels_.size(); level-- > 0;) {
    const double size = BucketSize(level);
    for (const Bucket& bucket : levels_[level]) {
      n0 += size;
      total0 += bucket.total;
      n1 -= size;
      total1 -= bucket.total;
      if (n1 <= 0) return false;
      if (n0 < options_.min_window_length || n1 < options_.min_window_length) continue;
      if (SplitDiffers(n0, n1, total0, total1, log_term, window_variance)) {
        DropOldestBucket();
        return true;
      }
    }
  }
  return false;
}

bool Adwin::SplitDiffers(double n0, double n1, double total0, double total1, double log_term,
                         double variance) const {
  // The cut holds when |mean0 - mean1| > sqrt(2 variance log_term iv) + 2/3 log_term iv, with
  // iv = 1/a + 1/b, a = n0 - min + 1, b = n1 - min + 1. Written with two divisions instead of
  // four, and the square root as a comparison of squares (both sides are non-negative once the
  // difference exceeds the second term): this runs for every bucket boundary of every sweep.
  const double min_length = options_.min_window_length;
  const double a = n0 - min_length + 1;
  const double b = n1 - min_length + 1;
  const double inverse_m = (a + b) / (a * b);
  const double difference = std::abs(total0 * n1 - total1 * n0) / (n0 * n1);
  const double excess = difference - 2.0 / 3.0 * log_term * inverse_m;
  return excess > 0 && excess * excess > 2.0 * inverse_m * variance * log_term;
}

absl::StatusOr<PageHinkley> PageHinkley::Create(const PageHinkleyOptions& options) {
  if (options.min_instances < 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "Page-Hinkley min_instances is %d: it must be at least 1", options.min_instances));
  }
  if (!std::isfinite(options.delta) || options.delta < 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "Page-Hinkley delta is %g: it must be finite and non-negative", options.delta));
  }
  if (!std::isfinite(options.threshold) || options.threshold <= 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "Page-Hinkley threshold is %g: it must be finite and positive", options.threshold));
  }
  if (!(options.alpha > 0 && options.alpha <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("Page-Hinkley alpha is %g: it must lie in (0, 1]", options.alpha));
  }
  return PageHinkley(options);
}

void PageHinkley::Reset() {
  count_ = 0;
  mean_ = 0;
  up_ = 0;
  down_ = 0;
  min_up_ = kInfinity;
  max_down_ = -kInfinity;
  reset_pending_ = false;
}

bool PageHinkley::Update(double x) {
  if (!std::isfinite(x)) {
    ++ignored_;
    return false;
  }
  if (reset_pending_) Reset();

  // The reciprocal does not depend on the mean, so the division stays off the chain of updates
  // that runs from one value's mean to the next.
  ++count_;
  const double inverse_count = 1.0 / static_cast<double>(count_);
  mean_ += (x - mean_) * inverse_count;
  const double deviation = x - mean_;
  up_ = options_.alpha * up_ + deviation - options_.delta;
  down_ = options_.alpha * down_ + deviation + options_.delta;
  min_up_ = std::min(min_up_, up_);
  max_down_ = std::max(max_down_, down_);
  if (count_ < options_.min_instances) return false;

  using Direction = PageHinkleyOptions::Direction;
  const bool up = options_.direction != Direction::kDown && up_ - min_up_ > options_.threshold;
  const bool down = options_.direction != Direction::kUp && max_down_ - down_ > options_.threshold;
  if (!up && !down) return false;
  ++detections_;
  reset_pending_ = true;
  return true;
}

double PageHinkley::statistic() const {
  if (count_ == 0) return 0;
  return std::max(up_ - min_up_, max_down_ - down_);
}

absl::StatusOr<Ddm> Ddm::Create(const DdmOptions& options) {
  if (options.warm_start < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("DDM warm_start is %d: it must not be negative", options.warm_start));
  }
  const bool finite =
      std::isfinite(options.warning_threshold) && std::isfinite(options.drift_threshold);
  if (!finite || options.warning_threshold <= 0 ||
      options.warning_threshold > options.drift_threshold) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "DDM thresholds are warning %g and drift %g: they must be finite, positive, and the "
        "warning threshold must not exceed the drift threshold",
        options.warning_threshold, options.drift_threshold));
  }
  return Ddm(options);
}

void Ddm::Reset() {
  count_ = 0;
  errors_ = 0;
  p_min_ = kInfinity;
  s_min_ = kInfinity;
  warning_ = false;
  reset_pending_ = false;
}

bool Ddm::Update(bool error) {
  if (reset_pending_) Reset();

  ++count_;
  if (error) ++errors_;
  const double n = static_cast<double>(count_);
  const double p = static_cast<double>(errors_) / n;
  const double s = std::sqrt(p * (1 - p) / n);
  if (count_ <= options_.warm_start) return false;

  if (s > 0 && p + s <= p_min_ + s_min_) {
    p_min_ = p;
    s_min_ = s;
  }
  if (std::isinf(p_min_)) return false;

  warning_ = p + s > p_min_ + options_.warning_threshold * s_min_;
  if (p + s <= p_min_ + options_.drift_threshold * s_min_) return false;
  warning_ = false;
  ++detections_;
  reset_pending_ = true;
  return true;
}

}  // namespace modelwatch::core
