#include "core/report.h"

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/bucket_layout.h"
#include "core/model_spec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

// Small windows whose every number is worked out by hand (and agrees with scikit-learn 1.2).
// tests/core/report_oracle_test.py compares random streams with scikit-learn itself.

namespace modelwatch::core {
namespace {

using ::testing::ElementsAre;

constexpr double kTolerance = 1e-12;

ModelSpec SpecWithClasses(int classes, int calibration_bins = 10) {
  ModelSpec spec;
  spec.name = "m";
  for (int c = 0; c < classes; ++c) spec.classes.push_back("c" + std::to_string(c));
  spec.calibration_bins = calibration_bins;
  return spec;
}

class ReportTest : public ::testing::Test {
 protected:
  // Starts an empty window of a model with `classes` classes.
  void UseClasses(int classes, int calibration_bins = 10) {
    layout_.emplace(SpecWithClasses(classes, calibration_bins));
    counts_ = Counts::Zero(*layout_);
  }

  void Evaluate(int actual, int predicted, uint64_t n = 1) {
    counts_.counts[layout_->confusion(actual, predicted)] += n;
  }

  std::optional<ClassificationReport> Report() const { return ComputeReport(*layout_, counts_); }

  static void ExpectPrf(const PrecisionRecallF1& got, double precision, double recall, double f1) {
    EXPECT_NEAR(got.precision, precision, kTolerance);
    EXPECT_NEAR(got.recall, recall, kTolerance);
    EXPECT_NEAR(got.f1, f1, kTolerance);
  }

  std::optional<BucketLayout> layout_;
  Counts counts_;
};

TEST_F(ReportTest, NothingEvaluatedHasNoReport) {
  UseClasses(3);
  counts_.counts[layout_->prediction(1)] = 5;

  EXPECT_FALSE(Report().has_value());
  EXPECT_FALSE(ComputeConfidence(*layout_, counts_).has_value());
}

TEST_F(ReportTest, PerfectModelScoresOneEverywhere) {
  UseClasses(3);
  Evaluate(0, 0, 2);
  Evaluate(1, 1, 3);
  Evaluate(2, 2, 5);

  const std::optional<ClassificationReport> r = Report();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->evaluated, 10u);
  EXPECT_THAT(r->classes, ElementsAre(0, 1, 2));
  EXPECT_THAT(r->support, ElementsAre(2u, 3u, 5u));
  for (const PrecisionRecallF1& prf : r->per_class) ExpectPrf(prf, 1, 1, 1);
  ExpectPrf(r->macro, 1, 1, 1);
  ExpectPrf(r->micro, 1, 1, 1);
  ExpectPrf(r->weighted, 1, 1, 1);
  EXPECT_DOUBLE_EQ(r->accuracy, 1);
  EXPECT_DOUBLE_EQ(r->balanced_accuracy, 1);
  ASSERT_TRUE(r->cohen_kappa.has_value());
  EXPECT_DOUBLE_EQ(*r->cohen_kappa, 1);
  EXPECT_DOUBLE_EQ(r->matthews_corrcoef, 1);
}

TEST_F(ReportTest, ClassNeverPredictedHasZeroPrecision) {
  // Class 2 has support 2 but is never predicted. Predicted: 0 x4, 1 x3; true: 0 x3, 1 x2, 2 x2.
  UseClasses(3);
  Evaluate(0, 0, 3);
  Evaluate(1, 1, 2);
  Evaluate(2, 0);
  Evaluate(2, 1);

  const std::optional<ClassificationReport> r = Report();
  ASSERT_TRUE(r.has_value());
  EXPECT_THAT(r->classes, ElementsAre(0, 1, 2));
  EXPECT_THAT(r->support, ElementsAre(3u, 2u, 2u));
  ExpectPrf(r->per_class[0], 3.0 / 4, 1, 6.0 / 7);
  ExpectPrf(r->per_class[1], 2.0 / 3, 1, 4.0 / 5);
  ExpectPrf(r->per_class[2], 0, 0, 0);
  ExpectPrf(r->macro, 17.0 / 36, 2.0 / 3, 58.0 / 105);
  ExpectPrf(r->weighted, 43.0 / 84, 5.0 / 7, 146.0 / 245);
  ExpectPrf(r->micro, 5.0 / 7, 5.0 / 7, 5.0 / 7);
  EXPECT_NEAR(r->accuracy, 5.0 / 7, kTolerance);
  EXPECT_NEAR(r->balanced_accuracy, 2.0 / 3, kTolerance);
  // Observed disagreement 2; expected (49 - t.p) / 7 with t.p = 3*4 + 2*3 + 2*0 = 18.
  EXPECT_NEAR(*r->cohen_kappa, 17.0 / 31, kTolerance);
  // (5*7 - 18) / sqrt((49 - 17) * (49 - 25)).
  EXPECT_NEAR(r->matthews_corrcoef, 17 / std::sqrt(768.0), kTolerance);
}

TEST_F(ReportTest, ClassWithNoSupportIsLeftOutOfBalancedAccuracy) {
  // Class 2 is predicted once and never true: recall 0 by zero division, support 0. It counts in
  // the macro recall but not in the balanced accuracy.
  UseClasses(4);
  Evaluate(0, 0, 2);
  Evaluate(0, 2);
  Evaluate(1, 1);

  const std::optional<ClassificationReport> r = Report();
  ASSERT_TRUE(r.has_value());
  EXPECT_THAT(r->classes, ElementsAre(0, 1, 2));
  EXPECT_THAT(r->support, ElementsAre(3u, 1u, 0u));
  ExpectPrf(r->per_class[0], 1, 2.0 / 3, 0.8);
  ExpectPrf(r->per_class[1], 1, 1, 1);
  ExpectPrf(r->per_class[2], 0, 0, 0);
  ExpectPrf(r->macro, 2.0 / 3, 5.0 / 9, 0.6);
  ExpectPrf(r->weighted, 1, 0.75, 0.85);
  EXPECT_NEAR(r->balanced_accuracy, 5.0 / 6, kTolerance);
  EXPECT_NEAR(*r->cohen_kappa, 5.0 / 9, kTolerance);
  EXPECT_NEAR(r->matthews_corrcoef, 5 / std::sqrt(60.0), kTolerance);
}

TEST_F(ReportTest, ClassThatNeverOccursIsNotInTheReport) {
  UseClasses(5);
  Evaluate(1, 1);
  Evaluate(3, 1);
  Evaluate(3, 3);

  const std::optional<ClassificationReport> r = Report();
  ASSERT_TRUE(r.has_value());
  EXPECT_THAT(r->classes, ElementsAre(1, 3));
  ASSERT_EQ(r->per_class.size(), 2u);
  ExpectPrf(r->macro, 0.75, 0.75, (2.0 / 3 + 2.0 / 3) / 2);
}

TEST_F(ReportTest, BinaryMatchesTheTwoByTwoFormulas) {
  // TN 5, FP 1, FN 2, TP 4.
  UseClasses(2);
  Evaluate(0, 0, 5);
  Evaluate(0, 1, 1);
  Evaluate(1, 0, 2);
  Evaluate(1, 1, 4);

  const std::optional<ClassificationReport> r = Report();
  ASSERT_TRUE(r.has_value());
  ExpectPrf(r->per_class[0], 5.0 / 7, 5.0 / 6, 10.0 / 13);
  ExpectPrf(r->per_class[1], 4.0 / 5, 4.0 / 6, 8.0 / 11);
  EXPECT_NEAR(r->accuracy, 0.75, kTolerance);
  EXPECT_NEAR(r->balanced_accuracy, 0.75, kTolerance);
  EXPECT_NEAR(*r->cohen_kappa, 0.5, kTolerance);
  // (TP TN - FP FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)).
  EXPECT_NEAR(r->matthews_corrcoef, 18 / std::sqrt(1260.0), kTolerance);
}

TEST_F(ReportTest, OneClassOnlyHasNoKappaAndZeroMcc) {
  UseClasses(3);
  Evaluate(1, 1, 4);

  const std::optional<ClassificationReport> r = Report();
  ASSERT_TRUE(r.has_value());
  EXPECT_THAT(r->classes, ElementsAre(1));
  ExpectPrf(r->per_class[0], 1, 1, 1);
  EXPECT_DOUBLE_EQ(r->accuracy, 1);
  EXPECT_DOUBLE_EQ(r->balanced_accuracy, 1);
  EXPECT_FALSE(r->cohen_kappa.has_value());
  EXPECT_DOUBLE_EQ(r->matthews_corrcoef, 0);
}

TEST_F(ReportTest, AllWrongScoresZeroAndNegativeAgreement) {
  UseClasses(2);
  Evaluate(0, 1, 3);
  Evaluate(1, 0, 2);

  const std::optional<ClassificationReport> r = Report();
  ASSERT_TRUE(r.has_value());
  for (const PrecisionRecallF1& prf : r->per_class) ExpectPrf(prf, 0, 0, 0);
  ExpectPrf(r->macro, 0, 0, 0);
  ExpectPrf(r->micro, 0, 0, 0);
  ExpectPrf(r->weighted, 0, 0, 0);
  EXPECT_DOUBLE_EQ(r->accuracy, 0);
  EXPECT_DOUBLE_EQ(r->balanced_accuracy, 0);
  EXPECT_NEAR(*r->cohen_kappa, -12.0 / 13, kTolerance);
  EXPECT_NEAR(r->matthews_corrcoef, -1, kTolerance);
}

TEST_F(ReportTest, LargeImbalancedWindowKeepsKappaAndMccPrecise) {
  // A billion true negatives: n^2 - t.p computed directly would lose about 1e-9 to cancellation.
  // The expected values are exact rationals (and a 50-digit square root) from Python.
  UseClasses(2);
  Evaluate(0, 0, 1'000'000'000);
  Evaluate(0, 1, 3);
  Evaluate(1, 0, 5);
  Evaluate(1, 1, 7);

  const std::optional<ClassificationReport> r = Report();
  ASSERT_TRUE(r.has_value());
  EXPECT_NEAR(*r->cohen_kappa, 0.63636363239669425, kTolerance);
  EXPECT_NEAR(r->matthews_corrcoef, 0.63900964649734882, kTolerance);
}

TEST_F(ReportTest, ScoreMetricsAreMeansOverScoredEvaluations) {
  // Four scored evaluations among five; class 2 never occurs, so its Brier sum is not reported.
  UseClasses(3);
  Evaluate(0, 0, 3);
  Evaluate(1, 1, 1);
  Evaluate(1, 0, 1);
  counts_.counts[layout_->evaluated_scored()] = 4;
  counts_.sums[layout_->log_loss_sum()] = 2.0;
  counts_.sums[layout_->brier_sum(0)] = 0.4;
  counts_.sums[layout_->brier_sum(1)] = 1.0;
  counts_.sums[layout_->brier_sum(2)] = 7.0;
  // Bin 9: three predictions of mean confidence 0.95, two right; bin 5: one at 0.55, right.
  counts_.counts[layout_->calibration_count(9)] = 3;
  counts_.counts[layout_->calibration_correct(9)] = 2;
  counts_.sums[layout_->calibration_confidence_sum(9)] = 2.85;
  counts_.counts[layout_->calibration_count(5)] = 1;
  counts_.counts[layout_->calibration_correct(5)] = 1;
  counts_.sums[layout_->calibration_confidence_sum(5)] = 0.55;

  const std::optional<ClassificationReport> r = Report();
  ASSERT_TRUE(r.has_value());
  ASSERT_TRUE(r->log_loss.has_value());
  EXPECT_NEAR(*r->log_loss, 0.5, kTolerance);
  EXPECT_THAT(r->classes, ElementsAre(0, 1));
  ASSERT_EQ(r->brier.size(), 2u);
  EXPECT_NEAR(r->brier[0], 0.1, kTolerance);
  EXPECT_NEAR(r->brier[1], 0.25, kTolerance);
  ASSERT_TRUE(r->expected_calibration_error.has_value());
  EXPECT_NEAR(*r->expected_calibration_error, 0.75 * (0.95 - 2.0 / 3) + 0.25 * (1 - 0.55),
              kTolerance);
}

TEST_F(ReportTest, UnscoredEvaluationsHaveNoScoreMetrics) {
  UseClasses(3);
  Evaluate(0, 0);
  Evaluate(1, 2);

  const std::optional<ClassificationReport> r = Report();
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->log_loss.has_value());
  EXPECT_FALSE(r->expected_calibration_error.has_value());
  EXPECT_TRUE(r->brier.empty());
}

TEST_F(ReportTest, ConfidenceIsTheMeanTopScoreOfScoredPredictions) {
  UseClasses(3);
  counts_.counts[layout_->scored()] = 4;
  counts_.sums[layout_->confidence_sum()] = 3.0;

  const std::optional<ConfidenceSummary> c = ComputeConfidence(*layout_, counts_);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->scored, 4u);
  EXPECT_DOUBLE_EQ(c->mean_confidence, 0.75);
  EXPECT_FALSE(Report().has_value());
}

TEST_F(ReportTest, CountsOfAnotherLayoutAreRejected) {
  UseClasses(3);
  Evaluate(0, 0);
  counts_.counts[layout_->scored()] = 1;
  const BucketLayout other(SpecWithClasses(4));

  EXPECT_FALSE(ComputeReport(other, counts_).has_value());
  EXPECT_FALSE(ComputeConfidence(other, counts_).has_value());
}

}  // namespace
}  // namespace modelwatch::core
