// The `drift:` section of a model and the top-level `state_dir:`, as config/drift_section.cc
// reads them.

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "config/config.h"
#include "core/drift_reference.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace modelwatch::config {
namespace {

using core::DriftSpec;
using ::testing::HasSubstr;

class DriftConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("drift_config_test_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_ / "ref");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Parses `yaml` as if read from <dir>/modelwatch.yaml.
  absl::StatusOr<Config> Parse(const std::string& yaml) {
    return ParseConfig(yaml, (dir_ / "modelwatch.yaml").string());
  }

  void WriteReference(const std::string& name, const std::string& signals) {
    std::ofstream(dir_ / "ref" / name)
        << R"({"format": "modelwatch.drift_reference.v1", "signals": )" << signals << "}";
  }

  std::filesystem::path dir_;
};

TEST_F(DriftConfigTest, TheDocumentedExampleParses) {
  WriteReference("fraud.json", R"({
      "predicted_class": {"categories": ["legit", "fraud"], "counts": [900, 100]},
      "feature:amount": {"edges": [0, 10, 100, 1000], "counts": [1, 2, 3, 4, 5]}})");
  absl::StatusOr<Config> config = Parse(R"(
models:
  - name: fraud
    classes: [legit, fraud]
    features: [{name: amount, edges: [0, 10, 100, 1000]}]
    drift:
      reference: {file: ref/fraud.json}
      min_samples: 100
      detectors:
        page_hinkley: {delta: 0.005, threshold: 50, error: {threshold: 100}}
        adwin: {delta: 0.002, streams: [confidence]}
        ddm: {warning: 2.0, drift: 3.0, min_samples: 30}
state_dir: state
)");
  ASSERT_TRUE(config.ok()) << config.status();
  const DriftSpec& drift = config->models[0].drift;
  EXPECT_EQ(drift.reference, DriftSpec::Reference::kFixed);
  ASSERT_NE(drift.fixed, nullptr);
  EXPECT_EQ(drift.fixed->signals.at("predicted_class").counts, (std::vector<double>{900, 100}));
  EXPECT_EQ(drift.min_samples, 100);
  ASSERT_TRUE(drift.page_hinkley_error && drift.page_hinkley_confidence);
  EXPECT_EQ(drift.page_hinkley_error->threshold, 100);
  EXPECT_EQ(drift.page_hinkley_confidence->threshold, 50);
  EXPECT_EQ(drift.page_hinkley_error->delta, 0.005);
  EXPECT_FALSE(drift.adwin_error.has_value());
  ASSERT_TRUE(drift.adwin_confidence.has_value());
  EXPECT_EQ(drift.adwin_confidence->delta, 0.002);
  ASSERT_TRUE(drift.ddm.has_value());
  EXPECT_EQ(drift.ddm->warm_start, 30);
  EXPECT_EQ(drift.state_dir, (dir_ / "state").string());
  EXPECT_EQ(config->registry.default_spec.drift.state_dir, (dir_ / "state").string());
}

TEST_F(DriftConfigTest, PageHinkleyOnErrorsHasWiderDefaultsThatSharedOptionsOverride) {
  auto detectors = [&](const std::string& page_hinkley) {
    absl::StatusOr<Config> config = Parse(
        "models:\n  - name: m\n    classes: [a, b]\n    drift:\n"
        "      reference: {previous_window: true}\n      detectors: {page_hinkley: " +
        page_hinkley + "}\n");
    EXPECT_TRUE(config.ok()) << config.status();
    return config.ok() ? config->models[0].drift : DriftSpec{};
  };

  DriftSpec defaults = detectors("{}");
  ASSERT_TRUE(defaults.page_hinkley_error && defaults.page_hinkley_confidence);
  EXPECT_EQ(defaults.page_hinkley_error->delta, 0.01);
  EXPECT_EQ(defaults.page_hinkley_error->threshold, 100);
  EXPECT_EQ(defaults.page_hinkley_confidence->delta, 0.005);
  EXPECT_EQ(defaults.page_hinkley_confidence->threshold, 50);

  // An option at the top applies to both streams; a stream's own mapping wins over it.
  DriftSpec shared = detectors("{threshold: 70, confidence: {threshold: 40}}");
  ASSERT_TRUE(shared.page_hinkley_error && shared.page_hinkley_confidence);
  EXPECT_EQ(shared.page_hinkley_error->threshold, 70);
  EXPECT_EQ(shared.page_hinkley_error->delta, 0.01);
  EXPECT_EQ(shared.page_hinkley_confidence->threshold, 40);
}

TEST_F(DriftConfigTest, FeatureEdgesComeFromTheReferenceFile) {
  WriteReference("m.json", R"({"feature:x": {"edges": [1, 2.5], "counts": [3, 4, 5]}})");
  absl::StatusOr<Config> config = Parse(R"(
models:
  - name: m
    features: [{name: x}]
    drift: {reference: {file: ref/m.json}}
)");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->models[0].features[0].edges, (std::vector<double>{1, 2.5}));
}

TEST_F(DriftConfigTest, InlineReferenceAndOtherKinds) {
  absl::StatusOr<Config> config = Parse(R"(
models:
  - name: inline
    classes: [a, b]
    drift:
      reference:
        signals:
          label: {categories: [a, b], counts: [3, 1]}
          "score:a": {edges: [0.5], counts: [1, 1]}
    score_bins: 2
  - name: events
    drift: {reference: {capture_events: 10000}}
  - name: window
    drift: {reference: {capture_window: 1h}}
  - name: previous
    drift: {reference: {previous_window: true}}
)");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->models[0].drift.fixed->signals.at("label").counts, (std::vector<double>{3, 1}));
  EXPECT_EQ(config->models[1].drift.reference, DriftSpec::Reference::kCaptureEvents);
  EXPECT_EQ(config->models[1].drift.capture_events, 10000);
  EXPECT_EQ(config->models[2].drift.capture_window, absl::Hours(1));
  EXPECT_EQ(config->models[3].drift.reference, DriftSpec::Reference::kPreviousWindow);
}

TEST_F(DriftConfigTest, ErrorsNameTheFieldAndTheProblem) {
  WriteReference("bad_edges.json", R"({"feature:x": {"edges": [0, 5], "counts": [1, 2, 3]}})");
  WriteReference("bad_scores.json", R"({"confidence": {"edges": [0.5], "counts": [1, 2]}})");
  WriteReference("bad_class.json",
                 R"({"predicted_class": {"categories": ["a", "zebra"], "counts": [1, 2]}})");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"drift: {reference: {capture_events: 10}}\n    features: [{name: x}]",
       "feature \"x\" has no edges"},
      {"drift: {reference: {capture_events: 10, previous_window: true}}",
       "gives 2 kinds of reference"},
      {"drift: {reference: {file: ref/none.json}}", "cannot read drift reference"},
      {"drift: {reference: {file: ref/bad_edges.json}}\n    features: [{name: x, edges: [0, 1]}]",
       "bins must be the same"},
      {"drift: {reference: {file: ref/bad_scores.json}}", "score_bins: 20 needs the edges"},
      {"drift: {reference: {file: ref/bad_class.json}}", "\"zebra\", which is not a class"},
      {"drift: {reference: {previous_window: false}}", "must be true"},
      {"drift: {detectors: {adwin: {delta: 2}}}", "delta"},
      {"drift: {detectors: {page_hinkley: {streams: [errors]}}}", "is not a stream"},
      {"drift: {refrence: {capture_events: 10}}", "did you mean \"reference\""},
      {"drift: {min_samples: 0}", "min_samples"},
  };
  for (const auto& [model_fields, message] : cases) {
    absl::StatusOr<Config> config =
        Parse("models:\n  - name: m\n    classes: [a, b]\n    " + model_fields + "\n");
    ASSERT_FALSE(config.ok()) << model_fields;
    EXPECT_THAT(std::string(config.status().message()), HasSubstr(message)) << model_fields;
    EXPECT_THAT(std::string(config.status().message()), HasSubstr("models[0].")) << model_fields;
  }
}

}  // namespace
}  // namespace modelwatch::config
