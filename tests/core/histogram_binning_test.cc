#include "core/histogram_binning.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "core/bucket_layout.h"
#include "core/drift_reference.h"
#include "gtest/gtest.h"

namespace modelwatch::core {
namespace {

using ThresholdKernel = void (*)(std::span<const float>, const float*, size_t, int32_t*);
using CountKernel = void (*)(std::span<const float>, const float*, size_t, uint64_t*);
using ScoreKernel = void (*)(int, const float*, size_t, int32_t*);

// Each test runs against the portable kernels, the AVX2 ones where the CPU has AVX2, and the
// dispatching entry points.
struct Kernels {
  const char* name;
  ThresholdKernel bin;
  CountKernel count;
  ScoreKernel scores;
};

std::vector<Kernels> AvailableKernels() {
  std::vector<Kernels> kernels = {
      {"portable", BinByThresholdsPortable, CountAtOrAbovePortable, BinScoresPortable},
      {"dispatch", BinByThresholds, CountAtOrAbove, BinScores}};
  if (CpuHasAvx2()) {
    kernels.push_back({"avx2", BinByThresholdsAvx2, CountAtOrAboveAvx2, BinScoresAvx2});
  }
  return kernels;
}

class HistogramBinningTest : public ::testing::TestWithParam<Kernels> {
 protected:
  // Ascending double edges, some of them not representable as floats.
  static std::vector<double> Edges() { return {-2.5, -0.1, 0.0, 0.3, 1.0 / 3.0, 0.7, 1.0, 1e6}; }

  static std::vector<float> Thresholds(const std::vector<double>& edges) {
    std::vector<float> thresholds;
    for (double e : edges) thresholds.push_back(FloatThreshold(e));
    return thresholds;
  }

  // Random values around the edges, the floats adjacent to each edge, and the edges themselves.
  static std::vector<float> Values(size_t n) {
    std::mt19937 rng(17);
    std::uniform_real_distribution<float> uniform(-3.0f, 3.0f);
    std::vector<float> values;
    for (double e : Edges()) {
      const float f = static_cast<float>(e);
      values.push_back(f);
      values.push_back(std::nextafter(f, -std::numeric_limits<float>::infinity()));
      values.push_back(std::nextafter(f, std::numeric_limits<float>::infinity()));
    }
    while (values.size() < n) values.push_back(uniform(rng));
    values.resize(n);
    return values;
  }
};

TEST_P(HistogramBinningTest, BinsEqualEdgeBinOfTheDoubleValue) {
  const std::vector<double> edges = Edges();
  const std::vector<float> thresholds = Thresholds(edges);
  // Sizes around the kernels' block lengths, so both the vector and the scalar tails run.
  for (size_t n : {0u, 1u, 7u, 8u, 15u, 16u, 17u, 33u, 1000u}) {
    const std::vector<float> values = Values(n);
    std::vector<int32_t> bins(n, -1);
    GetParam().bin(thresholds, values.data(), n, bins.data());
    for (size_t i = 0; i < n; ++i) {
      EXPECT_EQ(bins[i], EdgeBin(edges, values[i])) << "n=" << n << " value=" << values[i];
    }
  }
}

TEST_P(HistogramBinningTest, NanFallsInTheFirstBin) {
  const std::vector<float> thresholds = Thresholds(Edges());
  std::vector<float> values(20, std::numeric_limits<float>::quiet_NaN());
  std::vector<int32_t> bins(values.size(), -1);
  GetParam().bin(thresholds, values.data(), values.size(), bins.data());
  for (int32_t b : bins) EXPECT_EQ(b, 0);
}

TEST_P(HistogramBinningTest, CountsAtOrAboveEachThresholdAddToTheGivenCounts) {
  const std::vector<double> edges = Edges();
  // 3, 5 and 8 thresholds: the kernel takes them four at a time with a remainder.
  for (size_t t : {3u, 5u, 8u}) {
    const std::vector<double> some(edges.begin(), edges.begin() + static_cast<long>(t));
    const std::vector<float> thresholds = Thresholds(some);
    for (size_t n : {0u, 9u, 16u, 31u, 1000u}) {
      const std::vector<float> values = Values(n);
      std::vector<uint64_t> counts(t, 5);
      GetParam().count(thresholds, values.data(), n, counts.data());
      for (size_t j = 0; j < t; ++j) {
        uint64_t expected = 5;
        for (float v : values) expected += static_cast<double>(v) >= some[j] ? 1 : 0;
        EXPECT_EQ(counts[j], expected) << "threshold " << j << " of " << t << ", n=" << n;
      }
    }
  }
}

TEST_P(HistogramBinningTest, ScoreBinsMatchTheLayout) {
  ModelSpec spec;
  spec.score_bins = 20;
  const BucketLayout layout(spec);
  std::vector<float> scores = {0.0f, 1.0f, 0.05f, 0.95f, 0.5f, std::nextafter(0.05f, 0.0f)};
  for (int b = 0; b <= 20; ++b) {
    const float edge = static_cast<float>(b / 20.0);
    scores.push_back(edge);
    scores.push_back(std::nextafter(edge, 0.0f));
    scores.push_back(std::nextafter(edge, 1.0f));
  }
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  while (scores.size() < 301) scores.push_back(uniform(rng));
  std::vector<int32_t> bins(scores.size(), -1);
  GetParam().scores(20, scores.data(), scores.size(), bins.data());
  for (size_t i = 0; i < scores.size(); ++i) {
    EXPECT_EQ(bins[i], layout.ScoreBin(scores[i])) << "score " << scores[i];
  }
}

INSTANTIATE_TEST_SUITE_P(Kernels, HistogramBinningTest, ::testing::ValuesIn(AvailableKernels()),
                         [](const ::testing::TestParamInfo<Kernels>& info) {
                           return std::string(info.param.name);
                         });

}  // namespace
}  // namespace modelwatch::core
