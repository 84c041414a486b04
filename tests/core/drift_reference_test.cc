#include "core/drift_reference.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace modelwatch::core {
namespace {

using ::testing::HasSubstr;

DriftReference Example() {
  DriftReference r;
  r.signals["predicted_class"] = SignalHistogram{{"legit", "fr\"aud"}, {}, {900, 100.5}};
  r.signals["confidence"] = SignalHistogram{{}, {0.5}, {300, 700}};
  r.signals["feature:amount"] = SignalHistogram{{}, {0, 0.1, 1e300}, {1, 2, 3, 4}};
  return r;
}

void ExpectSame(const DriftReference& a, const DriftReference& b) {
  ASSERT_EQ(a.signals.size(), b.signals.size());
  for (const auto& [name, h] : a.signals) {
    const SignalHistogram& g = b.signals.at(name);
    EXPECT_EQ(h.categories, g.categories) << name;
    EXPECT_EQ(h.edges, g.edges) << name;
    EXPECT_EQ(h.counts, g.counts) << name;
  }
}

TEST(DriftReferenceTest, SerializedReferenceParsesBackExactly) {
  absl::StatusOr<DriftReference> parsed = ParseDriftReference(SerializeDriftReference(Example()));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ExpectSame(Example(), *parsed);
}

TEST(DriftReferenceTest, ParsesEscapesAndExponents) {
  absl::StatusOr<DriftReference> r = ParseDriftReference(R"({
    "format": "modelwatch.drift_reference.v1",
    "signals": {"label": {"categories": ["a\u00e9", "b\n"], "counts": [1e2, 0.5E-1]}}})");
  ASSERT_TRUE(r.ok()) << r.status();
  const SignalHistogram& h = r->signals.at("label");
  EXPECT_EQ(h.categories, (std::vector<std::string>{"a\xc3\xa9", "b\n"}));
  EXPECT_EQ(h.counts, (std::vector<double>{100, 0.05}));
}

TEST(DriftReferenceTest, RejectsBadReferencesWithAReason) {
  const std::string head = R"({"format": "modelwatch.drift_reference.v1", "signals": )";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"format": "v0", "signals": {}})", "\"format\" must be"},
      {head + R"({"confidence": {"edges": [0.5], "counts": [1]}}})", "2 bins, but 1 counts"},
      {head + R"({"confidence": {"edges": [0.5, 0.5], "counts": [1, 2, 3]}}})",
       "strictly ascending"},
      {head + R"({"label": {"categories": ["a", "a"], "counts": [1, 2]}}})", "appears twice"},
      {head + R"({"label": {"edges": [1], "counts": [1, 2]}}})", "takes categories"},
      {head + R"({"feature:x": {"categories": ["a"], "counts": [1]}}})", "takes edges"},
      {head + R"({"label": {"categories": ["a"], "counts": [-1]}}})", "negative"},
      {head + R"({"weather": {"counts": [1]}}})", "is not a signal"},
      {head + R"({"score:": {"counts": [1]}}})", "is not a signal"},
      {head + R"({"confidence": {"counts": [1], "colour": 1}}})", "unknown field"},
      {"{\"format\": \n  \"modelwatch.drift_reference.v1\",,}", "line 2 column 35"},
      {head + "{}} trailing", "unexpected text"},
      {head + R"({"label": {"categories": ["a"], "counts": [1], "counts": [2]}}})",
       "duplicate member"},
  };
  for (const auto& [text, message] : cases) {
    absl::StatusOr<DriftReference> r = ParseDriftReference(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(message)) << text;
  }
}

TEST(DriftReferenceTest, FileSaveAndLoadRoundTrip) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("drift_reference_test_" + std::to_string(getpid()));
  const std::string path = (dir / "nested" / "ref.json").string();
  ASSERT_TRUE(SaveDriftReferenceFile(Example(), path).ok());
  absl::StatusOr<DriftReference> loaded = LoadDriftReferenceFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ExpectSame(Example(), *loaded);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));

  absl::StatusOr<DriftReference> missing = LoadDriftReferenceFile((dir / "none.json").string());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  std::filesystem::remove_all(dir);
}

TEST(DriftReferenceTest, EdgeBinEqualsUpperBound) {
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> uniform(-10, 10);
  for (int trial = 0; trial < 2000; ++trial) {
    std::vector<double> edges(rng() % 40);
    for (double& e : edges) e = uniform(rng);
    std::sort(edges.begin(), edges.end());
    edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
    // Values on the edges themselves, and between them.
    std::vector<double> values = edges;
    for (int i = 0; i < 20; ++i) values.push_back(uniform(rng));
    for (double v : values) {
      const int expected =
          static_cast<int>(std::upper_bound(edges.begin(), edges.end(), v) - edges.begin());
      ASSERT_EQ(EdgeBin(edges, v), expected) << "edges " << edges.size() << " v " << v;
    }
  }
}

TEST(DriftReferenceTest, BinCentersAndLabels) {
  const SignalHistogram scores{{}, {0.25, 0.5, 0.75}, {1, 1, 1, 1}};
  EXPECT_EQ(SignalBinCenters("score:a", scores), (std::vector<double>{0.125, 0.375, 0.625, 0.875}));
  EXPECT_EQ(SignalBinCenters("confidence", scores),
            (std::vector<double>{0.125, 0.375, 0.625, 0.875}));
  const SignalHistogram feature{{}, {0, 10, 100}, {1, 1, 1, 1}};
  EXPECT_EQ(SignalBinCenters("feature:x", feature), (std::vector<double>{-5, 5, 55, 145}));
  const SignalHistogram one_edge{{}, {3}, {1, 1}};
  EXPECT_EQ(SignalBinCenters("feature:x", one_edge), (std::vector<double>{2.5, 3.5}));

  EXPECT_EQ(SignalBinLabel(feature, 0), "0");
  EXPECT_EQ(SignalBinLabel(feature, 2), "100");
  EXPECT_EQ(SignalBinLabel(feature, 3), "+Inf");
  EXPECT_EQ(SignalBinLabel(SignalHistogram{{}, {0.1 + 0.2}, {1, 1}}, 0), "0.30000000000000004");
  EXPECT_EQ(SignalBinLabel(SignalHistogram{{"x", "y"}, {}, {1, 1}}, 1), "y");
}

}  // namespace
}  // namespace modelwatch::core
