#include "core/drift_stats.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace modelwatch::core {
namespace {

using ::testing::HasSubstr;

BinnedDistributions MustCreate(const std::vector<double>& reference,
                               const std::vector<double>& current,
                               const std::vector<double>& centers = {}) {
  absl::StatusOr<BinnedDistributions> bins =
      BinnedDistributions::Create(reference, current, centers);
  EXPECT_TRUE(bins.ok()) << bins.status();
  return *std::move(bins);
}

TEST(DriftStatsTest, IdenticalDistributionsScoreZero) {
  // Same shape, different totals: the distributions are equal.
  BinnedDistributions bins = MustCreate({10, 0, 30, 60}, {100, 0, 300, 600}, {0, 1, 2, 3});
  std::optional<DriftStatistics> drift = ComputeDrift(bins);
  ASSERT_TRUE(drift.has_value());
  EXPECT_DOUBLE_EQ(drift->population_stability_index, 0);
  EXPECT_DOUBLE_EQ(drift->kl_divergence, 0);
  EXPECT_DOUBLE_EQ(drift->jensen_shannon_distance, 0);
  EXPECT_DOUBLE_EQ(drift->hellinger_distance, 0);
  EXPECT_DOUBLE_EQ(drift->total_variation, 0);
  EXPECT_DOUBLE_EQ(drift->linf_distance, 0);
  ASSERT_TRUE(drift->wasserstein_distance.has_value());
  EXPECT_DOUBLE_EQ(*drift->wasserstein_distance, 0);
  EXPECT_DOUBLE_EQ(drift->chi_square.statistic, 0);
  EXPECT_EQ(drift->chi_square.degrees_of_freedom, 2);  // the bin empty in both is dropped
  EXPECT_DOUBLE_EQ(drift->chi_square.p_value, 1);
  EXPECT_DOUBLE_EQ(drift->kolmogorov_smirnov.statistic, 0);
  EXPECT_DOUBLE_EQ(drift->kolmogorov_smirnov.p_value, 1);
  EXPECT_DOUBLE_EQ(drift->kolmogorov_smirnov.effective_samples, 100.0 * 1000.0 / 1100.0);
}

TEST(DriftStatsTest, DisjointDistributionsScoreTheMaximum) {
  BinnedDistributions bins = MustCreate({200, 0}, {0, 100}, {-1, 2});
  std::optional<DriftStatistics> drift = ComputeDrift(bins);
  ASSERT_TRUE(drift.has_value());
  EXPECT_DOUBLE_EQ(drift->jensen_shannon_distance, 1);
  EXPECT_DOUBLE_EQ(drift->hellinger_distance, 1);
  EXPECT_DOUBLE_EQ(drift->total_variation, 1);
  EXPECT_DOUBLE_EQ(drift->linf_distance, 1);
  EXPECT_DOUBLE_EQ(*drift->wasserstein_distance, 3);
  EXPECT_DOUBLE_EQ(drift->kolmogorov_smirnov.statistic, 1);

  // Smoothed: p' = ((1 + e) / (1 + 2e), e / (1 + 2e)) and q' the reverse, so
  // KL(q' || p') = ln((1 + e) / e) / (1 + 2e) and PSI is twice that.
  const double e = kDriftSmoothingEpsilon;
  const double kl = 1 / (1 + 2 * e) * std::log((1 + e) / e);
  EXPECT_NEAR(drift->kl_divergence, kl, 1e-12);
  EXPECT_NEAR(drift->population_stability_index, 2 * kl, 1e-12);

  // Expected counts 200 * 200 / 300 and so on; statistic = N for a disjoint 2x2 table.
  EXPECT_NEAR(drift->chi_square.statistic, 300, 1e-9);
  EXPECT_EQ(drift->chi_square.degrees_of_freedom, 1);
  // For one degree of freedom the chi-square survival function is erfc(sqrt(x / 2)).
  const double p_value = std::erfc(std::sqrt(300.0 / 2));
  EXPECT_NEAR(drift->chi_square.p_value, p_value, 1e-12 * p_value);
}

TEST(DriftStatsTest, BelowMinimumSampleSizeNothingIsReported) {
  BinnedDistributions few_current = MustCreate({50, 50}, {60, 39}, {0, 1});
  EXPECT_FALSE(ComputeDrift(few_current).has_value());
  EXPECT_FALSE(PopulationStabilityIndex(few_current).has_value());
  EXPECT_FALSE(KlDivergence(few_current).has_value());
  EXPECT_FALSE(JensenShannonDistance(few_current).has_value());
  EXPECT_FALSE(HellingerDistance(few_current).has_value());
  EXPECT_FALSE(TotalVariationDistance(few_current).has_value());
  EXPECT_FALSE(LinfDistance(few_current).has_value());
  EXPECT_FALSE(WassersteinDistance(few_current).has_value());
  EXPECT_FALSE(ChiSquare(few_current).has_value());
  EXPECT_FALSE(KolmogorovSmirnov(few_current).has_value());

  BinnedDistributions enough = MustCreate({50, 50}, {60, 40});
  EXPECT_TRUE(ComputeDrift(enough).has_value());
  EXPECT_FALSE(ComputeDrift(enough, DriftOptions{.min_samples = 101}).has_value());
  EXPECT_FALSE(ComputeDrift(MustCreate({99, 0}, {500, 500})).has_value());
}

TEST(DriftStatsTest, EmptyHistogramIsNeverReported) {
  BinnedDistributions bins = MustCreate({0, 0}, {3, 4});
  EXPECT_FALSE(ComputeDrift(bins, DriftOptions{.min_samples = 0}).has_value());
}

TEST(DriftStatsTest, WassersteinNeedsCenters) {
  BinnedDistributions bins = MustCreate({50, 50}, {60, 40});
  EXPECT_FALSE(WassersteinDistance(bins).has_value());
  EXPECT_FALSE(ComputeDrift(bins)->wasserstein_distance.has_value());
}

TEST(DriftStatsTest, WassersteinWeighsCdfGapsByCenterSpacing) {
  // CDF gaps 0.5 over [0, 1] and 0.25 over [1, 4].
  BinnedDistributions bins = MustCreate({50, 50, 0}, {0, 75, 25}, {0, 1, 4});
  EXPECT_DOUBLE_EQ(*WassersteinDistance(bins), 0.5 * 1 + 0.25 * 3);
}

TEST(DriftStatsTest, ChiSquareMatchesHandComputedTable) {
  // Expected counts 40 and 60 in both rows; statistic 2 * (100 / 40 + 100 / 60) = 25 / 3.
  BinnedDistributions bins = MustCreate({30, 0, 70}, {50, 0, 50});
  std::optional<ChiSquareTest> test = ChiSquare(bins);
  ASSERT_TRUE(test.has_value());
  EXPECT_NEAR(test->statistic, 25.0 / 3.0, 1e-12);
  EXPECT_EQ(test->degrees_of_freedom, 1);
  // scipy.stats.chi2.sf(25 / 3, 1)
  EXPECT_NEAR(test->p_value, 0.003892417122778637, 1e-15);
}

TEST(DriftStatsTest, ChiSquareWithOneNonEmptyBinIsNoEvidence) {
  std::optional<ChiSquareTest> test = ChiSquare(MustCreate({0, 100}, {0, 300}));
  ASSERT_TRUE(test.has_value());
  EXPECT_EQ(test->degrees_of_freedom, 0);
  EXPECT_EQ(test->statistic, 0);
  EXPECT_EQ(test->p_value, 1);
}

TEST(DriftStatsTest, KolmogorovSmirnovUsesEffectiveSampleSize) {
  // D = |0.5 - 1| at the first edge; n = 100 * 100 / 200 = 50; z = sqrt(50) / 2.
  std::optional<KolmogorovSmirnovTest> test = KolmogorovSmirnov(MustCreate({50, 50}, {100, 0}));
  ASSERT_TRUE(test.has_value());
  EXPECT_DOUBLE_EQ(test->statistic, 0.5);
  EXPECT_DOUBLE_EQ(test->effective_samples, 50);
  const double z = std::sqrt(50.0) / 2;
  EXPECT_DOUBLE_EQ(test->p_value, 2 * (std::exp(-2 * z * z) - std::exp(-8 * z * z)));
}

TEST(DriftStatsTest, KolmogorovSurvivalMatchesScipy) {
  // scipy.stats.kstwobign.sf(z), scipy 1.10.
  const struct {
    double z;
    double sf;
  } kCases[] = {
      {0.05, 1.0},
      {0.2, 0.999999999999495},
      {0.5, 0.9639452436648751},
      {0.8, 0.5441424115741981},
      {0.999999, 0.27000074362745646},
      {1.0, 0.26999967167735456},
      {1.000001, 0.26999859973033974},
      {1.36, 0.049485876755377876},
      {2.0, 0.0006709252557796953},
      {3.5, 4.579469691291106e-11},
      {6.0, 1.0760372320042276e-31},
      {10.0, 2.767793053473475e-87},
  };
  for (const auto& c : kCases) {
    EXPECT_NEAR(KolmogorovSurvival(c.z), c.sf, 1e-14 + 1e-12 * c.sf) << "z=" << c.z;
  }
  EXPECT_EQ(KolmogorovSurvival(0), 1);
  EXPECT_EQ(KolmogorovSurvival(-1), 1);
  EXPECT_EQ(KolmogorovSurvival(27), 0);
  EXPECT_EQ(KolmogorovSurvival(INFINITY), 0);
}

TEST(DriftStatsTest, FromCountsEqualsCreate) {
  const std::vector<uint64_t> reference = {5, 80, 15};
  const std::vector<uint64_t> current = {40, 50, 10};
  absl::StatusOr<BinnedDistributions> bins = BinnedDistributions::FromCounts(reference, current);
  ASSERT_TRUE(bins.ok());
  EXPECT_EQ(bins->reference_total(), 100);
  EXPECT_EQ(bins->current_total(), 100);
  EXPECT_EQ(*TotalVariationDistance(*bins),
            *TotalVariationDistance(MustCreate({5, 80, 15}, {40, 50, 10})));
}

TEST(DriftStatsTest, InvalidHistogramsAreRejectedWithTheReason) {
  struct Case {
    std::vector<double> reference, current, centers;
    const char* reason;
  };
  const Case kCases[] = {
      {{}, {}, {}, "at least one bin"},
      {{1, 2}, {1, 2, 3}, {}, "reference has 2 bins but the current histogram has 3"},
      {{1, -2}, {1, 2}, {}, "reference bin 1 is -2"},
      {{1, 2}, {1, NAN}, {}, "current bin 1 is nan"},
      {{1, 2}, {1, INFINITY}, {}, "current bin 1 is inf"},
      {{1, 2}, {1, 2}, {0}, "1 bin centers given for 2 bins"},
      {{1, 2}, {1, 2}, {1, 1}, "strictly ascending"},
      {{1, 2}, {1, 2}, {0, NAN}, "bin center 1 is nan"},
      {{1e308, 1e308}, {1, 2}, {}, "sum to more than a double holds"},
  };
  for (const Case& c : kCases) {
    absl::StatusOr<BinnedDistributions> bins =
        BinnedDistributions::Create(c.reference, c.current, c.centers);
    ASSERT_FALSE(bins.ok()) << c.reason;
    EXPECT_EQ(bins.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(bins.status().message(), HasSubstr(c.reason));
  }
}

}  // namespace
}  // namespace modelwatch::core
