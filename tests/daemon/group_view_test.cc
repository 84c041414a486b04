#include "daemon/group_view.h"

#include <string>
#include <vector>

#include "daemon/http_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "modelwatch/v1/ingest.pb.h"

namespace modelwatch::daemon {
namespace {

using ::testing::ElementsAre;

TEST(StringIdHashTest, EmptyIsNoIdAndOthersAreNonZeroAndStable) {
  EXPECT_EQ(StringIdHash(""), 0u);
  EXPECT_NE(StringIdHash("a"), 0u);
  // Pinned: the hash must never change between releases, or replicas and restarts disagree.
  EXPECT_EQ(StringIdHash("req-1"), StringIdHash(std::string("req-") + "1"));
  EXPECT_NE(StringIdHash("req-1"), StringIdHash("req-2"));
  EXPECT_NE(StringIdHash("ab"), StringIdHash("ba"));
}

TEST(StringIdHashTest, DistinctIdsDoNotCollideInPractice) {
  std::vector<uint64_t> hashes;
  for (int i = 0; i < 100000; ++i) hashes.push_back(StringIdHash("request-" + std::to_string(i)));
  std::sort(hashes.begin(), hashes.end());
  EXPECT_EQ(std::unique(hashes.begin(), hashes.end()), hashes.end());
}

class GroupViewBuilderTest : public ::testing::Test {
 protected:
  v1::ModelEvents group_;
  GroupViewBuilder builder_;
};

TEST_F(GroupViewBuilderTest, ViewAliasesTheProtobufArrays) {
  group_.set_model("fraud");
  group_.set_version("v2");
  group_.add_class_names("legit");
  group_.add_class_names("fraud");
  v1::Predictions& p = *group_.mutable_predictions();
  p.add_predicted(1);
  p.add_predicted(0);
  p.add_scores(0.2f);
  p.add_scores(0.8f);
  p.add_scores(0.9f);
  p.add_scores(0.1f);
  p.add_ids(7);
  p.add_ids(0);
  p.add_label(-1);
  p.add_label(0);
  v1::FeatureColumn& amount = *p.add_features();
  amount.set_name("amount");
  amount.add_values(3.5f);
  amount.add_values(12.0f);

  const core::GroupView& view = builder_.Build(group_);

  EXPECT_EQ(view.model, "fraud");
  EXPECT_EQ(view.version, "v2");
  EXPECT_THAT(view.class_names, ElementsAre("legit", "fraud"));
  EXPECT_EQ(view.predicted.data(), p.predicted().data());
  EXPECT_EQ(view.scores.data(), p.scores().data());
  EXPECT_EQ(view.prediction_ids.data(), p.ids().data());
  EXPECT_THAT(view.inline_labels, ElementsAre(-1, 0));
  ASSERT_EQ(view.features.size(), 1u);
  EXPECT_EQ(view.features[0].name, "amount");
  EXPECT_EQ(view.features[0].values.data(), amount.values().data());
  EXPECT_TRUE(view.labels.empty());
  EXPECT_TRUE(view.label_ids.empty());
}

TEST_F(GroupViewBuilderTest, StringIdsAreHashedAndEmptyMeansNoId) {
  v1::Predictions& p = *group_.mutable_predictions();
  p.add_predicted(0);
  p.add_predicted(0);
  p.add_string_ids("r1");
  p.add_string_ids("");
  v1::Labels& l = *group_.mutable_labels();
  l.add_label(1);
  l.add_string_ids("r1");

  const core::GroupView& view = builder_.Build(group_);

  EXPECT_THAT(view.prediction_ids, ElementsAre(StringIdHash("r1"), 0u));
  EXPECT_THAT(view.label_ids, ElementsAre(StringIdHash("r1")));
  EXPECT_FALSE(GroupViewBuilder::HasConflictingIds(group_));
}

TEST_F(GroupViewBuilderTest, BothIdKindsInOneColumnConflict) {
  group_.mutable_labels()->add_ids(1);
  group_.mutable_labels()->add_string_ids("a");
  EXPECT_TRUE(GroupViewBuilder::HasConflictingIds(group_));
}

TEST(QueryParamTest, FindsAndDecodesValues) {
  EXPECT_EQ(QueryParam("advance_seconds=30&x=1", "advance_seconds"), "30");
  EXPECT_EQ(QueryParam("a=1&set_unix=1700000000.5", "set_unix"), "1700000000.5");
  EXPECT_EQ(QueryParam("name=a%20b", "name"), "a b");
  EXPECT_EQ(QueryParam("advance=1", "advance_seconds"), std::nullopt);
  EXPECT_EQ(QueryParam("", "x"), std::nullopt);
}

}  // namespace
}  // namespace modelwatch::daemon
