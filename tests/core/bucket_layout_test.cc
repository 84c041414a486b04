#include "core/bucket_layout.h"

#include <set>

#include "gtest/gtest.h"

namespace modelwatch::core {
namespace {

class BucketLayoutTest : public ::testing::Test {
 protected:
  static ModelSpec Spec() {
    ModelSpec spec;
    spec.name = "fraud";
    spec.classes = {"legit", "fraud", "review"};
    spec.calibration_bins = 10;
    spec.score_bins = 20;
    spec.features = {{"amount", {1.0, 10.0, 100.0}}, {"age", {}}};
    spec.drift.reference = DriftSpec::Reference::kPreviousWindow;
    return spec;
  }

  const BucketLayout layout_{Spec()};
};

TEST_F(BucketLayoutTest, AccessorsReflectTheSpec) {
  EXPECT_EQ(layout_.num_classes(), 3);
  EXPECT_EQ(layout_.calibration_bins(), 10);
  EXPECT_EQ(layout_.score_bins(), 20);
  EXPECT_EQ(layout_.num_features(), 2);
  EXPECT_EQ(layout_.feature_bins(0), 4);
  EXPECT_EQ(layout_.feature_bins(1), 1);
  // 3 + 9 + 1 + 1 + 10 + 10 + 60 + 20 + 1 + 1 + 4 + 1.
  EXPECT_EQ(layout_.num_counts(), 121u);
  // confidence, log loss, 3 Brier, 10 calibration confidence sums.
  EXPECT_EQ(layout_.num_sums(), 15u);
}

TEST_F(BucketLayoutTest, CountSlotsAreDistinctAndInRange) {
  std::vector<size_t> slots;
  const int k = layout_.num_classes();
  for (int c = 0; c < k; ++c) slots.push_back(layout_.prediction(c));
  for (int a = 0; a < k; ++a) {
    for (int p = 0; p < k; ++p) slots.push_back(layout_.confusion(a, p));
  }
  slots.push_back(layout_.scored());
  slots.push_back(layout_.evaluated_scored());
  for (int b = 0; b < layout_.calibration_bins(); ++b) {
    slots.push_back(layout_.calibration_count(b));
    slots.push_back(layout_.calibration_correct(b));
  }
  for (int c = 0; c < k; ++c) {
    for (int b = 0; b < layout_.score_bins(); ++b) slots.push_back(layout_.score_histogram(c, b));
  }
  for (int b = 0; b < layout_.score_bins(); ++b) slots.push_back(layout_.confidence_histogram(b));
  for (int f = 0; f < layout_.num_features(); ++f) {
    for (int b = 0; b < layout_.feature_bins(f); ++b) {
      slots.push_back(layout_.feature_histogram(f, b));
    }
  }
  slots.push_back(layout_.with_id());
  slots.push_back(layout_.joined());

  std::set<size_t> distinct(slots.begin(), slots.end());
  EXPECT_EQ(distinct.size(), slots.size());
  EXPECT_EQ(slots.size(), layout_.num_counts());
  EXPECT_LT(*distinct.rbegin(), layout_.num_counts());
}

TEST_F(BucketLayoutTest, ModelsWithoutDriftHaveNoHistograms) {
  ModelSpec spec = Spec();
  spec.drift = DriftSpec{};
  const BucketLayout layout(spec);
  EXPECT_TRUE(layout_.has_histograms());
  EXPECT_FALSE(layout.has_histograms());
  // 3 predictions + 9 confusion + scored + evaluated scored + 10 + 10 calibration + with id +
  // joined: no score, confidence or feature bins.
  EXPECT_EQ(layout.num_counts(), 36u);
  EXPECT_EQ(layout.num_sums(), layout_.num_sums());
}

TEST_F(BucketLayoutTest, SumSlotsAreDistinctAndInRange) {
  std::vector<size_t> slots = {layout_.confidence_sum(), layout_.log_loss_sum()};
  for (int c = 0; c < layout_.num_classes(); ++c) slots.push_back(layout_.brier_sum(c));
  for (int b = 0; b < layout_.calibration_bins(); ++b) {
    slots.push_back(layout_.calibration_confidence_sum(b));
  }

  std::set<size_t> distinct(slots.begin(), slots.end());
  EXPECT_EQ(distinct.size(), slots.size());
  EXPECT_EQ(slots.size(), layout_.num_sums());
  EXPECT_LT(*distinct.rbegin(), layout_.num_sums());
}

TEST_F(BucketLayoutTest, LearnedClassesUseTheClassCap) {
  ModelSpec spec;
  spec.max_learned_classes = 5;
  BucketLayout layout(spec);
  EXPECT_EQ(layout.num_classes(), 5);
  EXPECT_EQ(layout.confusion(4, 4), layout.confusion(0, 0) + 24);
}

TEST_F(BucketLayoutTest, BinsClampToTheUnitInterval) {
  EXPECT_EQ(layout_.CalibrationBin(0.0), 0);
  EXPECT_EQ(layout_.CalibrationBin(0.05), 0);
  EXPECT_EQ(layout_.CalibrationBin(0.55), 5);
  EXPECT_EQ(layout_.CalibrationBin(0.999), 9);
  EXPECT_EQ(layout_.CalibrationBin(1.0), 9);
  EXPECT_EQ(layout_.CalibrationBin(-0.5), 0);
  EXPECT_EQ(layout_.CalibrationBin(7.0), 9);
  EXPECT_EQ(layout_.ScoreBin(0.05), 1);
  EXPECT_EQ(layout_.ScoreBin(1.0), 19);
}

TEST_F(BucketLayoutTest, CountsAddSlotBySlot) {
  Counts a = Counts::Zero(layout_);
  Counts b = Counts::Zero(layout_);
  a.counts[layout_.prediction(1)] = 2;
  b.counts[layout_.prediction(1)] = 3;
  b.counts[layout_.joined()] = 7;
  a.sums[layout_.log_loss_sum()] = 0.25;
  b.sums[layout_.log_loss_sum()] = 0.5;

  a.Add(b);

  EXPECT_EQ(a.count(layout_.prediction(1)), 5u);
  EXPECT_EQ(a.count(layout_.joined()), 7u);
  EXPECT_EQ(a.sum(layout_.log_loss_sum()), 0.75);
  EXPECT_EQ(a.count(layout_.prediction(0)), 0u);
}

}  // namespace
}  // namespace modelwatch::core
