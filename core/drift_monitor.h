#pragma once

#include <atomic>
#include <climits>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/bucket_layout.h"
#include "core/change_detectors.h"
#include "core/drift_reference.h"
#include "core/drift_spec.h"
#include "core/model_spec.h"
#include "core/windowed_counters.h"

namespace modelwatch::core {

// Every drift signal of a model read from its counters: the predicted classes and labels (one
// bin per name in `classes`, the model's class names in index order), the confidence and each
// class's score (score_bins equal-width bins on [0, 1], inner edges b / score_bins) and each
// feature (its FeatureSpec edges). Signals without classes are left out, and the score,
// confidence and feature signals when the layout has no histograms (a model without drift). Pure;
// cost O(classes^2 + classes x score_bins + feature bins).
DriftReference ReadSignals(const ModelSpec& spec, const BucketLayout& layout,
                           const std::vector<std::string>& classes, const Counts& counts);

// One drift statistic of one signal in one window, as exposed in modelwatch_drift.
struct DriftSample {
  std::string window;
  std::string signal;
  std::string statistic;  // psi, kl, js, hellinger, tv, linf, wasserstein, chi2_pvalue,
                          // ks_statistic, ks_pvalue
  double value = 0;
};

// One change detector on one stream, as exposed in modelwatch_drift_detections_total and
// modelwatch_drift_detector_state.
struct DetectorSample {
  std::string detector;  // page_hinkley, adwin, ddm
  std::string stream;    // error, confidence
  int64_t detections = 0;
  std::vector<std::pair<std::string, double>> state;  // field name and value
};

// What one batch contributes to a version's detectors and capture, collected by the registry
// while it counts the batch and handed over once at the end (one lock per batch).
struct DriftFeed {
  // Whether the streams are wanted (the model runs detectors); when false the vectors stay empty.
  bool collect = false;
  // Predictions the batch counted for the version.
  int64_t predictions = 0;
  // Per evaluated prediction, in order: 1 when it was wrong.
  std::vector<uint8_t> errors;
  // Per scored prediction, in order: its top score.
  std::vector<float> confidences;

  void AddError(bool wrong) {
    if (collect) errors.push_back(wrong ? 1 : 0);
  }
  void AddConfidence(float top) {
    if (collect) confidences.push_back(top);
  }
};

// The drift state of one model version: its reference (fixed, captured then frozen, or the
// previous window) and its change detectors; computes every statistic of every signal in every
// window at scrape time.
//
// Capture: in the capture modes the reference is the version's cumulative counts at the moment
// the capture is due (at least capture_events predictions counted, or capture_window elapsed
// since the version's first prediction), taken at the start of the first batch or scrape after
// that: so it holds whole batches. Once frozen it never changes; with a state_dir it is saved to
// <state_dir>/<model>/<version>.json and loaded from there when the version reappears after a
// restart (a state file that cannot be read or written is counted in state_errors() and the
// last error kept; the capture then proceeds from live traffic).
//
// Thread-safe. The ingest path calls BeforeBatch() (two relaxed atomic loads once frozen) and
// Feed() (one mutex per batch, O(events) detector updates) per batch, never per event. Compute()
// is for scrapes: O(windows x signals x bins) plus the window reads.
class DriftMonitor {
 public:
  // `spec` is the model's (its drift section, windows and features are used); `model` and
  // `version` name the state file.
  DriftMonitor(const ModelSpec& spec, std::string model, std::string version);

  DriftMonitor(const DriftMonitor&) = delete;
  DriftMonitor& operator=(const DriftMonitor&) = delete;

  // Whether Feed() needs the error and confidence streams.
  bool wants_streams() const { return spec_.drift.HasDetectors(); }
  // Whether the counters must keep the window before each window (2n + 1 ring slots).
  bool needs_previous_window() const {
    return spec_.drift.reference == DriftSpec::Reference::kPreviousWindow;
  }

  // Called at the start of each batch of predictions for the version, before they are counted:
  // freezes a due capture. `class_names` is called only then.
  template <typename ClassNames>
  void BeforeBatch(const WindowedCounters& counters, absl::Time now, ClassNames class_names) {
    if (frozen_.load(std::memory_order_acquire) || !captures()) return;
    NoteFirstSeen(now);
    if (CaptureDue(now)) Freeze(counters, class_names());
  }

  // Adds a batch's predictions to the capture count and runs the detectors over its streams.
  void Feed(const DriftFeed& feed);

  // Every statistic of every signal in every window as of `now`; absent where a signal has no
  // reference, its bins do not match the reference's, or either side is below min_samples.
  // Freezes a due capture first.
  std::vector<DriftSample> Compute(const WindowedCounters& counters,
                                   const std::vector<std::string>& classes, absl::Time now);

  // The fixed or frozen reference; nullptr before a capture freezes and for previous_window.
  std::shared_ptr<const DriftReference> reference() const;

  std::vector<DetectorSample> Detectors() const;

  // State files that could not be read or written, and the last such error.
  int64_t state_errors() const { return state_errors_.load(std::memory_order_relaxed); }
  absl::Status last_state_error() const;

  // Where the captured reference of this version is kept; empty without a state_dir.
  std::string StatePath() const;

 private:
  // A detector with its stream; exactly one of the three is set.
  struct Detector {
    std::string name;
    std::string stream;
    std::optional<PageHinkley> page_hinkley;
    std::optional<Adwin> adwin;
    std::optional<Ddm> ddm;
  };

  bool captures() const {
    return spec_.drift.reference == DriftSpec::Reference::kCaptureEvents ||
           spec_.drift.reference == DriftSpec::Reference::kCaptureWindow;
  }
  void NoteFirstSeen(absl::Time now);
  bool CaptureDue(absl::Time now) const;
  void Freeze(const WindowedCounters& counters, const std::vector<std::string>& classes);
  void LoadState() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RecordStateError(absl::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The reference window `w` is compared with, as of `now`.
  std::shared_ptr<const DriftReference> ReferenceFor(const WindowedCounters& counters,
                                                     const std::vector<std::string>& classes,
                                                     size_t w, absl::Time now) const;

  // Set at construction.
  const ModelSpec spec_;
  const std::string model_;
  const std::string version_;

  std::atomic<bool> frozen_{false};
  std::atomic<int64_t> predictions_{0};
  // Unix nanoseconds of the version's first batch; kNotSeen before it.
  static constexpr int64_t kNotSeen = INT64_MIN;
  std::atomic<int64_t> first_seen_nanos_{kNotSeen};
  std::atomic<int64_t> state_errors_{0};

  mutable absl::Mutex mu_;
  std::shared_ptr<const DriftReference> frozen_reference_ ABSL_GUARDED_BY(mu_);
  std::vector<Detector> detectors_ ABSL_GUARDED_BY(mu_);
  absl::Status last_state_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace modelwatch::core
