#include "core/drift_monitor.h"

#include <cctype>
#include <cmath>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/drift_stats.h"

namespace modelwatch::core {
namespace {

// A state file name keeps letters, digits, '-', '_' and '.'; every other byte becomes %XX, so
// distinct versions never share a file.
std::string FileSafe(absl::string_view name) {
  std::string out;
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '_' || (c == '.' && !out.empty())) {
      out.push_back(c);
    } else {
      absl::StrAppendFormat(&out, "%%%02X", u);
    }
  }
  return out;
}

// The reference and current counts of one signal over the same bins, with the bin centers of a
// continuous signal; nullopt when the two cannot be compared (different edges or bin counts).
struct AlignedSignal {
  std::vector<double> reference;
  std::vector<double> current;
  std::vector<double> centers;
};

std::optional<AlignedSignal> Align(const std::string& signal, bool categorical,
                                   const SignalHistogram& reference,
                                   const SignalHistogram& current) {
  AlignedSignal out;
  if (categorical) {
    // The reference's categories in its order, then those only the current window has.
    out.reference = reference.counts;
    out.current.assign(reference.counts.size(), 0.0);
    for (size_t i = 0; i < current.categories.size(); ++i) {
      size_t j = 0;
      while (j < reference.categories.size() && reference.categories[j] != current.categories[i]) {
        ++j;
      }
      if (j == reference.categories.size()) {
        out.reference.push_back(0.0);
        out.current.push_back(current.counts[i]);
      } else {
        out.current[j] += current.counts[i];
      }
    }
    return out;
  }
  if (reference.edges != current.edges || reference.counts.size() != current.counts.size()) {
    return std::nullopt;
  }
  out.reference = reference.counts;
  out.current = current.counts;
  if (out.reference.size() > 1) out.centers = SignalBinCenters(signal, current);
  return out;
}

void AddStatistics(const std::string& window, const std::string& signal, bool categorical,
                   const DriftStatistics& d, std::vector<DriftSample>& out) {
  auto add = [&](const char* statistic, double value) {
    out.push_back(DriftSample{window, signal, statistic, value});
  };
  add("psi", d.population_stability_index);
  add("kl", d.kl_divergence);
  add("js", d.jensen_shannon_distance);
  add("hellinger", d.hellinger_distance);
  add("tv", d.total_variation);
  add("linf", d.linf_distance);
  if (categorical) {
    add("chi2_pvalue", d.chi_square.p_value);
    return;
  }
  if (d.wasserstein_distance) add("wasserstein", *d.wasserstein_distance);
  add("ks_statistic", d.kolmogorov_smirnov.statistic);
  add("ks_pvalue", d.kolmogorov_smirnov.p_value);
}

}  // namespace

DriftReference ReadSignals(const ModelSpec& spec, const BucketLayout& layout,
                           const std::vector<std::string>& classes, const Counts& counts) {
  DriftReference out;
  const int k = std::min(static_cast<int>(classes.size()), layout.num_classes());
  auto count = [&counts](size_t slot) { return static_cast<double>(counts.count(slot)); };

  if (k > 0) {
    SignalHistogram predicted;
    SignalHistogram label;
    predicted.categories.assign(classes.begin(), classes.begin() + k);
    label.categories = predicted.categories;
    for (int c = 0; c < k; ++c) {
      predicted.counts.push_back(count(layout.prediction(c)));
      double row = 0;
      for (int p = 0; p < k; ++p) row += count(layout.confusion(c, p));
      label.counts.push_back(row);
    }
    out.signals.emplace("predicted_class", std::move(predicted));
    out.signals.emplace("label", std::move(label));
  }

  // Models without drift configured keep no score or feature histograms.
  if (!layout.has_histograms()) return out;
  const int bins = layout.score_bins();
  std::vector<double> score_edges;
  for (int b = 1; b < bins; ++b) score_edges.push_back(static_cast<double>(b) / bins);
  SignalHistogram confidence;
  confidence.edges = score_edges;
  for (int b = 0; b < bins; ++b) confidence.counts.push_back(count(layout.confidence_histogram(b)));
  out.signals.emplace("confidence", std::move(confidence));
  for (int c = 0; c < k; ++c) {
    SignalHistogram score;
    score.edges = score_edges;
    for (int b = 0; b < bins; ++b) score.counts.push_back(count(layout.score_histogram(c, b)));
    out.signals.emplace(absl::StrCat("score:", classes[c]), std::move(score));
  }

  for (int f = 0; f < layout.num_features() && f < static_cast<int>(spec.features.size()); ++f) {
    SignalHistogram feature;
    feature.edges = spec.features[f].edges;
    for (int b = 0; b < layout.feature_bins(f); ++b) {
      feature.counts.push_back(count(layout.feature_histogram(f, b)));
    }
    out.signals.emplace(absl::StrCat("feature:", spec.features[f].name), std::move(feature));
  }
  return out;
}

DriftMonitor::DriftMonitor(const ModelSpec& spec, std::string model, std::string version)
    : spec_(spec), model_(std::move(model)), version_(std::move(version)) {
  absl::MutexLock lock(&mu_);
  auto add = [this](const char* name, const char* stream) -> Detector& {
    detectors_.push_back(Detector{name, stream, std::nullopt, std::nullopt, std::nullopt});
    return detectors_.back();
  };
  // Options were validated with the config; a failure here leaves the detector out.
  const DriftSpec& d = spec_.drift;
  for (auto [stream, options] : {std::pair{"error", &d.page_hinkley_error},
                                 std::pair{"confidence", &d.page_hinkley_confidence}}) {
    if (!options->has_value()) continue;
    if (auto made = PageHinkley::Create(**options); made.ok()) {
      add("page_hinkley", stream).page_hinkley = *std::move(made);
    }
  }
  for (auto [stream, options] :
       {std::pair{"error", &d.adwin_error}, std::pair{"confidence", &d.adwin_confidence}}) {
    if (!options->has_value()) continue;
    if (auto made = Adwin::Create(**options); made.ok()) {
      add("adwin", stream).adwin = *std::move(made);
    }
  }
  if (d.ddm) {
    if (auto made = Ddm::Create(*d.ddm); made.ok()) add("ddm", "error").ddm = *std::move(made);
  }
  if (captures() && !spec_.drift.state_dir.empty()) LoadState();
}

std::string DriftMonitor::StatePath() const {
  if (spec_.drift.state_dir.empty()) return "";
  return (std::filesystem::path(spec_.drift.state_dir) / FileSafe(model_) /
          (FileSafe(version_) + ".json"))
      .string();
}

void DriftMonitor::LoadState() {
  const std::string path = StatePath();
  std::error_code error;
  if (!std::filesystem::exists(path, error)) return;
  absl::StatusOr<DriftReference> loaded = LoadDriftReferenceFile(path);
  if (!loaded.ok()) {
    RecordStateError(loaded.status());
    return;
  }
  frozen_reference_ = std::make_shared<const DriftReference>(*std::move(loaded));
  frozen_.store(true, std::memory_order_release);
}

void DriftMonitor::RecordStateError(absl::Status status) {
  state_errors_.fetch_add(1, std::memory_order_relaxed);
  last_state_error_ = std::move(status);
}

absl::Status DriftMonitor::last_state_error() const {
  absl::MutexLock lock(&mu_);
  return last_state_error_;
}

void DriftMonitor::NoteFirstSeen(absl::Time now) {
  int64_t expected = kNotSeen;
  first_seen_nanos_.compare_exchange_strong(expected, absl::ToUnixNanos(now),
                                            std::memory_order_relaxed);
}

bool DriftMonitor::CaptureDue(absl::Time now) const {
  if (spec_.drift.reference == DriftSpec::Reference::kCaptureEvents) {
    return predictions_.load(std::memory_order_relaxed) >= spec_.drift.capture_events;
  }
  const int64_t first = first_seen_nanos_.load(std::memory_order_relaxed);
  return first != kNotSeen && now >= absl::FromUnixNanos(first) + spec_.drift.capture_window;
}

void DriftMonitor::Freeze(const WindowedCounters& counters,
                          const std::vector<std::string>& classes) {
  absl::MutexLock lock(&mu_);
  if (frozen_.load(std::memory_order_relaxed)) return;
  auto reference = std::make_shared<const DriftReference>(
      ReadSignals(spec_, counters.layout(), classes, counters.Cumulative()));
  if (std::string path = StatePath(); !path.empty()) {
    if (absl::Status s = SaveDriftReferenceFile(*reference, path); !s.ok()) {
      RecordStateError(std::move(s));
    }
  }
  frozen_reference_ = std::move(reference);
  frozen_.store(true, std::memory_order_release);
}

void DriftMonitor::Feed(const DriftFeed& feed) {
  predictions_.fetch_add(feed.predictions, std::memory_order_relaxed);
  if (feed.errors.empty() && feed.confidences.empty()) return;

  absl::MutexLock lock(&mu_);
  for (Detector& d : detectors_) {
    if (d.stream == "error") {
      for (uint8_t wrong : feed.errors) {
        if (d.page_hinkley) d.page_hinkley->Update(wrong);
        if (d.adwin) d.adwin->Update(wrong);
        if (d.ddm) d.ddm->Update(wrong != 0);
      }
    } else {
      for (float top : feed.confidences) {
        if (d.page_hinkley) d.page_hinkley->Update(top);
        if (d.adwin) d.adwin->Update(top);
      }
    }
  }
}

std::shared_ptr<const DriftReference> DriftMonitor::reference() const {
  if (spec_.drift.reference == DriftSpec::Reference::kFixed) return spec_.drift.fixed;
  absl::MutexLock lock(&mu_);
  return frozen_reference_;
}

std::shared_ptr<const DriftReference> DriftMonitor::ReferenceFor(
    const WindowedCounters& counters, const std::vector<std::string>& classes, size_t w,
    absl::Time now) const {
  if (spec_.drift.reference != DriftSpec::Reference::kPreviousWindow) return reference();
  const absl::Duration length = counters.windows()[w].length;
  return std::make_shared<const DriftReference>(ReadSignals(
      spec_, counters.layout(), classes, counters.Window(static_cast<int>(w), now - length)));
}

std::vector<DriftSample> DriftMonitor::Compute(const WindowedCounters& counters,
                                               const std::vector<std::string>& classes,
                                               absl::Time now) {
  std::vector<DriftSample> out;
  if (spec_.drift.reference == DriftSpec::Reference::kNone) return out;
  if (captures() && !frozen_.load(std::memory_order_acquire) && CaptureDue(now)) {
    Freeze(counters, classes);
  }

  const DriftOptions options{.min_samples = spec_.drift.min_samples};
  const std::vector<WindowSpec>& windows = counters.windows();
  for (size_t w = 0; w < windows.size(); ++w) {
    std::shared_ptr<const DriftReference> reference = ReferenceFor(counters, classes, w, now);
    if (reference == nullptr) continue;
    const DriftReference current =
        ReadSignals(spec_, counters.layout(), classes, counters.Window(static_cast<int>(w), now));

    for (const auto& [signal, histogram] : current.signals) {
      auto it = reference->signals.find(signal);
      if (it == reference->signals.end()) continue;
      const bool categorical = signal == "predicted_class" || signal == "label";
      std::optional<AlignedSignal> aligned = Align(signal, categorical, it->second, histogram);
      if (!aligned) continue;
      absl::StatusOr<BinnedDistributions> bins =
          BinnedDistributions::Create(aligned->reference, aligned->current, aligned->centers);
      if (!bins.ok()) continue;
      if (std::optional<DriftStatistics> d = ComputeDrift(*bins, options)) {
        AddStatistics(windows[w].name, signal, categorical, *d, out);
      }
    }
  }
  return out;
}

std::vector<DetectorSample> DriftMonitor::Detectors() const {
  std::vector<DetectorSample> out;
  absl::MutexLock lock(&mu_);
  for (const Detector& d : detectors_) {
    DetectorSample s{d.name, d.stream, 0, {}};
    if (d.page_hinkley) {
      s.detections = d.page_hinkley->detections();
      s.state = {{"statistic", d.page_hinkley->statistic()},
                 {"mean", d.page_hinkley->mean()},
                 {"count", static_cast<double>(d.page_hinkley->count())}};
    } else if (d.adwin) {
      s.detections = d.adwin->detections();
      s.state = {{"width", static_cast<double>(d.adwin->width())},
                 {"mean", d.adwin->mean()},
                 {"variance", d.adwin->variance()}};
    } else if (d.ddm) {
      s.detections = d.ddm->detections();
      s.state = {{"error_rate", d.ddm->error_rate()},
                 {"count", static_cast<double>(d.ddm->count())},
                 {"warning", d.ddm->warning() ? 1.0 : 0.0}};
      // The minimum is +infinity until one is recorded: left out until then.
      if (std::isfinite(d.ddm->min_error_rate())) {
        s.state.emplace_back("min_error_rate", d.ddm->min_error_rate());
        s.state.emplace_back("min_deviation", d.ddm->min_deviation());
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace modelwatch::core
