#include "core/registry.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <deque>
#include <limits>
#include <utility>

#include "absl/strings/str_format.h"
#include "core/histogram_binning.h"
#include "core/score_rows.h"

namespace modelwatch::core {
namespace {

constexpr double kEps = std::numeric_limits<double>::epsilon();
// Class resolution results besides a valid index.
constexpr int kUnknownClass = -1;
constexpr int kClassLimit = -2;
// The resolved class of a prediction that carries no inline label.
constexpr int kNoLabel = -3;

// Counts one rejected event, formatting its message only when it is the first of its reason.
template <typename Message>
void RejectEvent(IngestTally& tally, RejectReason reason, int group, int event, Message&& message) {
  if (tally.rejected[static_cast<int>(reason)].count == 0) {
    tally.Reject(reason, 1, group, event, message());
  } else {
    tally.Reject(reason, 1, group, event, {});
  }
}

// Abseil here is built with its own string_view type.
absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// True when every score lies in [0, 1]. Compares bit patterns: for non-negative floats they
// order like the values, and every negative value, infinity and NaN has a pattern above 1.0f's
// (-0.0 is mapped to 0 first). One branch-free pass over a whole group's scores, so the
// per-event path checks nothing when the group is clean, the usual case.
bool ScoresValid(std::span<const float> scores) {
  constexpr uint32_t kOne = 0x3F800000u;
  constexpr uint32_t kNegativeZero = 0x80000000u;
  uint32_t bad = 0;
  for (float p : scores) {
    const uint32_t bits = std::bit_cast<uint32_t>(p);
    bad |= static_cast<uint32_t>(bits > kOne) & static_cast<uint32_t>(bits != kNegativeZero);
  }
  return bad == 0;
}

// True when every value is finite (an exponent of all ones is an infinity or a NaN); one
// branch-free pass, like ScoresValid.
bool AllFinite(std::span<const float> values) {
  constexpr uint32_t kExponent = 0x7F800000u;
  uint32_t bad = 0;
  for (float x : values) {
    bad |= static_cast<uint32_t>((std::bit_cast<uint32_t>(x) & kExponent) == kExponent);
  }
  return bad == 0;
}

// The sum of -log(x) over many x, with one logarithm per flush instead of one per term: the
// terms are multiplied, and the product's binary exponent is moved into an integer before it can
// underflow. The relative error of the product grows by half an ulp per term, so the sum is off
// by about 1e-16 per term: far inside the 1e-9 the report promises.
class NegLogSum {
 public:
  void Add(double x) {
    product_ *= x;
    if (product_ < 0x1p-900) Renormalize();
  }
  // The sum so far, and a fresh start.
  double Take() {
    const double sum = -(std::log(product_) + static_cast<double>(exponent_) * std::log(2.0));
    product_ = 1;
    exponent_ = 0;
    return sum;
  }
  bool empty() const { return product_ == 1 && exponent_ == 0; }
  // Adds the terms whose product is numerator / denominator * 2^exponent (LabelledRowSums).
  void AddProduct(double numerator, double denominator, int64_t exponent) {
    int e_numerator = 0;
    int e_denominator = 0;
    const double n = std::frexp(numerator, &e_numerator);
    const double d = std::frexp(denominator, &e_denominator);
    product_ *= n / d;
    exponent_ += exponent + e_numerator - e_denominator;
    Renormalize();
  }

 private:
  void Renormalize() {
    int e = 0;
    product_ = std::frexp(product_, &e);
    exponent_ += e;
  }
  double product_ = 1;
  int64_t exponent_ = 0;
};

// Sums of a group's evaluated predictions, added to the bucket once per group (Flush): a class's
// Brier term or a bin's confidence goes into a plain double here rather than into an atomic slot,
// which keeps the per-class loop of Evaluate() free of memory-ordering constraints (it
// vectorizes) and makes the bucket's sum slots one update per group.
struct EvaluationSums {
  explicit EvaluationSums(const BucketLayout& layout)
      : brier(static_cast<size_t>(layout.num_classes())),
        calibration_confidence(static_cast<size_t>(layout.calibration_bins())) {}

  void Flush(const BucketLayout& layout, WindowedCounters::BucketWriter& w) {
    if (!log_loss.empty()) w.AddSum(layout.log_loss_sum(), log_loss.Take());
    if (confidence != 0) w.AddSum(layout.confidence_sum(), std::exchange(confidence, 0.0));
    if (!evaluated) return;
    for (size_t c = 0; c < brier.size(); ++c) {
      w.AddSum(layout.brier_sum(static_cast<int>(c)), std::exchange(brier[c], 0.0));
    }
    for (size_t b = 0; b < calibration_confidence.size(); ++b) {
      w.AddSum(layout.calibration_confidence_sum(static_cast<int>(b)),
               std::exchange(calibration_confidence[b], 0.0));
    }
    evaluated = false;
  }

  NegLogSum log_loss;
  double confidence = 0;
  bool evaluated = false;
  std::vector<double> brier;
  std::vector<double> calibration_confidence;
};

// Predictions whose label is known, for a group's evaluation pass: their rows (indices into the
// group's score rows), and the true and predicted class of each row.
struct EvaluationRows {
  std::span<const uint32_t> rows;
  const int32_t* actual;
  const int32_t* predicted;
};

// The rows 0 .. n-1, from a per-thread list that only grows.
std::span<const uint32_t> AllRows(size_t n) {
  thread_local std::vector<uint32_t> rows;
  for (size_t i = rows.size(); i < n; ++i) rows.push_back(static_cast<uint32_t>(i));
  return {rows.data(), n};
}

// The sum of the top scores of `rows`, in double, four partial sums at a time so that no add
// waits for the previous one.
double SumOfTops(const RowSummary* summaries, std::span<const uint32_t> rows) {
  double partial[4] = {0, 0, 0, 0};
  size_t i = 0;
  for (; i + 4 <= rows.size(); i += 4) {
    for (size_t j = 0; j < 4; ++j) partial[j] += summaries[rows[i + j]].top;
  }
  for (; i < rows.size(); ++i) partial[0] += summaries[rows[i]].top;
  return (partial[0] + partial[1]) + (partial[2] + partial[3]);
}

// Adds evaluated predictions. Rows of `k` scores (k == 0: no scores) in model class order start
// at `scores`, summarized in `summaries` (SummarizeRows); a class learned after a prediction was
// made (index >= k) has score 0. Counts go to the bucket; sums go to `sums`, which the caller
// flushes once per group; each error goes to `feed`. The caller also counts the scored
// evaluations in evaluated_scored() and adds their rows' squares to sums.brier (AddSquares), both
// a group at a time. Slot offsets and sums are held in locals for the whole pass: the bucket's
// atomic slots could alias any of them, so the compiler would reload them after every add.
// Counts evaluated predictions in the confusion matrix, and feeds their errors to `feed`.
void CountConfusion(const BucketLayout& layout, WindowedCounters::BucketWriter& w,
                    const EvaluationRows& evaluations, DriftFeed& feed) {
  const size_t confusion = layout.confusion(0, 0);
  const auto stride = static_cast<size_t>(layout.num_classes());
  const int32_t* actual_of = evaluations.actual;
  const int32_t* predicted_of = evaluations.predicted;
  for (uint32_t r : evaluations.rows) {
    w.Add(confusion + static_cast<size_t>(actual_of[r]) * stride +
          static_cast<size_t>(predicted_of[r]));
  }
  if (feed.collect) {
    for (uint32_t r : evaluations.rows) feed.AddError(actual_of[r] != predicted_of[r]);
  }
}

// Adds what EvaluateLabelledRows summed over a group: counts to the bucket, sums to `sums`.
void AddLabelledSums(const BucketLayout& layout, WindowedCounters::BucketWriter& w,
                     const LabelledRowSums& labelled, EvaluationSums& sums) {
  sums.evaluated = true;
  sums.log_loss.AddProduct(labelled.log_numerator, labelled.log_denominator, labelled.log_exponent);
  for (size_t c = 0; c < labelled.brier.size(); ++c) sums.brier[c] += labelled.brier[c];
  for (size_t b = 0; b < labelled.calibration_count.size(); ++b) {
    if (labelled.calibration_count[b] == 0) continue;
    const int bin = static_cast<int>(b);
    w.Add(layout.calibration_count(bin), labelled.calibration_count[b]);
    w.Add(layout.calibration_correct(bin), labelled.calibration_correct[b]);
    sums.calibration_confidence[b] += labelled.calibration_confidence[b];
  }
}

void EvaluateRows(const BucketLayout& layout, WindowedCounters::BucketWriter& w,
                  const EvaluationRows& evaluations, const float* scores, int k,
                  const RowSummary* summaries, EvaluationSums& sums, DriftFeed& feed) {
  CountConfusion(layout, w, evaluations, feed);
  if (k == 0 || evaluations.rows.empty()) return;
  const int32_t* actual_of = evaluations.actual;
  sums.evaluated = true;

  // Log loss as scikit-learn computes it: clip every score of the row to [eps, 1 - eps],
  // normalize the row, -log p[actual]. Classes without a score clip to eps. The Brier sum of
  // class c gains (p_c - [c == actual])^2, added as p_c^2 for every class (AddSquares) and
  // 1 - 2 p_actual for the true class. The calibration bin is the top score's: right or wrong is
  // an added 1 or 0, not a branch, as labels are as unpredictable as errors.
  const size_t calibration_count = layout.calibration_count(0);
  const size_t calibration_correct = layout.calibration_correct(0);
  const int bins = layout.calibration_bins();
  double* brier = sums.brier.data();
  double* calibration_confidence = sums.calibration_confidence.data();
  NegLogSum log_loss = sums.log_loss;
  for (uint32_t r : evaluations.rows) {
    const RowSummary& row = summaries[r];
    const int32_t actual = actual_of[r];
    const float* p = scores + static_cast<size_t>(r) * static_cast<size_t>(k);
    const int classes = std::max(k, actual + 1);
    const double clipped_sum = (classes - k) * kEps + row.clipped_sum;
    const double p_actual = actual < k ? p[actual] : 0.0;
    brier[actual] += 1.0 - 2.0 * p_actual;
    log_loss.Add(std::min(std::max(p_actual, kEps), 1 - kEps) / clipped_sum);

    const int bin = BucketLayout::EqualWidthBin(row.top, bins);  // CalibrationBin
    w.Add(calibration_count + static_cast<size_t>(bin));
    w.Add(calibration_correct + static_cast<size_t>(bin), row.top_class == actual ? 1 : 0);
    calibration_confidence[bin] += row.top;
  }
  sums.log_loss = log_loss;
}

// Evaluates a joined pair, whose prediction had `scores`, on its prediction's version.
void EvaluateJoined(const BucketLayout& layout, WindowedCounters::BucketWriter& w,
                    const JoinedPair& pair, std::span<const float> scores, EvaluationSums& sums,
                    DriftFeed& feed) {
  const int k = static_cast<int>(scores.size());
  RowSummary row;
  const uint32_t first = 0;
  if (k > 0) {
    SummarizeRows(scores.data(), 1, k, &row);
    AddSquares(scores.data(), k, {&first, 1}, sums.brier.data());
    w.Add(layout.evaluated_scored());
  }
  w.Add(layout.joined());
  const int32_t actual = pair.actual;
  const int32_t predicted = pair.predicted;
  EvaluateRows(layout, w, {{&first, 1}, &actual, &predicted}, scores.data(), k, &row, sums, feed);
}

// Per-thread scratch of CountHistograms, reused across groups.
struct HistogramScratch {
  std::vector<uint32_t> counts;
  std::vector<int32_t> score_bins;
  std::vector<int32_t> feature_bins;
};

// What CountHistograms needs to know of a group besides its columns.
struct HistogramColumns {
  // Score rows of `k` values in model class order (k == 0: unscored), and their summaries.
  const float* scores = nullptr;
  int k = 0;
  const RowSummary* summaries = nullptr;
  // Feature columns, and the model feature index and float thresholds of each.
  std::span<const FeatureColumnView> features;
  std::span<const int> feature_of;
  std::span<const std::vector<float>* const> thresholds;
};

// Adds the score, confidence and feature histograms of the accepted events (ascending indices
// into the group). Rows are binned a block at a time, column by column with the binning kernels,
// then counted event by event into per-group counts: consecutive adds go to different histograms,
// so none waits for the previous one's store, however skewed the data. The confidence bin is the
// bin of the top class's score. The counts reach the bucket once per group.
void CountHistograms(const BucketLayout& layout, WindowedCounters::BucketWriter& w,
                     const HistogramColumns& c, size_t n, std::span<const uint32_t> accepted) {
  constexpr size_t kBlock = 256;
  thread_local HistogramScratch scratch;
  const size_t first = layout.score_histogram(0, 0);
  const int bins = layout.score_bins();
  const size_t features = c.features.size();
  const auto k = static_cast<size_t>(c.k);
  scratch.counts.assign(layout.num_counts() - first, 0);
  uint32_t* h = scratch.counts.data();

  // Where each class's score histogram and each feature's histogram are, relative to `first`.
  std::vector<uint32_t> class_base(k);
  for (size_t cls = 0; cls < k; ++cls) {
    class_base[cls] =
        static_cast<uint32_t>(layout.score_histogram(static_cast<int>(cls), 0) - first);
  }
  std::vector<uint32_t> feature_base(features);
  for (size_t f = 0; f < features; ++f) {
    feature_base[f] = static_cast<uint32_t>(layout.feature_histogram(c.feature_of[f], 0) - first);
  }
  const auto confidence_base = static_cast<uint32_t>(layout.confidence_histogram(0) - first);
  scratch.score_bins.resize(kBlock * k);
  scratch.feature_bins.resize(kBlock * features);

  // When the whole group was accepted, each feature's histogram comes from its whole column at
  // once, with no per-value add; otherwise its values are binned with the rows below.
  const bool whole_columns = accepted.size() == n;
  const size_t binned_features = whole_columns ? 0 : features;
  if (whole_columns) {
    std::vector<uint64_t> at_or_above;
    for (size_t f = 0; f < features; ++f) {
      const std::vector<float>& t = *c.thresholds[f];
      at_or_above.assign(t.size(), 0);
      CountAtOrAbove(t, c.features[f].values.data(), n, at_or_above.data());
      uint64_t below = n;
      for (size_t b = 0; b < t.size(); ++b) {
        h[feature_base[f] + b] += static_cast<uint32_t>(below - at_or_above[b]);
        below = at_or_above[b];
      }
      h[feature_base[f] + t.size()] += static_cast<uint32_t>(below);
    }
  }

  size_t a = 0;
  for (size_t start = 0; start < n && a < accepted.size(); start += kBlock) {
    const size_t rows = std::min(kBlock, n - start);
    if (accepted[a] >= start + rows) continue;
    if (k > 0) BinScores(bins, c.scores + start * k, rows * k, scratch.score_bins.data());
    for (size_t f = 0; f < binned_features; ++f) {
      BinByThresholds(*c.thresholds[f], c.features[f].values.data() + start, rows,
                      scratch.feature_bins.data() + f * kBlock);
    }
    for (; a < accepted.size() && accepted[a] < start + rows; ++a) {
      const size_t r = accepted[a] - start;
      if (k > 0) {
        const int32_t* row = scratch.score_bins.data() + r * k;
        for (size_t cls = 0; cls < k; ++cls) ++h[class_base[cls] + static_cast<uint32_t>(row[cls])];
        ++h[confidence_base + static_cast<uint32_t>(row[c.summaries[accepted[a]].top_class])];
      }
      const int32_t* fb = scratch.feature_bins.data() + r;
      for (size_t f = 0; f < binned_features; ++f) {
        ++h[feature_base[f] + static_cast<uint32_t>(fb[f * kBlock])];
      }
    }
  }

  for (size_t s = 0; s < scratch.counts.size(); ++s) {
    if (h[s] != 0) w.Add(first + s, h[s]);
  }
}

// Resolves a group's class values (indices into its class_names, or model class indices when it
// has none) to model classes, from copies of what it needs: held in locals, they stay in
// registers across the per-event loop's adds to the bucket's atomic slots.
struct ClassResolver {
  bool by_name;
  int num_classes;
  const int* dictionary;
  int64_t dictionary_size;

  // The model class, or kUnknownClass / kClassLimit.
  int operator()(int64_t value) const {
    if (value < 0) return kUnknownClass;
    if (!by_name) return value < num_classes ? static_cast<int>(value) : kUnknownClass;
    return value < dictionary_size ? dictionary[value] : kUnknownClass;
  }

  // Resolves every predicted class value into `out`; true when all resolved. Branch-free.
  bool ResolvePredictions(std::span<const uint32_t> values, std::vector<int32_t>& out) const {
    out.resize(values.size());
    int32_t* classes = out.data();
    int32_t failed = 0;
    if (by_name) {
      const auto size = static_cast<uint64_t>(dictionary_size);
      for (size_t i = 0; i < values.size(); ++i) {
        const uint32_t value = values[i];
        classes[i] = value < size ? dictionary[value] : kUnknownClass;
        failed |= classes[i];
      }
    } else {
      const auto limit = static_cast<uint32_t>(num_classes);
      for (size_t i = 0; i < values.size(); ++i) {
        const uint32_t value = values[i];
        classes[i] = value < limit ? static_cast<int32_t>(value) : kUnknownClass;
        failed |= classes[i];
      }
    }
    return failed >= 0;
  }

  // Resolves the inline labels of `n` predictions into `out`: the model class, kNoLabel for a
  // prediction without one (a negative value, or no label column), or kUnknownClass /
  // kClassLimit. True when every label present resolved.
  bool ResolveLabels(std::span<const int32_t> labels, size_t n, std::vector<int32_t>& out) const {
    out.assign(n, kNoLabel);
    if (labels.empty()) return true;
    int32_t* classes = out.data();
    bool resolved = true;
    for (size_t i = 0; i < n; ++i) {
      if (labels[i] < 0) continue;
      classes[i] = (*this)(labels[i]);
      resolved &= classes[i] >= 0;
    }
    return resolved;
  }
};

}  // namespace

// One group being ingested: its views, its model and the class dictionary resolved once, and one
// counter writer per version it touches (a thread may hold only one writer per counters).
struct Registry::Group {
  const GroupView& view;
  const int index;
  const absl::Time now;
  IngestTally& tally;
  Model& model;
  // Model class index of each dictionary entry, or kUnknownClass / kClassLimit.
  std::vector<int> dictionary;
  // The model's class count after resolving the dictionary.
  int num_classes = 0;
  // Parallel; a deque so references to writers stay valid as more are added.
  std::vector<ModelVersion*> versions;
  std::deque<WindowedCounters::BucketWriter> writers;
  // Parallel too: what each version's drift monitor is fed at the end of the group, and the sums
  // of its evaluations, added to its bucket then.
  std::deque<DriftFeed> feeds;
  std::deque<EvaluationSums> sums;

  int64_t NowMillis() const { return absl::ToUnixMillis(now); }

  // The group's score rows in model class order, `k` wide, written into `out`: dictionary names
  // the model lacks are dropped, classes absent from the dictionary score 0.
  const float* ReorderScores(int k, std::vector<float>& out) const {
    const size_t n = view.predicted.size();
    const size_t stride = static_cast<size_t>(k);
    const int k_dict = ScoreColumns();
    out.assign(n * stride, 0.0f);
    for (size_t i = 0; i < n; ++i) {
      for (int j = 0; j < k_dict; ++j) {
        const int c = dictionary[j];
        if (c >= 0 && c < k) out[i * stride + c] = view.scores[i * k_dict + j];
      }
    }
    return out.data();
  }

  // Whether class values and score columns of this group already are model class indices.
  bool DictionaryIsIdentity() const {
    if (view.class_names.empty()) return true;
    if (static_cast<int>(dictionary.size()) != num_classes) return false;
    for (int j = 0; j < num_classes; ++j) {
      if (dictionary[j] != j) return false;
    }
    return true;
  }

  // Score columns per event: the dictionary's size, or the model's class count without one.
  int ScoreColumns() const {
    return view.class_names.empty() ? num_classes : static_cast<int>(view.class_names.size());
  }

  // The model class a class value of this group names, or kUnknownClass / kClassLimit.
  int ClassOf(int64_t value) const { return Resolver()(value); }
  ClassResolver Resolver() const {
    return ClassResolver{!view.class_names.empty(), num_classes, dictionary.data(),
                         static_cast<int64_t>(dictionary.size())};
  }

  // Explains why ClassOf(value) failed.
  std::string ClassError(int64_t value, int resolved, std::string_view kind, int event) const {
    std::string where = absl::StrFormat("group %d %s %d: ", index, kind, event);
    const std::string& name = model.spec().name;
    if (view.class_names.empty()) {
      return absl::StrCat(where, absl::StrFormat("class index %d is out of range for model \"%s\" "
                                                 "(%d classes)",
                                                 value, name, num_classes));
    }
    if (value < 0 || value >= static_cast<int64_t>(view.class_names.size())) {
      return absl::StrCat(where, absl::StrFormat("class index %d is out of range for the group's "
                                                 "class_names (%d names)",
                                                 value, view.class_names.size()));
    }
    if (resolved == kClassLimit) {
      return absl::StrCat(
          where, absl::StrFormat("model \"%s\" already has its maximum of %d classes; "
                                 "class \"%s\" is not tracked",
                                 name, model.spec().max_learned_classes, view.class_names[value]));
    }
    return absl::StrCat(where, absl::StrFormat("class \"%s\" is not a class of model \"%s\"",
                                               view.class_names[value], name));
  }

  // Rejects an event whose class did not resolve; `resolved` is kUnknownClass or kClassLimit.
  void RejectClass(int64_t value, int resolved, std::string_view kind, int event) {
    if (resolved == kClassLimit) {
      model.class_overflow_.fetch_add(1, std::memory_order_relaxed);
      RejectEvent(tally, RejectReason::kClassLimit, index, event,
                  [&] { return ClassError(value, resolved, kind, event); });
      return;
    }
    RejectEvent(tally, RejectReason::kUnknownClass, index, event,
                [&] { return ClassError(value, resolved, kind, event); });
  }

  // Rejects every prediction (or label) of the group for one reason.
  void RejectAll(RejectReason reason, size_t n, std::string_view message) {
    tally.Reject(reason, n, index, 0, absl::StrFormat("group %d: %s", index, message));
  }

  // The version with `handle`, looked up under the model's lock only on first use in the group.
  ModelVersion* VersionOf(uint32_t handle) {
    for (ModelVersion* version : versions) {
      if (version->handle == handle) return version;
    }
    return model.VersionByHandle(handle);
  }

  // The writer for `version`'s counters, created on first use in this group.
  WindowedCounters::BucketWriter& WriterFor(ModelVersion* version) {
    for (size_t i = 0; i < versions.size(); ++i) {
      if (versions[i] == version) return writers[i];
    }
    versions.push_back(version);
    writers.push_back(version->counters.Writer(now));
    feeds.emplace_back().collect = version->drift != nullptr && version->drift->wants_streams();
    sums.emplace_back(model.layout());
    return writers.back();
  }

  // The drift feed of a version WriterFor() was called for.
  DriftFeed& FeedFor(const ModelVersion* version) {
    for (size_t i = 0; i < versions.size(); ++i) {
      if (versions[i] == version) return feeds[i];
    }
    return feeds.back();
  }

  // The evaluation sums of a version WriterFor() was called for.
  EvaluationSums& SumsFor(const ModelVersion* version) {
    for (size_t i = 0; i < versions.size(); ++i) {
      if (versions[i] == version) return sums[i];
    }
    return sums.back();
  }

  // Adds each version's evaluation sums to its bucket and hands its feed to its drift monitor.
  void Finish() {
    for (size_t i = 0; i < versions.size(); ++i) {
      sums[i].Flush(model.layout(), writers[i]);
      if (versions[i]->drift != nullptr) versions[i]->drift->Feed(feeds[i]);
    }
  }
};

Model::Model(ModelSpec spec)
    : spec_(std::move(spec)),
      layout_(std::make_shared<const BucketLayout>(spec_)),
      joiner_(spec_.join) {
  for (const FeatureSpec& f : spec_.features) {
    std::vector<float>& thresholds = feature_thresholds_.emplace_back();
    for (double edge : f.edges) thresholds.push_back(FloatThreshold(edge));
  }
  for (const std::string& name : spec_.classes) {
    class_index_.try_emplace(name, static_cast<int>(classes_.size()));
    classes_.push_back(name);
  }
}

std::vector<std::string> Model::ClassNames() const {
  absl::ReaderMutexLock lock(&mu_);
  return classes_;
}

std::vector<const ModelVersion*> Model::Versions() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<const ModelVersion*> out;
  for (const std::unique_ptr<ModelVersion>& v : versions_) out.push_back(v.get());
  return out;
}

int Model::NumClasses() const {
  absl::ReaderMutexLock lock(&mu_);
  return static_cast<int>(classes_.size());
}

void Model::ResolveClasses(std::span<const std::string_view> names, std::vector<int>& out) {
  out.assign(names.size(), kUnknownClass);
  bool any_new = false;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (size_t j = 0; j < names.size(); ++j) {
      auto it = class_index_.find(AbslView(names[j]));
      if (it != class_index_.end()) {
        out[j] = it->second;
      } else {
        any_new = true;
      }
    }
  }
  if (!any_new || !spec_.classes.empty()) return;

  // A learned model takes the names it has not seen yet, in dictionary order, while room lasts.
  absl::MutexLock lock(&mu_);
  for (size_t j = 0; j < names.size(); ++j) {
    if (out[j] != kUnknownClass) continue;
    if (auto it = class_index_.find(AbslView(names[j])); it != class_index_.end()) {
      out[j] = it->second;
      continue;
    }
    if (static_cast<int>(classes_.size()) >= layout_->num_classes()) {
      out[j] = kClassLimit;
      continue;
    }
    out[j] = static_cast<int>(classes_.size());
    classes_.emplace_back(names[j]);
    class_index_.try_emplace(classes_.back(), out[j]);
  }
}

ModelVersion* Model::FindOrAddVersion(std::string_view name, int max_versions) {
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const std::unique_ptr<ModelVersion>& v : versions_) {
      if (v->name == name) return v.get();
    }
  }
  absl::MutexLock lock(&mu_);
  for (const std::unique_ptr<ModelVersion>& v : versions_) {
    if (v->name == name) return v.get();
  }
  if (static_cast<int>(versions_.size()) >= max_versions) return nullptr;
  std::unique_ptr<DriftMonitor> drift;
  if (spec_.drift.enabled()) {
    drift = std::make_unique<DriftMonitor>(spec_, spec_.name, std::string(name));
  }
  const bool keep_previous = drift != nullptr && drift->needs_previous_window();
  versions_.push_back(std::unique_ptr<ModelVersion>(
      new ModelVersion{std::string(name), static_cast<uint32_t>(versions_.size()),
                       WindowedCounters(layout_, spec_.windows, keep_previous), std::move(drift)}));
  return versions_.back().get();
}

ModelVersion* Model::VersionByHandle(uint32_t handle) {
  absl::ReaderMutexLock lock(&mu_);
  return handle < versions_.size() ? versions_[handle].get() : nullptr;
}

Registry::Registry(std::vector<ModelSpec> models, Options options) : options_(std::move(options)) {
  absl::MutexLock lock(&mu_);
  for (ModelSpec& spec : models) {
    auto model = std::make_unique<Model>(std::move(spec));
    by_name_.try_emplace(model->spec().name, model.get());
    models_.push_back(std::move(model));
  }
}

std::vector<Model*> Registry::Models() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<Model*> out;
  for (const std::unique_ptr<Model>& m : models_) out.push_back(m.get());
  return out;
}

void Registry::Tick(absl::Time now) {
  for (Model* model : Models()) model->joiner().Expire(now);
}

Model* Registry::FindOrAddModel(std::string_view name, RejectReason& reason) {
  {
    absl::ReaderMutexLock lock(&mu_);
    if (auto it = by_name_.find(AbslView(name)); it != by_name_.end()) return it->second;
  }
  absl::MutexLock lock(&mu_);
  if (auto it = by_name_.find(AbslView(name)); it != by_name_.end()) return it->second;
  if (!options_.accept_unknown_models) {
    reason = RejectReason::kUnknownModel;
    return nullptr;
  }
  if (learned_models_ >= options_.max_models) {
    reason = RejectReason::kModelLimit;
    return nullptr;
  }

  ModelSpec spec = options_.default_spec;
  spec.name = std::string(name);
  auto model = std::make_unique<Model>(std::move(spec));
  Model* raw = model.get();
  by_name_.try_emplace(raw->spec().name, raw);
  models_.push_back(std::move(model));
  ++learned_models_;
  return raw;
}

void Registry::Ingest(const GroupView& view, int group_index, absl::Time now, IngestTally& tally) {
  const size_t events = view.predicted.size() + view.labels.size();
  if (events == 0) return;
  if (view.model.empty()) {
    tally.Reject(RejectReason::kMissingModel, events, group_index, 0,
                 absl::StrFormat("group %d: the group names no model", group_index));
    return;
  }

  RejectReason reason = RejectReason::kUnknownModel;
  Model* model = FindOrAddModel(view.model, reason);
  if (model == nullptr) {
    tally.Reject(reason, events, group_index, 0,
                 reason == RejectReason::kModelLimit
                     ? absl::StrFormat("group %d: model \"%s\" is new and %d models are already "
                                       "tracked (max_models)",
                                       group_index, view.model, options_.max_models)
                     : absl::StrFormat("group %d: model \"%s\" is not in the config", group_index,
                                       view.model));
    return;
  }

  // The dictionary is resolved once per group; a learned model may grow here.
  Group g{view, group_index, now, tally, *model, {}, 0, {}, {}, {}, {}};
  model->ResolveClasses(view.class_names, g.dictionary);
  g.num_classes = model->NumClasses();

  if (!view.predicted.empty()) IngestPredictions(g);
  if (!view.labels.empty()) IngestLabels(g);
  g.Finish();
}

bool Registry::CheckPredictionColumns(Group& g, std::vector<int>& feature_of) {
  const GroupView& v = g.view;
  const size_t n = v.predicted.size();
  const int k_dict = g.ScoreColumns();

  auto bad_length = [n](size_t size) { return size != 0 && size != n; };
  std::string shape_error;
  if (bad_length(v.prediction_timestamp_ms.size())) shape_error = "timestamp_ms";
  if (bad_length(v.prediction_ids.size())) shape_error = "ids";
  if (bad_length(v.inline_labels.size())) shape_error = "label";
  for (const FeatureColumnView& f : v.features) {
    if (bad_length(f.values.size()))
      shape_error = absl::StrCat("feature \"", std::string(f.name), "\"");
  }
  if (!shape_error.empty()) {
    g.RejectAll(RejectReason::kColumnLength, n,
                absl::StrFormat("predictions.%s does not hold one value per prediction (%d)",
                                shape_error, n));
    return false;
  }
  if (!v.scores.empty() && v.scores.size() != n * static_cast<size_t>(k_dict)) {
    g.RejectAll(RejectReason::kScoresLength, n,
                absl::StrFormat("predictions.scores holds %d values; %d predictions x %d classes "
                                "need %d",
                                v.scores.size(), n, k_dict, n * k_dict));
    return false;
  }
  feature_of.assign(v.features.size(), 0);
  for (size_t f = 0; f < v.features.size(); ++f) {
    const std::vector<FeatureSpec>& specs = g.model.spec().features;
    auto it = std::find_if(specs.begin(), specs.end(),
                           [&](const FeatureSpec& s) { return s.name == v.features[f].name; });
    if (it == specs.end()) {
      g.RejectAll(RejectReason::kUnknownFeature, n,
                  absl::StrFormat("feature \"%s\" is not a feature of model \"%s\"",
                                  v.features[f].name, g.model.spec().name));
      return false;
    }
    feature_of[f] = static_cast<int>(it - specs.begin());
  }
  return true;
}

void Registry::IngestPredictions(Group& g) {
  const GroupView& v = g.view;
  const size_t n = v.predicted.size();
  const int k_dict = g.ScoreColumns();
  const std::string& model_name = g.model.spec().name;

  std::vector<int> feature_of;
  if (!CheckPredictionColumns(g, feature_of)) return;

  const std::string_view version_name = v.version.empty() ? "default" : v.version;
  ModelVersion* version = g.model.FindOrAddVersion(version_name, options_.max_versions);
  if (version == nullptr) {
    g.RejectAll(RejectReason::kVersionLimit, n,
                absl::StrFormat("version \"%s\" is new and model \"%s\" already has %d versions "
                                "(max_versions)",
                                version_name, model_name, options_.max_versions));
    return;
  }

  const BucketLayout& layout = g.model.layout();
  if (version->drift != nullptr) {
    version->drift->BeforeBatch(version->counters, g.now, [&g] { return g.model.ClassNames(); });
  }
  WindowedCounters::BucketWriter& w = g.WriterFor(version);
  DriftFeed& feed = g.FeedFor(version);
  EvaluationSums& sums = g.SumsFor(version);

  // Every check is a pass over a whole column, so a clean group (the usual case) goes through no
  // per-event check at all. Classes: each prediction's and inline label's model class. Scores:
  // rows in model class order are the group's own column when it already is in that order, else
  // a reordered copy (dictionary names the model lacks are dropped, classes absent from the
  // dictionary score 0); each row's top score and clipped sum come from one pass.
  const ClassResolver class_of = g.Resolver();
  thread_local std::vector<int32_t> predicted;
  thread_local std::vector<int32_t> actual;
  const bool classes_valid = class_of.ResolvePredictions(v.predicted, predicted) &
                             class_of.ResolveLabels(v.inline_labels, n, actual);
  const bool scored = !v.scores.empty() && g.num_classes > 0;
  const bool features_valid =
      std::all_of(v.features.begin(), v.features.end(),
                  [](const FeatureColumnView& f) { return AllFinite(f.values); });
  const int k = scored ? g.num_classes : 0;
  thread_local std::vector<float> reordered;
  thread_local std::vector<RowSummary> summaries;
  const float* model_scores = v.scores.data();
  if (scored) {
    if (!g.DictionaryIsIdentity()) model_scores = g.ReorderScores(k, reordered);
    summaries.resize(n);
  }

  // The usual group, clean, scored and labelled inline throughout, is evaluated in one pass over
  // its scores that also checks them; scores that fail the check send the group down the general
  // path below, which finds the events to reject.
  const bool all_labelled =
      !v.inline_labels.empty() && std::all_of(v.inline_labels.begin(), v.inline_labels.end(),
                                              [](int32_t label) { return label >= 0; });
  thread_local LabelledRowSums labelled_sums;
  bool evaluated_in_one_pass = false;
  if (scored && classes_valid && features_valid && all_labelled && n > 0) {
    labelled_sums.Reset(k, layout.calibration_bins());
    const bool valid =
        EvaluateLabelledRows(model_scores, n, k, actual.data(), layout.calibration_bins(),
                             summaries.data(), labelled_sums);
    // A reordered copy lacks the dictionary's columns that the model does not have: the check
    // is of the scores as sent.
    evaluated_in_one_pass = model_scores == v.scores.data() ? valid : ScoresValid(v.scores);
  }
  const bool scores_valid = evaluated_in_one_pass || !scored || ScoresValid(v.scores);
  if (scored && !evaluated_in_one_pass) SummarizeRows(model_scores, n, k, summaries.data());

  // The accepted predictions: all of a clean group, else those that pass the per-event checks.
  thread_local std::vector<uint32_t> accepted_rows;
  std::span<const uint32_t> accepted = AllRows(n);
  if (!(classes_valid && scores_valid && features_valid)) {
    accepted_rows.clear();
    for (size_t i = 0; i < n; ++i) {
      const int event = static_cast<int>(i);
      if (predicted[i] < 0) {
        g.RejectClass(v.predicted[i], predicted[i], "event", event);
        continue;
      }
      if (actual[i] < 0 && actual[i] != kNoLabel) {
        g.RejectClass(v.inline_labels[i], actual[i], "event", event);
        continue;
      }
      const float* raw = scored ? v.scores.data() + i * k_dict : nullptr;
      if (!scores_valid && !ScoresValid({raw, static_cast<size_t>(k_dict)})) {
        RejectEvent(g.tally, RejectReason::kInvalidScore, g.index, event, [&] {
          return absl::StrFormat("group %d event %d: a score is NaN, infinite or outside [0, 1]",
                                 g.index, event);
        });
        continue;
      }
      auto bad_feature = [&](const FeatureColumnView& f) { return !std::isfinite(f.values[i]); };
      if (auto f = features_valid ? v.features.end()
                                  : std::find_if(v.features.begin(), v.features.end(), bad_feature);
          f != v.features.end()) {
        RejectEvent(g.tally, RejectReason::kInvalidFeature, g.index, event, [&] {
          return absl::StrFormat("group %d event %d: feature \"%s\" is NaN or infinite", g.index,
                                 event, f->name);
        });
        continue;
      }
      accepted_rows.push_back(static_cast<uint32_t>(i));
    }
    accepted = accepted_rows;
  }

  // Counts, each in a pass of its own: no add to an atomic slot in a loop that could otherwise
  // keep what it reads in registers.
  const size_t predictions_slot = layout.prediction(0);
  for (uint32_t i : accepted) w.Add(predictions_slot + static_cast<size_t>(predicted[i]));
  g.tally.accepted_predictions += accepted.size();
  feed.predictions += accepted.size();
  if (scored) {
    w.Add(layout.scored(), accepted.size());
    sums.confidence +=
        evaluated_in_one_pass ? labelled_sums.Confidence() : SumOfTops(summaries.data(), accepted);
    if (feed.collect) {
      for (uint32_t i : accepted) feed.confidences.push_back(summaries[i].top);
    }
  }

  // Predictions with inline labels are evaluated now; unlabelled ones with an id wait for their
  // label. A group is usually all one or the other, which needs no list of its own.
  thread_local std::vector<uint32_t> labelled_rows;
  thread_local std::vector<uint32_t> waiting_rows;
  std::span<const uint32_t> labelled;
  std::span<const uint32_t> waiting;
  if (v.inline_labels.empty()) {
    waiting = accepted;
  } else if (all_labelled) {
    labelled = accepted;
  } else {
    labelled_rows.clear();
    waiting_rows.clear();
    for (uint32_t i : accepted) (actual[i] >= 0 ? labelled_rows : waiting_rows).push_back(i);
    labelled = labelled_rows;
    waiting = waiting_rows;
  }

  if (evaluated_in_one_pass) {
    CountConfusion(layout, w, {labelled, actual.data(), predicted.data()}, feed);
    AddLabelledSums(layout, w, labelled_sums, sums);
    w.Add(layout.evaluated_scored(), labelled.size());
  } else {
    EvaluateRows(layout, w, {labelled, actual.data(), predicted.data()}, model_scores, k,
                 summaries.data(), sums, feed);
  }
  if (scored && !labelled.empty() && !evaluated_in_one_pass) {
    // The label-free part of the Brier sums.
    w.Add(layout.evaluated_scored(), labelled.size());
    AddSquares(model_scores, k, labelled, sums.brier.data());
  }

  // The distribution histograms, for a model with drift configured.
  if (layout.has_histograms()) {
    std::vector<const std::vector<float>*> thresholds;
    for (int f : feature_of) thresholds.push_back(&g.model.FeatureThresholds(f));
    const HistogramColumns columns{model_scores, k,          summaries.data(),
                                   v.features,   feature_of, thresholds};
    CountHistograms(layout, w, columns, n, accepted);
  }

  // Predictions with an id wait for their label; labels already waiting join now, on this
  // version's counters.
  if (v.prediction_ids.empty()) return;
  std::vector<PendingPrediction> pending;
  for (uint32_t i : waiting) {
    const uint64_t id = v.prediction_ids[i];
    if (id == 0) continue;
    const int64_t ts = v.prediction_timestamp_ms.empty() || v.prediction_timestamp_ms[i] <= 0
                           ? g.NowMillis()
                           : v.prediction_timestamp_ms[i];
    const float* p = scored ? model_scores + i * static_cast<size_t>(k) : nullptr;
    pending.push_back(
        PendingPrediction{id, version->handle, predicted[i], ts, {p, static_cast<size_t>(k)}});
  }
  if (pending.empty()) return;
  w.Add(layout.with_id(), pending.size());
  Joined joined;
  g.model.joiner().AddPredictions(pending, g.now, joined);
  for (const JoinedPair& pair : joined.pairs) {
    EvaluateJoined(layout, w, pair, joined.ScoresOf(pair), sums, feed);
  }
}

void Registry::IngestLabels(Group& g) {
  const GroupView& v = g.view;
  const size_t m = v.labels.size();
  if (v.label_ids.empty()) {
    g.RejectAll(RejectReason::kMissingId, m,
                "labels carry no ids; a label needs the id of its prediction");
    return;
  }
  if (v.label_ids.size() != m ||
      (!v.label_timestamp_ms.empty() && v.label_timestamp_ms.size() != m)) {
    g.RejectAll(RejectReason::kColumnLength, m,
                absl::StrFormat("labels.%s does not hold one value per label (%d)",
                                v.label_ids.size() != m ? "ids" : "timestamp_ms", m));
    return;
  }

  std::vector<PendingLabel> labels;
  labels.reserve(m);
  for (size_t j = 0; j < m; ++j) {
    const int event = static_cast<int>(j);
    if (v.label_ids[j] == 0) {
      RejectEvent(g.tally, RejectReason::kMissingId, g.index, event, [&] {
        return absl::StrFormat("group %d label %d: the label has no id", g.index, event);
      });
      continue;
    }
    const int actual = g.ClassOf(v.labels[j]);
    if (actual < 0) {
      g.RejectClass(v.labels[j], actual, "label", event);
      continue;
    }
    ++g.tally.accepted_labels;
    const int64_t ts = v.label_timestamp_ms.empty() || v.label_timestamp_ms[j] <= 0
                           ? g.NowMillis()
                           : v.label_timestamp_ms[j];
    labels.push_back(PendingLabel{v.label_ids[j], actual, ts});
  }

  // Each joined pair counts on the counters of its prediction's version.
  Joined joined;
  g.model.joiner().AddLabels(labels, g.now, joined);
  const BucketLayout& layout = g.model.layout();
  for (const JoinedPair& pair : joined.pairs) {
    ModelVersion* version = g.VersionOf(pair.version);
    if (version == nullptr) continue;
    WindowedCounters::BucketWriter& w = g.WriterFor(version);
    EvaluateJoined(layout, w, pair, joined.ScoresOf(pair), g.SumsFor(version), g.FeedFor(version));
  }
}

}  // namespace modelwatch::core
