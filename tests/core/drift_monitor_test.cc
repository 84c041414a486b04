#include "core/drift_monitor.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/drift_stats.h"
#include "core/registry.h"
#include "gtest/gtest.h"

namespace modelwatch::core {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'700'000'040);

// A two-class model with one feature and one 5-minute window in 1-minute buckets.
ModelSpec Spec(DriftSpec drift) {
  ModelSpec spec;
  spec.name = "m";
  spec.classes = {"a", "b"};
  spec.score_bins = 4;
  spec.windows = {WindowSpec{"5m", absl::Minutes(5), absl::Minutes(1)}};
  spec.features = {FeatureSpec{"x", {0.0, 1.0}}};
  spec.drift = std::move(drift);
  return spec;
}

DriftSpec Drift(DriftSpec::Reference reference, double min_samples = 100) {
  DriftSpec drift;
  drift.reference = reference;
  drift.min_samples = min_samples;
  return drift;
}

// Events given as (predicted, label or -1, score of class a, feature value).
struct Event {
  uint32_t predicted;
  int32_t label;
  float score_a;
  float x;
};

class DriftMonitorTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (!state_dir_.empty()) std::filesystem::remove_all(state_dir_);
  }

  std::string StateDir() {
    state_dir_ = (std::filesystem::temp_directory_path() /
                  ("drift_monitor_test_" + std::to_string(getpid()) + "_" +
                   ::testing::UnitTest::GetInstance()->current_test_info()->name()))
                     .string();
    std::filesystem::remove_all(state_dir_);
    return state_dir_;
  }

  static void Send(Registry& registry, const std::vector<Event>& events, absl::Time now) {
    std::vector<uint32_t> predicted;
    std::vector<int32_t> labels;
    std::vector<float> scores;
    std::vector<float> x;
    for (const Event& e : events) {
      predicted.push_back(e.predicted);
      labels.push_back(e.label);
      scores.push_back(e.score_a);
      scores.push_back(1 - e.score_a);
      x.push_back(e.x);
    }
    std::vector<FeatureColumnView> features = {FeatureColumnView{"x", x}};
    GroupView view;
    view.model = "m";
    view.predicted = predicted;
    view.inline_labels = labels;
    view.scores = scores;
    view.features = features;
    IngestTally tally;
    registry.Ingest(view, 0, now, tally);
    ASSERT_EQ(tally.accepted_predictions, events.size());
  }

  static ModelVersion& Version(Registry& registry) {
    return const_cast<ModelVersion&>(*registry.Models().front()->Versions().front());
  }

  std::string state_dir_;
};

TEST_F(DriftMonitorTest, ReadSignalsCountsEverySignal) {
  Registry registry({Spec(Drift(DriftSpec::Reference::kPreviousWindow))}, {});
  Send(registry, {{0, 1, 0.9f, -1.0f}, {1, 1, 0.2f, 0.5f}, {1, -1, 0.6f, 1.0f}}, kStart);
  const Model& model = *registry.Models().front();
  DriftReference s = ReadSignals(model.spec(), model.layout(), model.ClassNames(),
                                 Version(registry).counters.Cumulative());
  EXPECT_EQ(s.signals.size(), 6u);
  EXPECT_EQ(s.signals["predicted_class"].counts, (std::vector<double>{1, 2}));
  EXPECT_EQ(s.signals["label"].counts, (std::vector<double>{0, 2}));
  // Scores in 4 bins: a = 0.9, 0.2, 0.6; b = 0.1, 0.8, 0.4; confidence 0.9, 0.8, 0.6.
  EXPECT_EQ(s.signals["score:a"].counts, (std::vector<double>{1, 0, 1, 1}));
  EXPECT_EQ(s.signals["score:b"].counts, (std::vector<double>{1, 1, 0, 1}));
  EXPECT_EQ(s.signals["confidence"].counts, (std::vector<double>{0, 0, 1, 2}));
  EXPECT_EQ(s.signals["confidence"].edges, (std::vector<double>{0.25, 0.5, 0.75}));
  EXPECT_EQ(s.signals["feature:x"].counts, (std::vector<double>{1, 1, 1}));
}

TEST_F(DriftMonitorTest, CaptureFreezesAtABatchBoundaryAndSurvivesARestart) {
  const std::string dir = StateDir();
  DriftSpec drift = Drift(DriftSpec::Reference::kCaptureEvents, 1);
  drift.capture_events = 3;
  drift.state_dir = dir;
  {
    Registry registry({Spec(drift)}, {});
    Send(registry, {{0, -1, 0.9f, 0.5f}, {0, -1, 0.9f, 0.5f}}, kStart);
    EXPECT_EQ(Version(registry).drift->reference(), nullptr);
    Send(registry, {{1, -1, 0.1f, 0.5f}, {1, -1, 0.1f, 0.5f}}, kStart);
    EXPECT_EQ(Version(registry).drift->reference(), nullptr);
    // The third batch finds 4 >= 3 predictions counted and freezes them before its own.
    Send(registry, {{1, -1, 0.1f, 0.5f}}, kStart);
    std::shared_ptr<const DriftReference> frozen = Version(registry).drift->reference();
    ASSERT_NE(frozen, nullptr);
    EXPECT_EQ(frozen->signals.at("predicted_class").counts, (std::vector<double>{2, 2}));
    EXPECT_TRUE(std::filesystem::exists(dir + "/m/default.json"));
  }
  Registry restarted({Spec(drift)}, {});
  Send(restarted, {{1, -1, 0.1f, 0.5f}}, kStart + absl::Hours(1));
  std::shared_ptr<const DriftReference> loaded = Version(restarted).drift->reference();
  ASSERT_NE(loaded, nullptr);
  EXPECT_EQ(loaded->signals.at("predicted_class").counts, (std::vector<double>{2, 2}));
  EXPECT_EQ(Version(restarted).drift->state_errors(), 0);
}

TEST_F(DriftMonitorTest, UnreadableStateFileIsCountedAndCaptureProceeds) {
  const std::string dir = StateDir();
  std::filesystem::create_directories(dir + "/m");
  std::ofstream(dir + "/m/v%2F1.json") << "{not json";
  DriftSpec drift = Drift(DriftSpec::Reference::kCaptureWindow);
  drift.capture_window = absl::Minutes(2);
  drift.state_dir = dir;
  Registry registry({Spec(drift)}, {});
  std::vector<uint32_t> predicted = {0};
  GroupView view;
  view.model = "m";
  view.version = "v/1";
  view.predicted = predicted;
  IngestTally tally;
  registry.Ingest(view, 0, kStart, tally);
  ModelVersion& v = Version(registry);
  EXPECT_EQ(v.drift->state_errors(), 1);
  EXPECT_EQ(v.drift->StatePath(), dir + "/m/v%2F1.json");

  // Not due before two minutes have passed since the first prediction; due at a scrape after.
  v.drift->Compute(v.counters, {"a", "b"}, kStart + absl::Seconds(119));
  EXPECT_EQ(v.drift->reference(), nullptr);
  v.drift->Compute(v.counters, {"a", "b"}, kStart + absl::Seconds(120));
  ASSERT_NE(v.drift->reference(), nullptr);
  EXPECT_EQ(v.drift->reference()->signals.at("predicted_class").counts,
            (std::vector<double>{1, 0}));
  EXPECT_EQ(v.drift->state_errors(), 1);  // the save succeeded
}

TEST_F(DriftMonitorTest, PreviousWindowStatisticsEqualComputeDriftOnTheCounts) {
  Registry registry({Spec(Drift(DriftSpec::Reference::kPreviousWindow, 2))}, {});
  Send(registry, {{0, 0, 0.9f, -1}, {0, 0, 0.8f, -1}, {1, 1, 0.3f, 2}, {0, 1, 0.7f, 0.5f}}, kStart);
  Send(registry, {{1, 1, 0.1f, 2}, {1, 0, 0.2f, 2}, {0, 0, 0.6f, 0.5f}}, kStart + absl::Minutes(5));
  ModelVersion& v = Version(registry);
  std::vector<DriftSample> samples =
      v.drift->Compute(v.counters, {"a", "b"}, kStart + absl::Minutes(5));

  auto value = [&](const std::string& signal, const std::string& statistic) {
    for (const DriftSample& s : samples) {
      if (s.signal == signal && s.statistic == statistic && s.window == "5m") return s.value;
    }
    ADD_FAILURE() << signal << " " << statistic << " missing";
    return -1.0;
  };
  // predicted_class: previous {3, 1}, current {1, 2}; feature:x: previous {2, 1, 1}, current
  // {0, 1, 2}, centers -0.5, 0.5, 1.5.
  auto classes = BinnedDistributions::Create(std::vector<double>{3, 1}, std::vector<double>{1, 2});
  auto feature = BinnedDistributions::Create(std::vector<double>{2, 1, 1},
                                             std::vector<double>{0, 1, 2}, {-0.5, 0.5, 1.5});
  ASSERT_TRUE(classes.ok() && feature.ok());
  const DriftOptions options{.min_samples = 2};
  EXPECT_DOUBLE_EQ(value("predicted_class", "psi"), *PopulationStabilityIndex(*classes, options));
  EXPECT_DOUBLE_EQ(value("predicted_class", "chi2_pvalue"), ChiSquare(*classes, options)->p_value);
  EXPECT_DOUBLE_EQ(value("feature:x", "wasserstein"), *WassersteinDistance(*feature, options));
  EXPECT_DOUBLE_EQ(value("feature:x", "ks_pvalue"), KolmogorovSmirnov(*feature, options)->p_value);
  // Seven statistics per categorical signal, nine per continuous one: 2 x 7 + 4 x 9.
  EXPECT_EQ(samples.size(), 50u);
}

TEST_F(DriftMonitorTest, DetectorsSeeEveryEvaluationAndScoredPrediction) {
  DriftSpec drift;
  drift.page_hinkley_confidence = PageHinkleyOptions{};
  drift.adwin_error = AdwinOptions{};
  drift.ddm = DdmOptions{};
  Registry registry({Spec(drift)}, {});
  // Three evaluated (one wrong) and one unlabelled prediction.
  Send(registry, {{0, 0, 0.9f, 0}, {0, 1, 0.8f, 0}, {1, 1, 0.3f, 0}, {1, -1, 0.4f, 0}}, kStart);
  std::vector<DetectorSample> detectors = Version(registry).drift->Detectors();
  ASSERT_EQ(detectors.size(), 3u);
  for (const DetectorSample& d : detectors) {
    auto field = [&d](const std::string& name) {
      for (const auto& [key, value] : d.state) {
        if (key == name) return value;
      }
      return -1.0;
    };
    if (d.detector == "page_hinkley") {
      EXPECT_EQ(d.stream, "confidence");
      EXPECT_EQ(field("count"), 4);
      EXPECT_NEAR(field("mean"), (0.9 + 0.8 + 0.7 + 0.6) / 4, 1e-6);
    } else if (d.detector == "adwin") {
      EXPECT_EQ(d.stream, "error");
      EXPECT_EQ(field("width"), 3);
      EXPECT_DOUBLE_EQ(field("mean"), 1.0 / 3);
    } else {
      EXPECT_EQ(d.detector, "ddm");
      EXPECT_EQ(field("count"), 3);
      EXPECT_DOUBLE_EQ(field("error_rate"), 1.0 / 3);
    }
  }
  // No reference: no statistics.
  EXPECT_TRUE(
      Version(registry).drift->Compute(Version(registry).counters, {"a", "b"}, kStart).empty());
}

}  // namespace
}  // namespace modelwatch::core
