#include "daemon/exporter.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <deque>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/bucket_layout.h"
#include "core/drift_monitor.h"
#include "core/label_joiner.h"
#include "core/report.h"
#include "core/writer_slot.h"

namespace modelwatch::daemon {
namespace {

using prometheus::MetricFamily;
using prometheus::MetricType;

// A label a sample adds to those of its series; both views outlive the call that takes it.
struct Extra {
  std::string_view name;
  std::string_view value;
};

// Label values escaped as the text format requires (backslash, double quote, newline).
void AppendEscaped(std::string& out, std::string_view value) {
  size_t plain = 0;  // start of the characters not appended yet
  for (size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c != '\\' && c != '"' && c != '\n') continue;
    out.append(value.substr(plain, i - plain));
    out.append(c == '\n' ? "\\n" : c == '\\' ? "\\\\" : "\\\"");
    plain = i + 1;
  }
  out.append(value.substr(plain));
}

void AppendLabel(std::string& out, Extra label) {
  out.append(label.name);
  out.append("=\"");
  AppendEscaped(out, label.value);
  out.push_back('"');
}

// A value as prometheus-cpp writes it (printf's %.16g, Nan, +Inf, -Inf), with a fast path for
// the integral values of counts.
void AppendValue(std::string& out, double value) {
  if (std::isnan(value)) {
    out.append("Nan");
    return;
  }
  if (std::isinf(value)) {
    out.append(value < 0 ? "-Inf" : "+Inf");
    return;
  }
  char buffer[32];
  std::to_chars_result r;
  if (std::abs(value) < 1e15 && value == std::trunc(value)) {
    r = std::to_chars(buffer, buffer + sizeof(buffer), static_cast<int64_t>(value));
  } else {
    r = std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::general, 16);
  }
  out.append(buffer, r.ptr);
}

// The labels of a series (a model, a version, a window): the pairs, and the same pairs as
// exposition text, built once and shared by all the series' samples.
class LabelSet {
 public:
  LabelSet With(std::initializer_list<Extra> extra) const {
    LabelSet out = *this;
    for (Extra e : extra) {
      if (!out.text_.empty()) out.text_.push_back(',');
      AppendLabel(out.text_, e);
      out.pairs_.push_back({std::string(e.name), std::string(e.value)});
    }
    return out;
  }

  const std::string& text() const { return text_; }
  const std::vector<prometheus::ClientMetric::Label>& pairs() const { return pairs_; }

 private:
  std::vector<prometheus::ClientMetric::Label> pairs_;
  std::string text_;
};

// How a render keeps its samples: as exposition text (Scrape), or as prometheus-cpp's
// ClientMetrics (Collect).
enum class Output { kText, kStructured };

// One family of the exposition and its samples so far.
class Family {
 public:
  Family(std::string name, std::string help, MetricType type, Output output)
      : family_{std::move(name), std::move(help), type, {}}, output_(output) {}

  MetricType type() const { return family_.type; }
  bool empty() const {
    return output_ == Output::kText ? samples_.empty() : family_.metric.empty();
  }

  void Sample(const LabelSet& labels, std::initializer_list<Extra> extra, double value) {
    if (output_ == Output::kText) {
      AppendHead("", labels, extra);
      AppendValue(samples_, value);
      samples_.push_back('\n');
      return;
    }
    prometheus::ClientMetric m = Structured(labels, extra);
    if (family_.type == MetricType::Counter) {
      m.counter.value = value;
    } else {
      m.gauge.value = value;
    }
    family_.metric.push_back(std::move(m));
  }
  void Sample(const LabelSet& labels, double value) { Sample(labels, {}, value); }

  // One histogram series: per-bucket counts (made cumulative here) under `bounds`, then +Inf.
  void Histogram(const LabelSet& labels, const std::vector<double>& bounds,
                 const std::vector<uint64_t>& buckets, uint64_t count, double sum) {
    prometheus::ClientMetric m = Structured(labels, {});
    uint64_t cumulative = 0;
    for (size_t i = 0; i < bounds.size(); ++i) {
      if (i < buckets.size()) cumulative += buckets[i];
      m.histogram.bucket.push_back({cumulative, bounds[i]});
    }
    m.histogram.bucket.push_back({count, std::numeric_limits<double>::infinity()});
    m.histogram.sample_count = count;
    m.histogram.sample_sum = sum;
    if (output_ == Output::kStructured) {
      family_.metric.push_back(std::move(m));
      return;
    }

    // The order prometheus-cpp writes: _count, _sum, then the buckets.
    AppendHead("_count", labels, {});
    AppendValue(samples_, static_cast<double>(count));
    samples_.push_back('\n');
    AppendHead("_sum", labels, {});
    AppendValue(samples_, sum);
    samples_.push_back('\n');
    std::string le;
    for (const prometheus::ClientMetric::Bucket& b : m.histogram.bucket) {
      le.clear();
      AppendValue(le, b.upper_bound);
      AppendHead("_bucket", labels, {{"le", le}});
      AppendValue(samples_, static_cast<double>(b.cumulative_count));
      samples_.push_back('\n');
    }
  }

  // The family's HELP and TYPE lines and its samples, as text.
  void AppendText(std::string& out) const {
    out.append("# HELP ").append(family_.name).append(" ").append(family_.help).append("\n");
    out.append("# TYPE ").append(family_.name).append(" ").append(TypeName()).append("\n");
    out.append(samples_);
  }
  size_t TextSize() const {
    return 2 * family_.name.size() + family_.help.size() + samples_.size() + 32;
  }

  MetricFamily Take() { return std::move(family_); }

 private:
  prometheus::ClientMetric Structured(const LabelSet& labels,
                                      std::initializer_list<Extra> extra) const {
    prometheus::ClientMetric m;
    m.label = labels.pairs();
    for (Extra e : extra) m.label.push_back({std::string(e.name), std::string(e.value)});
    return m;
  }

  // The sample line up to its value: name, suffix, labels and the space.
  void AppendHead(std::string_view suffix, const LabelSet& labels,
                  std::initializer_list<Extra> extra) {
    samples_.append(family_.name).append(suffix);
    if (!labels.text().empty() || extra.size() > 0) {
      samples_.push_back('{');
      samples_.append(labels.text());
      bool first = labels.text().empty();
      for (Extra e : extra) {
        if (!first) samples_.push_back(',');
        first = false;
        AppendLabel(samples_, e);
      }
      samples_.push_back('}');
    }
    samples_.push_back(' ');
  }

  std::string_view TypeName() const {
    switch (family_.type) {
      case MetricType::Counter:
        return "counter";
      case MetricType::Gauge:
        return "gauge";
      case MetricType::Histogram:
        return "histogram";
      case MetricType::Summary:
        return "summary";
      default:
        return "untyped";
    }
  }

  MetricFamily family_;
  const Output output_;
  std::string samples_;
};

// Every family of the exposition, in output order. Families left without samples are omitted.
// A deque, so references to its families stay valid as families are added.
struct Families {
  explicit Families(Output out) : output(out) {}

  Family& Add(std::string name, std::string help, MetricType type) {
    return all.emplace_back(std::move(name), std::move(help), type, output);
  }

  const Output output;
  std::deque<Family> all;
};

// The class name of index `c`; a learned class is named by the time it is counted, so the index
// fallback only shows if the core and the class list disagree.
std::string ClassName(const std::vector<std::string>& names, int c) {
  return c >= 0 && static_cast<size_t>(c) < names.size() ? names[c] : absl::StrCat(c);
}

std::string BinLabel(int bin, int bins) {
  return absl::StrCat(static_cast<double>(bin + 1) / bins);
}

std::string VersionLabel(const std::string& version) {
  return version.empty() ? "default" : version;
}

// The families fed by the registry, in README order.
struct ModelFamilies {
  explicit ModelFamilies(Families& f)
      : predictions(f.Add("modelwatch_predictions_total", "Predictions by predicted class.",
                          MetricType::Counter)),
        confusion(f.Add("modelwatch_confusion_matrix_total",
                        "Evaluated predictions by true and predicted class.", MetricType::Counter)),
        scored(f.Add("modelwatch_scored_predictions_total", "Predictions that carried scores.",
                     MetricType::Counter)),
        confidence_sum(f.Add("modelwatch_confidence_sum_total",
                             "Sum of the top score of scored predictions.", MetricType::Counter)),
        scored_evaluations(f.Add("modelwatch_scored_evaluations_total",
                                 "Evaluated predictions that carried scores.",
                                 MetricType::Counter)),
        log_loss_sum(f.Add("modelwatch_log_loss_sum_total",
                           "Sum of per-event log loss over scored evaluations.",
                           MetricType::Counter)),
        brier_sum(f.Add("modelwatch_brier_sum_total",
                        "Sum of one-vs-rest squared error of the class score over scored "
                        "evaluations.",
                        MetricType::Counter)),
        calibration(f.Add("modelwatch_calibration_total",
                          "Scored evaluations by top-score bin (bin is the upper edge).",
                          MetricType::Counter)),
        calibration_correct(f.Add("modelwatch_calibration_correct_total",
                                  "Scored evaluations by top-score bin that were right.",
                                  MetricType::Counter)),
        calibration_confidence_sum(f.Add("modelwatch_calibration_confidence_sum_total",
                                         "Sum of the top score of scored evaluations in the bin.",
                                         MetricType::Counter)),
        with_id(f.Add("modelwatch_predictions_with_id_total",
                      "Predictions that carried an id (join candidates).", MetricType::Counter)),
        joins(f.Add("modelwatch_label_joins_total", "Predictions joined with their label.",
                    MetricType::Counter)),
        expired(f.Add("modelwatch_join_expired_total",
                      "Join entries that waited the TTL and found no partner.",
                      MetricType::Counter)),
        duplicates(f.Add("modelwatch_join_duplicates_total",
                         "Ids already pending when they arrived again (the newer entry wins).",
                         MetricType::Counter)),
        evictions(f.Add("modelwatch_join_evictions_total",
                        "Pending entries evicted because the join table was full.",
                        MetricType::Counter)),
        lag(f.Add("modelwatch_label_lag_seconds", "Seconds from prediction to label.",
                  MetricType::Histogram)),
        window_predictions(f.Add("modelwatch_window_predictions", "Predictions in the window.",
                                 MetricType::Gauge)),
        window_evaluated(f.Add("modelwatch_window_evaluated",
                               "Evaluated predictions in the window.", MetricType::Gauge)),
        accuracy(f.Add("modelwatch_accuracy", "Accuracy in the window.", MetricType::Gauge)),
        precision(
            f.Add("modelwatch_precision", "Precision per class in the window.", MetricType::Gauge)),
        recall(f.Add("modelwatch_recall", "Recall per class in the window.", MetricType::Gauge)),
        f1(f.Add("modelwatch_f1", "F1 per class in the window.", MetricType::Gauge)),
        support(f.Add("modelwatch_support",
                      "Evaluated predictions whose true class is the class, in the window.",
                      MetricType::Gauge)),
        precision_average(f.Add("modelwatch_precision_average",
                                "Averaged precision (macro, micro, weighted) in the window.",
                                MetricType::Gauge)),
        recall_average(f.Add("modelwatch_recall_average",
                             "Averaged recall (macro, micro, weighted) in the window.",
                             MetricType::Gauge)),
        f1_average(f.Add("modelwatch_f1_average",
                         "Averaged F1 (macro, micro, weighted) in the window.", MetricType::Gauge)),
        balanced_accuracy(f.Add("modelwatch_balanced_accuracy", "Balanced accuracy in the window.",
                                MetricType::Gauge)),
        cohen_kappa(
            f.Add("modelwatch_cohen_kappa", "Cohen's kappa in the window.", MetricType::Gauge)),
        matthews(f.Add("modelwatch_matthews_corrcoef",
                       "Matthews correlation coefficient in the window.", MetricType::Gauge)),
        window_confusion(f.Add("modelwatch_window_confusion", "Confusion matrix of the window.",
                               MetricType::Gauge)),
        log_loss(f.Add("modelwatch_log_loss", "Mean log loss of scored evaluations in the window.",
                       MetricType::Gauge)),
        brier(f.Add("modelwatch_brier_score", "One-vs-rest Brier score per class in the window.",
                    MetricType::Gauge)),
        ece(f.Add("modelwatch_expected_calibration_error",
                  "Expected calibration error in the window.", MetricType::Gauge)),
        mean_confidence(f.Add("modelwatch_mean_confidence",
                              "Mean top score over scored predictions in the window.",
                              MetricType::Gauge)),
        coverage(f.Add("modelwatch_label_coverage",
                       "Joins / predictions with an id, in the window.", MetricType::Gauge)),
        pending(f.Add("modelwatch_join_pending", "Entries waiting in the join table.",
                      MetricType::Gauge)) {}

  // References into Families::all (a deque: they stay valid as families are added).
  Family &predictions, &confusion, &scored, &confidence_sum, &scored_evaluations, &log_loss_sum,
      &brier_sum, &calibration, &calibration_correct, &calibration_confidence_sum, &with_id, &joins,
      &expired, &duplicates, &evictions, &lag, &window_predictions, &window_evaluated, &accuracy,
      &precision, &recall, &f1, &support, &precision_average, &recall_average, &f1_average,
      &balanced_accuracy, &cohen_kappa, &matthews, &window_confusion, &log_loss, &brier, &ece,
      &mean_confidence, &coverage, &pending;
};

void AddCumulative(ModelFamilies& f, const core::BucketLayout& layout, const LabelSet& base,
                   const std::vector<std::string>& classes, const core::Counts& c) {
  const int k = static_cast<int>(classes.size());
  for (int p = 0; p < k; ++p) {
    f.predictions.Sample(base, {{"class", classes[p]}},
                         static_cast<double>(c.count(layout.prediction(p))));
  }
  for (int a = 0; a < k; ++a) {
    for (int p = 0; p < k; ++p) {
      f.confusion.Sample(base, {{"actual", classes[a]}, {"predicted", classes[p]}},
                         static_cast<double>(c.count(layout.confusion(a, p))));
    }
  }
  f.scored.Sample(base, static_cast<double>(c.count(layout.scored())));
  f.confidence_sum.Sample(base, c.sum(layout.confidence_sum()));
  f.scored_evaluations.Sample(base, static_cast<double>(c.count(layout.evaluated_scored())));
  f.log_loss_sum.Sample(base, c.sum(layout.log_loss_sum()));
  for (int p = 0; p < k; ++p) {
    f.brier_sum.Sample(base, {{"class", classes[p]}}, c.sum(layout.brier_sum(p)));
  }
  const int bins = layout.calibration_bins();
  for (int b = 0; b < bins; ++b) {
    const std::string bin = BinLabel(b, bins);
    f.calibration.Sample(base, {{"bin", bin}},
                         static_cast<double>(c.count(layout.calibration_count(b))));
    f.calibration_correct.Sample(base, {{"bin", bin}},
                                 static_cast<double>(c.count(layout.calibration_correct(b))));
    f.calibration_confidence_sum.Sample(base, {{"bin", bin}},
                                        c.sum(layout.calibration_confidence_sum(b)));
  }
  f.with_id.Sample(base, static_cast<double>(c.count(layout.with_id())));
  f.joins.Sample(base, static_cast<double>(c.count(layout.joined())));
}

void AddAverages(Family& family, const LabelSet& base, const core::ClassificationReport& report,
                 double core::PrecisionRecallF1::*field) {
  family.Sample(base, {{"average", "macro"}}, report.macro.*field);
  family.Sample(base, {{"average", "micro"}}, report.micro.*field);
  family.Sample(base, {{"average", "weighted"}}, report.weighted.*field);
}

void AddReport(ModelFamilies& f, const LabelSet& base, const std::vector<std::string>& classes,
               const core::ClassificationReport& r) {
  f.accuracy.Sample(base, r.accuracy);
  for (size_t i = 0; i < r.classes.size(); ++i) {
    const std::string name = ClassName(classes, r.classes[i]);
    const Extra cls{"class", name};
    f.precision.Sample(base, {cls}, r.per_class[i].precision);
    f.recall.Sample(base, {cls}, r.per_class[i].recall);
    f.f1.Sample(base, {cls}, r.per_class[i].f1);
    f.support.Sample(base, {cls}, static_cast<double>(r.support[i]));
    if (i < r.brier.size()) f.brier.Sample(base, {cls}, r.brier[i]);
  }
  AddAverages(f.precision_average, base, r, &core::PrecisionRecallF1::precision);
  AddAverages(f.recall_average, base, r, &core::PrecisionRecallF1::recall);
  AddAverages(f.f1_average, base, r, &core::PrecisionRecallF1::f1);
  f.balanced_accuracy.Sample(base, r.balanced_accuracy);
  if (r.cohen_kappa) f.cohen_kappa.Sample(base, *r.cohen_kappa);
  f.matthews.Sample(base, r.matthews_corrcoef);
  if (r.log_loss) f.log_loss.Sample(base, *r.log_loss);
  if (r.expected_calibration_error) f.ece.Sample(base, *r.expected_calibration_error);
}

void AddWindow(ModelFamilies& f, const core::BucketLayout& layout, const LabelSet& base,
               const std::vector<std::string>& classes, const core::Counts& c) {
  const int k = static_cast<int>(classes.size());
  uint64_t predictions = 0;
  uint64_t evaluated = 0;
  for (int p = 0; p < k; ++p) predictions += c.count(layout.prediction(p));
  for (int a = 0; a < k; ++a) {
    for (int p = 0; p < k; ++p) evaluated += c.count(layout.confusion(a, p));
  }
  f.window_predictions.Sample(base, static_cast<double>(predictions));
  f.window_evaluated.Sample(base, static_cast<double>(evaluated));

  if (std::optional<core::ClassificationReport> report = core::ComputeReport(layout, c)) {
    AddReport(f, base, classes, *report);
    // The window's confusion matrix over the report's classes, as sklearn's confusion_matrix.
    for (int a : report->classes) {
      const std::string actual = ClassName(classes, a);
      for (int p : report->classes) {
        f.window_confusion.Sample(base, {{"actual", actual}, {"predicted", ClassName(classes, p)}},
                                  static_cast<double>(c.count(layout.confusion(a, p))));
      }
    }
  }
  if (std::optional<core::ConfidenceSummary> confidence = core::ComputeConfidence(layout, c)) {
    f.mean_confidence.Sample(base, confidence->mean_confidence);
  }
  uint64_t with_id = c.count(layout.with_id());
  if (with_id > 0) {
    f.coverage.Sample(base,
                      static_cast<double>(c.count(layout.joined())) / static_cast<double>(with_id));
  }
}

void AddJoinStats(ModelFamilies& f, const LabelSet& base, const core::JoinStats& s) {
  f.expired.Sample(base, {{"kind", "prediction"}}, static_cast<double>(s.expired_predictions));
  f.expired.Sample(base, {{"kind", "label"}}, static_cast<double>(s.expired_labels));
  f.duplicates.Sample(base, {{"kind", "prediction"}}, static_cast<double>(s.duplicate_predictions));
  f.duplicates.Sample(base, {{"kind", "label"}}, static_cast<double>(s.duplicate_labels));
  f.evictions.Sample(base, static_cast<double>(s.evicted));
  f.pending.Sample(base, {{"kind", "prediction"}}, static_cast<double>(s.pending_predictions));
  f.pending.Sample(base, {{"kind", "label"}}, static_cast<double>(s.pending_labels));
  f.lag.Histogram(base, core::LabelJoiner::LagBucketBounds(), s.lag_buckets, s.lag_count,
                  s.lag_sum_seconds);
}

// The drift families (docs/drift.md), fed for versions that have a drift monitor.
struct DriftFamilies {
  explicit DriftFamilies(Families& f)
      : histogram(f.Add("modelwatch_signal_histogram_total",
                        "Events by drift signal and bin (bin is the class, or the upper edge).",
                        MetricType::Counter)),
        reference(f.Add("modelwatch_drift_reference_total",
                        "Reference counts by drift signal and bin.", MetricType::Gauge)),
        drift(f.Add("modelwatch_drift",
                    "Drift statistic of a signal in the window against its "
                    "reference.",
                    MetricType::Gauge)),
        detections(f.Add("modelwatch_drift_detections_total",
                         "Changes detected by a streaming change detector.", MetricType::Counter)),
        detector_state(f.Add("modelwatch_drift_detector_state",
                             "Current state of a streaming change detector.", MetricType::Gauge)),
        state_errors(f.Add("modelwatch_drift_state_errors_total",
                           "Captured drift references that could not be saved or loaded.",
                           MetricType::Counter)) {}

  Family &histogram, &reference, &drift, &detections, &detector_state, &state_errors;
};

void AddHistograms(Family& family, const LabelSet& base, const core::DriftReference& signals) {
  for (const auto& [signal, h] : signals.signals) {
    for (size_t b = 0; b < h.counts.size(); ++b) {
      family.Sample(base, {{"signal", signal}, {"bin", core::SignalBinLabel(h, b)}}, h.counts[b]);
    }
  }
}

void AddDrift(DriftFamilies& f, const core::Model& model, const core::ModelVersion& version,
              const LabelSet& base, const std::vector<std::string>& classes,
              const core::Counts& cumulative, absl::Time now) {
  core::DriftMonitor& monitor = *version.drift;
  AddHistograms(f.histogram, base,
                core::ReadSignals(model.spec(), model.layout(), classes, cumulative));
  for (const core::DriftSample& s : monitor.Compute(version.counters, classes, now)) {
    f.drift.Sample(base, {{"window", s.window}, {"signal", s.signal}, {"statistic", s.statistic}},
                   s.value);
  }
  if (std::shared_ptr<const core::DriftReference> reference = monitor.reference()) {
    AddHistograms(f.reference, base, *reference);
  }
  for (const core::DetectorSample& d : monitor.Detectors()) {
    LabelSet labels = base.With({{"detector", d.detector}, {"stream", d.stream}});
    f.detections.Sample(labels, static_cast<double>(d.detections));
    for (const auto& [field, value] : d.state) {
      f.detector_state.Sample(labels, {{"field", field}}, value);
    }
  }
  f.state_errors.Sample(base, static_cast<double>(monitor.state_errors()));
}

// Every family of the exposition as of `now`, into `families`.
void Render(core::Registry& registry, const IngestCounters& counters, const ExporterInfo& info,
            absl::Time now, Families& families) {
  ModelFamilies f(families);
  DriftFamilies drift(families);

  std::vector<core::Model*> models = registry.Models();
  for (const core::Model* model : models) {
    const core::BucketLayout& layout = model->layout();
    const std::vector<std::string> classes = model->ClassNames();
    const LabelSet model_labels = LabelSet().With({{"model", model->spec().name}});
    AddJoinStats(f, model_labels, model->joiner().Stats());

    for (const core::ModelVersion* version : model->Versions()) {
      const LabelSet base = model_labels.With({{"version", VersionLabel(version->name)}});
      const core::Counts cumulative = version->counters.Cumulative();
      AddCumulative(f, layout, base, classes, cumulative);
      if (version->drift != nullptr) {
        AddDrift(drift, *model, *version, base, classes, cumulative, now);
      }
      const std::vector<core::WindowSpec>& windows = version->counters.windows();
      for (size_t w = 0; w < windows.size(); ++w) {
        AddWindow(f, layout, base.With({{"window", windows[w].name}}), classes,
                  version->counters.Window(static_cast<int>(w), now));
      }
    }
  }

  const LabelSet none;
  Family& accepted =
      families.Add("modelwatch_events_accepted_total", "Events accepted.", MetricType::Counter);
  for (const IngestCounters::ModelTotals& m : counters.Accepted()) {
    accepted.Sample(none, {{"model", m.model}, {"kind", "prediction"}},
                    static_cast<double>(m.predictions));
    accepted.Sample(none, {{"model", m.model}, {"kind", "label"}}, static_cast<double>(m.labels));
  }
  Family& rejected = families.Add("modelwatch_events_rejected_total", "Events rejected, by reason.",
                                  MetricType::Counter);
  for (int i = 1; i < core::kNumRejectReasons; ++i) {
    auto reason = static_cast<core::RejectReason>(i);
    rejected.Sample(none, {{"reason", core::RejectReasonName(reason)}},
                    static_cast<double>(counters.Rejected(reason)));
  }
  Family& batches = families.Add("modelwatch_batches_total", "Batches read.", MetricType::Counter);
  for (Rpc rpc : {Rpc::kStream, Rpc::kSend}) {
    batches.Sample(none, {{"rpc", RpcName(rpc)}}, static_cast<double>(counters.Batches(rpc)));
  }
  families
      .Add("modelwatch_writer_slot_overflow_total",
           "Writer threads that found no free counter shard (they share a locked shard).",
           MetricType::Counter)
      .Sample(none, static_cast<double>(core::WriterSlot::OverflowAcquisitions()));
  families.Add("modelwatch_build_info", "Build of the running modelwatchd.", MetricType::Gauge)
      .Sample(none, {{"version", info.version}, {"revision", info.revision}}, 1);
  families.Add("modelwatch_config_info", "Config the daemon runs on.", MetricType::Gauge)
      .Sample(none, {{"source", info.config_source}, {"hash", info.config_hash}}, 1);
  families.Add("modelwatch_models", "Models tracked.", MetricType::Gauge)
      .Sample(none, static_cast<double>(models.size()));
}

}  // namespace

Exporter::Exporter(core::Registry& registry, const IngestCounters& counters,
                   const core::Clock& clock, ExporterInfo info)
    : registry_(registry), counters_(counters), clock_(clock), info_(std::move(info)) {}

std::string Exporter::Scrape() {
  absl::Time now = clock_.Now();
  registry_.Tick(now);
  Families families(Output::kText);
  Render(registry_, counters_, info_, now, families);

  size_t size = 0;
  for (const Family& family : families.all) size += family.TextSize();
  std::string text;
  text.reserve(size);
  for (const Family& family : families.all) {
    if (!family.empty()) family.AppendText(text);
  }
  return text;
}

std::vector<prometheus::MetricFamily> Exporter::Collect(absl::Time now) const {
  Families families(Output::kStructured);
  Render(registry_, counters_, info_, now, families);
  std::vector<MetricFamily> out;
  for (Family& family : families.all) {
    if (!family.empty()) out.push_back(family.Take());
  }
  return out;
}

}  // namespace modelwatch::daemon
