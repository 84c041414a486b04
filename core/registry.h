#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/drift_monitor.h"
#include "core/label_joiner.h"
#include "core/model_spec.h"
#include "core/reject_reason.h"
#include "core/windowed_counters.h"

namespace modelwatch::core {

// A column of one feature's values in a group.
struct FeatureColumnView {
  std::string_view name;
  std::span<const float> values;
};

// One group of a batch (see modelwatch.v1.ModelEvents), as plain views: the daemon fills it from
// the decoded protobuf without copying; string ids are hashed to 64-bit ids by the daemon
// ("" becomes 0, "no id"). Spans stay valid for the duration of Ingest().
struct GroupView {
  std::string_view model;
  std::string_view version;
  std::span<const std::string_view> class_names;

  std::span<const uint32_t> predicted;
  std::span<const int64_t> prediction_timestamp_ms;
  std::span<const uint64_t> prediction_ids;
  std::span<const float> scores;
  std::span<const int32_t> inline_labels;
  std::span<const FeatureColumnView> features;

  std::span<const uint32_t> labels;
  std::span<const uint64_t> label_ids;
  std::span<const int64_t> label_timestamp_ms;
};

// One version of a model: its counters, and its drift monitor when the model's spec enables
// drift (null otherwise). Created on first sight of the version.
struct ModelVersion {
  std::string name;
  uint32_t handle;
  WindowedCounters counters;
  std::unique_ptr<DriftMonitor> drift;
};

// One model: its spec, class list (fixed, or learned as events arrive), versions and joiner.
// Thread-safe. Pointers to a Model and its ModelVersions stay valid for the Registry's life.
// A version's handle is its index in order of first sight.
class Model {
 public:
  explicit Model(ModelSpec spec);

  const ModelSpec& spec() const { return spec_; }
  const BucketLayout& layout() const { return *layout_; }
  LabelJoiner& joiner() { return joiner_; }
  const LabelJoiner& joiner() const { return joiner_; }

  // The class names in index order (a copy: learned classes may be added concurrently).
  std::vector<std::string> ClassNames() const;
  // The versions seen so far.
  std::vector<const ModelVersion*> Versions() const;
  // Events rejected because the model's learned class list was full.
  uint64_t class_overflow() const { return class_overflow_.load(std::memory_order_relaxed); }

 private:
  friend class Registry;
  // Resolves class names to their indices into `out`, learning new ones if the model learns
  // classes: -1 for an unknown name (fixed list), -2 when the learned list is full. Takes the
  // model's lock once for reading, and once more for writing only when a name is new.
  void ResolveClasses(std::span<const std::string_view> names, std::vector<int>& out);
  // The version with this name, created if new; nullptr when the version cap is reached.
  ModelVersion* FindOrAddVersion(std::string_view name, int max_versions);
  // The version with this handle, or nullptr.
  ModelVersion* VersionByHandle(uint32_t handle);
  // How many classes the model has now (grows while a learned list fills).
  int NumClasses() const;
  // Feature `f`'s edges as float thresholds: a float value x is at or above edge e exactly when
  // x >= the threshold, so a column of floats is binned without conversions.
  const std::vector<float>& FeatureThresholds(int f) const { return feature_thresholds_[f]; }

  // Set at construction.
  const ModelSpec spec_;
  const std::shared_ptr<const BucketLayout> layout_;
  std::vector<std::vector<float>> feature_thresholds_;
  LabelJoiner joiner_;

  mutable absl::Mutex mu_;
  std::vector<std::string> classes_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, int> class_index_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<ModelVersion>> versions_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> class_overflow_{0};
};

// All models the daemon tracks, and the per-batch ingest path.
//
// Ingest() validates one group, resolves its model, version and class dictionary once, then
// updates counters and the label joiner per event with no lock shared between threads on the
// per-event path (the joiner locks each of its shards once per group). Rejected events are
// counted in the tally with their reason; the rest of the group is accepted.
//
// What Ingest() checks, in order:
//  - the group: no model name (missing_model), model unknown or over max_models (unknown_model,
//    model_limit): every event of the group;
//  - the predictions as a whole: a per-event column (timestamps, ids, inline labels, a feature)
//    neither empty nor n long (column_length), scores neither empty nor n x classes long
//    (scores_length), a feature the model does not declare (unknown_feature), a new version over
//    max_versions (version_limit): every prediction of the group;
//  - the labels as a whole: no ids, or ids or timestamps of the wrong length (missing_id,
//    column_length): every label of the group;
//  - each event: a class index outside the dictionary (or the model's list), a dictionary name
//    the model does not have (unknown_class) or cannot learn (class_limit); a score NaN, infinite
//    or outside [0, 1] (invalid_score); a feature value NaN or infinite (invalid_feature); a label
//    with id 0 (missing_id).
// Both `ids` and `string_ids` set (conflicting_ids) and empty batches are the caller's checks.
// A score column whose dictionary name is not a model class is dropped from the row. A timestamp
// that is absent or not positive means `now`.
//
// Per accepted prediction: counts by predicted class; with scores, the confidence sum and, for a
// model with drift configured, the score and confidence histograms; feature histograms (drift
// configured too); then, with an inline label, evaluation
// at once, or with an id, a wait in the joiner. An evaluation (inline, or when a join completes,
// on the counters of the prediction's version) adds the confusion cell and, with scores, the log
// loss term (scores clipped to [eps, 1 - eps] with eps the double epsilon, the row normalized,
// -log p[true]), the Brier terms (p_c - [true == c])^2 on raw scores, and the calibration bin of
// the top score (right when the first argmax is the true class).
//
// Drift: for a version with a DriftMonitor, a batch of predictions first lets it freeze a due
// capture (DriftMonitor::BeforeBatch), and at the end of the group the version's counted
// predictions, the error of each evaluation and the confidence of each scored prediction are
// handed to it once (DriftMonitor::Feed), one lock per version per group.
//
// The per-class work runs a group at a time. Every check is a pass over a whole column, so a
// clean group meets no per-event check. A clean group whose predictions all carry inline labels
// and scores is evaluated in one pass over its rows (EvaluateLabelledRows in core/score_rows.h);
// other groups summarize their rows and add the Brier squares in passes of their own. The column
// kernels (core/histogram_binning.h) bin or count the histogram columns. Counts, the confusion
// matrix and the label join are each a pass over the accepted rows.
//
// Thread-safe. Cost per group: a reader lock on the model map, one mutex per model for the
// class dictionary and the version, one per joiner shard touched; per event, 11 to 14 ns for 10
// classes with scores and inline labels, 5 to 9 without scores (ingest_path_bench, groups of 256
// or more).
class Registry {
 public:
  struct Options {
    // When false, only models in the config are accepted (others: unknown_model).
    bool accept_unknown_models = true;
    // The spec a model seen for the first time gets (its name is filled in).
    ModelSpec default_spec;
    // Caps on models learned on first sight and on versions per model.
    int max_models = 100;
    int max_versions = 16;
  };

  Registry(std::vector<ModelSpec> models, Options options);

  // Validates and applies one group arriving at `now`; `group_index` names it in rejections.
  void Ingest(const GroupView& group, int group_index, absl::Time now, IngestTally& tally);

  // Expires pending joins. Called periodically and before each scrape.
  void Tick(absl::Time now);

  // The models tracked so far, in order of first sight.
  std::vector<Model*> Models() const;

 private:
  struct Group;

  // The model named `name`, created from the default spec when allowed; nullptr with `reason`
  // set otherwise.
  Model* FindOrAddModel(std::string_view name, RejectReason& reason);
  void IngestPredictions(Group& g);
  void IngestLabels(Group& g);
  // The checks that reject every prediction of a group: column lengths, the score count, the
  // features (each one's model feature index goes to `feature_of`). False when they rejected.
  bool CheckPredictionColumns(Group& g, std::vector<int>& feature_of);

  // Set at construction.
  const Options options_;

  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Model>> models_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Model*> by_name_ ABSL_GUARDED_BY(mu_);
  // Models created on first sight (not from the config), for max_models.
  int learned_models_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace modelwatch::core
