#include "daemon/exporter.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/bucket_layout.h"
#include "core/drift_monitor.h"
#include "core/label_joiner.h"
#include "core/report.h"
#include "core/writer_slot.h"
#include "prometheus/text_serializer.h"

namespace modelwatch::daemon {
namespace {

using Label = prometheus::ClientMetric::Label;
using Labels = std::vector<Label>;
using prometheus::MetricFamily;
using prometheus::MetricType;

// Every family of the exposition, in output order. Families left without samples are omitted.
struct Families {
  std::vector<MetricFamily> all;

  MetricFamily& Add(std::string name, std::string help, MetricType type) {
    all.push_back(MetricFamily{std::move(name), std::move(help), type, {}});
    return all.back();
  }
};

void Sample(MetricFamily& family, Labels labels, double value) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  if (family.type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  family.metric.push_back(std::move(m));
}

Labels With(const Labels& base, std::initializer_list<Label> extra) {
  Labels out = base;
  out.insert(out.end(), extra.begin(), extra.end());
  return out;
}

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

  // References into Families::all, which is reserved up front so they stay valid.
  MetricFamily &predictions, &confusion, &scored, &confidence_sum, &scored_evaluations,
      &log_loss_sum, &brier_sum, &calibration, &calibration_correct, &calibration_confidence_sum,
      &with_id, &joins, &expired, &duplicates, &evictions, &lag, &window_predictions,
      &window_evaluated, &accuracy, &precision, &recall, &f1, &support, &precision_average,
      &recall_average, &f1_average, &balanced_accuracy, &cohen_kappa, &matthews, &window_confusion,
      &log_loss, &brier, &ece, &mean_confidence, &coverage, &pending;
};

void AddCumulative(ModelFamilies& f, const core::BucketLayout& layout, const Labels& base,
                   const std::vector<std::string>& classes, const core::Counts& c) {
  const int k = static_cast<int>(classes.size());
  for (int p = 0; p < k; ++p) {
    Sample(f.predictions, With(base, {{"class", classes[p]}}),
           static_cast<double>(c.count(layout.prediction(p))));
  }
  for (int a = 0; a < k; ++a) {
    for (int p = 0; p < k; ++p) {
      Sample(f.confusion, With(base, {{"actual", classes[a]}, {"predicted", classes[p]}}),
             static_cast<double>(c.count(layout.confusion(a, p))));
    }
  }
  Sample(f.scored, base, static_cast<double>(c.count(layout.scored())));
  Sample(f.confidence_sum, base, c.sum(layout.confidence_sum()));
  Sample(f.scored_evaluations, base, static_cast<double>(c.count(layout.evaluated_scored())));
  Sample(f.log_loss_sum, base, c.sum(layout.log_loss_sum()));
  for (int p = 0; p < k; ++p) {
    Sample(f.brier_sum, With(base, {{"class", classes[p]}}), c.sum(layout.brier_sum(p)));
  }
  const int bins = layout.calibration_bins();
  for (int b = 0; b < bins; ++b) {
    Labels labels = With(base, {{"bin", BinLabel(b, bins)}});
    Sample(f.calibration, labels, static_cast<double>(c.count(layout.calibration_count(b))));
    Sample(f.calibration_correct, labels,
           static_cast<double>(c.count(layout.calibration_correct(b))));
    Sample(f.calibration_confidence_sum, labels, c.sum(layout.calibration_confidence_sum(b)));
  }
  Sample(f.with_id, base, static_cast<double>(c.count(layout.with_id())));
  Sample(f.joins, base, static_cast<double>(c.count(layout.joined())));
}

void AddAverages(MetricFamily& family, const Labels& base, const core::ClassificationReport& report,
                 double core::PrecisionRecallF1::*field) {
  Sample(family, With(base, {{"average", "macro"}}), report.macro.*field);
  Sample(family, With(base, {{"average", "micro"}}), report.micro.*field);
  Sample(family, With(base, {{"average", "weighted"}}), report.weighted.*field);
}

void AddReport(ModelFamilies& f, const Labels& base, const std::vector<std::string>& classes,
               const core::ClassificationReport& r) {
  Sample(f.accuracy, base, r.accuracy);
  for (size_t i = 0; i < r.classes.size(); ++i) {
    Labels labels = With(base, {{"class", ClassName(classes, r.classes[i])}});
    Sample(f.precision, labels, r.per_class[i].precision);
    Sample(f.recall, labels, r.per_class[i].recall);
    Sample(f.f1, labels, r.per_class[i].f1);
    Sample(f.support, labels, static_cast<double>(r.support[i]));
    if (i < r.brier.size()) Sample(f.brier, labels, r.brier[i]);
  }
  AddAverages(f.precision_average, base, r, &core::PrecisionRecallF1::precision);
  AddAverages(f.recall_average, base, r, &core::PrecisionRecallF1::recall);
  AddAverages(f.f1_average, base, r, &core::PrecisionRecallF1::f1);
  Sample(f.balanced_accuracy, base, r.balanced_accuracy);
  if (r.cohen_kappa) Sample(f.cohen_kappa, base, *r.cohen_kappa);
  Sample(f.matthews, base, r.matthews_corrcoef);
  if (r.log_loss) Sample(f.log_loss, base, *r.log_loss);
  if (r.expected_calibration_error) Sample(f.ece, base, *r.expected_calibration_error);
}

void AddWindow(ModelFamilies& f, const core::BucketLayout& layout, const Labels& base,
               const std::vector<std::string>& classes, const core::Counts& c) {
  const int k = static_cast<int>(classes.size());
  uint64_t predictions = 0;
  uint64_t evaluated = 0;
  for (int p = 0; p < k; ++p) predictions += c.count(layout.prediction(p));
  for (int a = 0; a < k; ++a) {
    for (int p = 0; p < k; ++p) evaluated += c.count(layout.confusion(a, p));
  }
  Sample(f.window_predictions, base, static_cast<double>(predictions));
  Sample(f.window_evaluated, base, static_cast<double>(evaluated));

  if (std::optional<core::ClassificationReport> report = core::ComputeReport(layout, c)) {
    AddReport(f, base, classes, *report);
    // The window's confusion matrix over the report's classes, as sklearn's confusion_matrix.
    for (int a : report->classes) {
      for (int p : report->classes) {
        Sample(
            f.window_confusion,
            With(base, {{"actual", ClassName(classes, a)}, {"predicted", ClassName(classes, p)}}),
            static_cast<double>(c.count(layout.confusion(a, p))));
      }
    }
  }
  if (std::optional<core::ConfidenceSummary> confidence = core::ComputeConfidence(layout, c)) {
    Sample(f.mean_confidence, base, confidence->mean_confidence);
  }
  uint64_t with_id = c.count(layout.with_id());
  if (with_id > 0) {
    Sample(f.coverage, base,
           static_cast<double>(c.count(layout.joined())) / static_cast<double>(with_id));
  }
}

void AddJoinStats(ModelFamilies& f, const Labels& base, const core::JoinStats& s) {
  Sample(f.expired, With(base, {{"kind", "prediction"}}),
         static_cast<double>(s.expired_predictions));
  Sample(f.expired, With(base, {{"kind", "label"}}), static_cast<double>(s.expired_labels));
  Sample(f.duplicates, With(base, {{"kind", "prediction"}}),
         static_cast<double>(s.duplicate_predictions));
  Sample(f.duplicates, With(base, {{"kind", "label"}}), static_cast<double>(s.duplicate_labels));
  Sample(f.evictions, base, static_cast<double>(s.evicted));
  Sample(f.pending, With(base, {{"kind", "prediction"}}),
         static_cast<double>(s.pending_predictions));
  Sample(f.pending, With(base, {{"kind", "label"}}), static_cast<double>(s.pending_labels));

  // Prometheus buckets are cumulative; the core counts per bucket.
  prometheus::ClientMetric m;
  m.label = base;
  const std::vector<double>& bounds = core::LabelJoiner::LagBucketBounds();
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (i < s.lag_buckets.size()) cumulative += s.lag_buckets[i];
    m.histogram.bucket.push_back({cumulative, bounds[i]});
  }
  m.histogram.bucket.push_back({s.lag_count, std::numeric_limits<double>::infinity()});
  m.histogram.sample_count = s.lag_count;
  m.histogram.sample_sum = s.lag_sum_seconds;
  f.lag.metric.push_back(std::move(m));
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

  MetricFamily &histogram, &reference, &drift, &detections, &detector_state, &state_errors;
};

void AddHistograms(MetricFamily& family, const Labels& base, const core::DriftReference& signals) {
  for (const auto& [signal, h] : signals.signals) {
    for (size_t b = 0; b < h.counts.size(); ++b) {
      Sample(family, With(base, {{"signal", signal}, {"bin", core::SignalBinLabel(h, b)}}),
             h.counts[b]);
    }
  }
}

void AddDrift(DriftFamilies& f, const core::Model& model, const core::ModelVersion& version,
              const Labels& base, const std::vector<std::string>& classes,
              const core::Counts& cumulative, absl::Time now) {
  core::DriftMonitor& monitor = *version.drift;
  AddHistograms(f.histogram, base,
                core::ReadSignals(model.spec(), model.layout(), classes, cumulative));
  for (const core::DriftSample& s : monitor.Compute(version.counters, classes, now)) {
    Sample(f.drift,
           With(base, {{"window", s.window}, {"signal", s.signal}, {"statistic", s.statistic}}),
           s.value);
  }
  if (std::shared_ptr<const core::DriftReference> reference = monitor.reference()) {
    AddHistograms(f.reference, base, *reference);
  }
  for (const core::DetectorSample& d : monitor.Detectors()) {
    Labels labels = With(base, {{"detector", d.detector}, {"stream", d.stream}});
    Sample(f.detections, labels, static_cast<double>(d.detections));
    for (const auto& [field, value] : d.state) {
      Sample(f.detector_state, With(labels, {{"field", field}}), value);
    }
  }
  Sample(f.state_errors, base, static_cast<double>(monitor.state_errors()));
}

}  // namespace

Exporter::Exporter(core::Registry& registry, const IngestCounters& counters,
                   const core::Clock& clock, ExporterInfo info)
    : registry_(registry), counters_(counters), clock_(clock), info_(std::move(info)) {}

std::string Exporter::Scrape() {
  absl::Time now = clock_.Now();
  registry_.Tick(now);
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, Collect(now));
  return std::move(out).str();
}

std::vector<prometheus::MetricFamily> Exporter::Collect(absl::Time now) const {
  Families families;
  // ModelFamilies and the families below hold references into `all`: no reallocation allowed.
  families.all.reserve(64);
  ModelFamilies f(families);
  DriftFamilies drift(families);

  std::vector<core::Model*> models = registry_.Models();
  for (const core::Model* model : models) {
    const core::BucketLayout& layout = model->layout();
    const std::vector<std::string> classes = model->ClassNames();
    Labels model_labels = {{"model", model->spec().name}};
    AddJoinStats(f, model_labels, model->joiner().Stats());

    for (const core::ModelVersion* version : model->Versions()) {
      Labels base = With(model_labels, {{"version", VersionLabel(version->name)}});
      const core::Counts cumulative = version->counters.Cumulative();
      AddCumulative(f, layout, base, classes, cumulative);
      if (version->drift != nullptr) {
        AddDrift(drift, *model, *version, base, classes, cumulative, now);
      }
      const std::vector<core::WindowSpec>& windows = version->counters.windows();
      for (size_t w = 0; w < windows.size(); ++w) {
        AddWindow(f, layout, With(base, {{"window", windows[w].name}}), classes,
                  version->counters.Window(static_cast<int>(w), now));
      }
    }
  }

  MetricFamily& accepted =
      families.Add("modelwatch_events_accepted_total", "Events accepted.", MetricType::Counter);
  for (const IngestCounters::ModelTotals& m : counters_.Accepted()) {
    Sample(accepted, {{"model", m.model}, {"kind", "prediction"}},
           static_cast<double>(m.predictions));
    Sample(accepted, {{"model", m.model}, {"kind", "label"}}, static_cast<double>(m.labels));
  }
  MetricFamily& rejected = families.Add("modelwatch_events_rejected_total",
                                        "Events rejected, by reason.", MetricType::Counter);
  for (int i = 1; i < core::kNumRejectReasons; ++i) {
    auto reason = static_cast<core::RejectReason>(i);
    Sample(rejected, {{"reason", std::string(core::RejectReasonName(reason))}},
           static_cast<double>(counters_.Rejected(reason)));
  }
  MetricFamily& batches =
      families.Add("modelwatch_batches_total", "Batches read.", MetricType::Counter);
  for (Rpc rpc : {Rpc::kStream, Rpc::kSend}) {
    Sample(batches, {{"rpc", std::string(RpcName(rpc))}},
           static_cast<double>(counters_.Batches(rpc)));
  }
  Sample(families.Add("modelwatch_writer_slot_overflow_total",
                      "Writer threads that found no free counter shard (they share a locked "
                      "shard).",
                      MetricType::Counter),
         {}, static_cast<double>(core::WriterSlot::OverflowAcquisitions()));
  Sample(
      families.Add("modelwatch_build_info", "Build of the running modelwatchd.", MetricType::Gauge),
      {{"version", info_.version}, {"revision", info_.revision}}, 1);
  Sample(families.Add("modelwatch_config_info", "Config the daemon runs on.", MetricType::Gauge),
         {{"source", info_.config_source}, {"hash", info_.config_hash}}, 1);
  Sample(families.Add("modelwatch_models", "Models tracked.", MetricType::Gauge), {},
         static_cast<double>(models.size()));

  std::vector<MetricFamily> out;
  out.reserve(families.all.size());
  for (MetricFamily& family : families.all) {
    if (!family.metric.empty()) out.push_back(std::move(family));
  }
  return out;
}

}  // namespace modelwatch::daemon
