#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace modelwatch::core {

// Streaming change detectors: each is fed one value at a time and says whether the stream's
// distribution has just changed. Use them on a per-model quality signal (the error indicator of
// each evaluated prediction, a score, a feature value) where a windowed histogram is too coarse.
//
//   absl::StatusOr<Adwin> adwin = Adwin::Create();  // published defaults
//   for (double x : stream) {
//     if (adwin->Update(x)) Alert(adwin->mean());
//   }
//
// Not thread-safe: the owner serializes calls. Memory is bounded. Adwin and PageHinkley ignore a
// non-finite value (no state change) and count it in ignored().

// ADWIN (Bifet and Gavalda, "Learning from Time-Changing Data with Adaptive Windowing", SDM
// 2007), in its ADWIN2 form: the window is kept as an exponential histogram, at most
// `max_buckets` buckets of each size 1, 2, 4, ..., so memory is O(max_buckets * log2(width)).
// Every `clock` updates (once the window exceeds `grace_period`), every split of the window at a
// bucket boundary into an older part W0 (n0 values, mean mu0) and a newer part W1 (n1, mu1), each
// of at least `min_window_length` values, is tested; a change is detected when
//   |mu0 - mu1| > sqrt(2 / m * var_W * ln(2 / d')) + 2 / (3 m) * ln(2 / d'),
// with 1 / m = 1 / (n0 - min_window_length + 1) + 1 / (n1 - min_window_length + 1),
// var_W the variance of the whole window and d' = delta / ln(width), as River implements it
// (River skips the newest bucket of each size as a split point; here every bucket boundary is
// one). On a change the oldest bucket is dropped and the splits are tested again until none
// cuts. The bound's last term assumes values in [0, 1]: scale the signal into that range, or
// wide-ranged values raise false alarms (4 of 40 seeded streams of 100,000 N(3, 2) values had one;
// 0 of 40 with N(0.5, 0.1) or Bernoulli(0.2) values). Measured delay: a step of the mean from 0.5
// to 0.8 (sd 0.1) after 5,000 values is detected at the second clock tick after it, 55 values
// later, for 100 of 100 seeds; a step to 0.6 within 151 values.
// Cost: O(1) amortized per update, plus O(max_buckets * log2(width)) per split sweep every
// `clock` updates, that is O(log W) amortized.
struct AdwinOptions {
  double delta = 0.002;       // confidence; smaller detects less, later and more surely
  int max_buckets = 5;        // buckets of each size (M in the paper)
  int clock = 32;             // updates between two tests of the splits
  int min_window_length = 5;  // values each side of a split needs
  int grace_period = 10;      // values before the first test
};

class Adwin {
 public:
  // Errors (InvalidArgument): delta not in (0, 1); max_buckets, clock or min_window_length below
  // 1; grace_period negative.
  static absl::StatusOr<Adwin> Create(const AdwinOptions& options = {});

  // Adds x; true when this update detected a change (the window has then dropped its oldest
  // buckets until no split differs).
  bool Update(double x);

  // Changes detected so far.
  int64_t detections() const { return detections_; }
  // Values in the window.
  int64_t width() const { return width_; }
  // The mean of the window: the current estimate of the stream's mean. 0 when empty.
  double mean() const { return width_ > 0 ? total_ / static_cast<double>(width_) : 0.0; }
  // The variance of the window (population variance). 0 when empty.
  double variance() const {
    return width_ > 0 ? squared_deviations_ / static_cast<double>(width_) : 0.0;
  }
  // Buckets held (the memory in use is proportional to it).
  int num_buckets() const;
  int64_t ignored() const { return ignored_; }

 private:
  // A run of 2^level consecutive values: their sum and sum of squared deviations from their mean.
  struct Bucket {
    double total = 0;
    double squared_deviations = 0;
  };
  explicit Adwin(const AdwinOptions& options) : options_(options) {}

  void Insert(double x);
  void MergeFullLevels();
  void DropOldestBucket();
  // One sweep over the splits; true when one cuts (the oldest bucket is then already dropped).
  bool CutOnce();
  // Whether a split into n0 older values summing to total0 and n1 newer ones summing to total1
  // shows a change. `log_term` is ln(2 ln(width) / delta) and `variance` the window's: both are
  // the same for every split of one sweep, so the sweep computes them once.
  bool SplitDiffers(double n0, double n1, double total0, double total1, double log_term,
                    double variance) const;

  // Set at construction.
  AdwinOptions options_;

  // levels_[i] holds the buckets of 2^i values, oldest first; higher levels hold older values.
  // A level holds max_buckets + 1 buckets only between an insertion and the merge that follows.
  std::vector<std::vector<Bucket>> levels_;
  int64_t width_ = 0;
  double total_ = 0;
  double squared_deviations_ = 0;
  int64_t ticks_ = 0;
  int64_t detections_ = 0;
  int64_t ignored_ = 0;
};

// Page-Hinkley test (Page, "Continuous Inspection Schemes", Biometrika 1954) for a shift of the
// mean, two-sided with a forgetting factor, as River's PageHinkley. With x_bar_t the running mean
// of the values since the last detection (including x_t):
//   up_t   = alpha * up_{t-1}   + (x_t - x_bar_t - delta)
//   down_t = alpha * down_{t-1} + (x_t - x_bar_t + delta)
// A change is detected, once `min_instances` values have been seen, when
// up_t - min_{s<=t} up_s > threshold (an increase) or max_{s<=t} down_s - down_t > threshold (a
// decrease), if that direction is watched. `delta` is the magnitude of change tolerated and
// `threshold` (lambda) is in units of the values times samples, so scale it to the signal: with
// the defaults, 0 of 40 seeded streams of 100,000 N(0.5, 0.1) values raised a false alarm, but
// 30 of 40 with sd 0.2, and on a 0/1 error indicator at error rate 0.1 all 40 did (3 false
// alarms per 100,000 on average; 9 of 40 streams at rate 0.02). Measured delay (sd 0.1, 100 seeds):
// a step of +-1.0 is detected within 52 values, a step of +0.3 within 184. After a detection the
// next update starts afresh. Cost: O(1) per update.
struct PageHinkleyOptions {
  enum class Direction { kUp, kDown, kBoth };
  int min_instances = 30;
  double delta = 0.005;
  double threshold = 50;
  double alpha = 1 - 0.0001;
  Direction direction = Direction::kBoth;
};

class PageHinkley {
 public:
  // Errors (InvalidArgument): min_instances below 1; delta negative or not finite; threshold not
  // positive or not finite; alpha not in (0, 1].
  static absl::StatusOr<PageHinkley> Create(const PageHinkleyOptions& options = {});

  // Adds x; true when this update detected a change.
  bool Update(double x);

  int64_t detections() const { return detections_; }
  // Values since the last detection, and their mean.
  int64_t count() const { return count_; }
  double mean() const { return mean_; }
  // The larger of the two test statistics (up_t - min up, max down - down_t).
  double statistic() const;
  int64_t ignored() const { return ignored_; }

 private:
  explicit PageHinkley(const PageHinkleyOptions& options) : options_(options) { Reset(); }
  void Reset();

  // Set at construction.
  PageHinkleyOptions options_;

  int64_t count_ = 0;
  double mean_ = 0;
  double up_ = 0;
  double down_ = 0;
  double min_up_ = 0;
  double max_down_ = 0;
  bool reset_pending_ = false;
  int64_t detections_ = 0;
  int64_t ignored_ = 0;
};

// DDM, the drift detection method (Gama, Medas, Castillo and Rodrigues, "Learning with Drift
// Detection", SBIA 2004), fed the error indicator of each evaluated prediction (true = wrong).
// With p_i the error rate of the i predictions since the last detection and
// s_i = sqrt(p_i (1 - p_i) / i), once i > warm_start the detector remembers p_min and s_min at
// the smallest p_i + s_i seen, and reports
//   a warning when p_i + s_i > p_min + warning_threshold * s_min,
//   a drift   when p_i + s_i > p_min + drift_threshold * s_min,
// as River's DDM does, with one difference: a minimum is recorded only when s_i > 0. (With no
// error in the warm-up, s_min would be 0 and the first error would be a drift.) After a drift
// the next update starts afresh. Cost: O(1) per update (one sqrt).
// NOTE: p_i is the error rate since the last drift, so DDM reacts slowly on long streams and its
// minimum, taken over noisy early estimates, makes false alarms common: of 200 seeded streams
// of 100,000 predictions at a constant error rate of 0.1, 109 raised at least one drift (at most
// 6). A jump of the error rate from 0.1 to 0.3 after 5,000 predictions is detected after 486
// predictions on average (25 seeds). Prefer Adwin on the error indicator when false alarms cost.
struct DdmOptions {
  int warm_start = 30;
  double warning_threshold = 2.0;
  double drift_threshold = 3.0;
};

class Ddm {
 public:
  // Errors (InvalidArgument): warm_start negative; thresholds not finite, not positive, or the
  // warning threshold above the drift threshold.
  static absl::StatusOr<Ddm> Create(const DdmOptions& options = {});

  // Adds one evaluated prediction; true when this update detected a drift.
  bool Update(bool error);

  int64_t detections() const { return detections_; }
  // True while in the warning zone (false on the update that detects a drift).
  bool warning() const { return warning_; }
  // Predictions since the last drift, and their error rate.
  int64_t count() const { return count_; }
  double error_rate() const { return count_ > 0 ? static_cast<double>(errors_) / count_ : 0.0; }
  // p_min and s_min; +infinity until a minimum is recorded.
  double min_error_rate() const { return p_min_; }
  double min_deviation() const { return s_min_; }

 private:
  explicit Ddm(const DdmOptions& options) : options_(options) { Reset(); }
  void Reset();

  // Set at construction.
  DdmOptions options_;

  int64_t count_ = 0;
  int64_t errors_ = 0;
  double p_min_ = 0;
  double s_min_ = 0;
  bool warning_ = false;
  bool reset_pending_ = false;
  int64_t detections_ = 0;
};

}  // namespace modelwatch::core
