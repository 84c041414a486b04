#include "core/registry.h"

#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace modelwatch::core {
namespace {

using ::testing::ElementsAre;

// The columns of one group, owned, with a GroupView over them.
struct Events {
  std::string model = "fraud";
  std::string version;
  std::vector<std::string_view> class_names;
  std::vector<uint32_t> predicted;
  std::vector<int64_t> timestamp_ms;
  std::vector<uint64_t> ids;
  std::vector<float> scores;
  std::vector<int32_t> inline_labels;
  std::vector<std::string> feature_names;
  std::vector<std::vector<float>> feature_values;
  std::vector<uint32_t> labels;
  std::vector<uint64_t> label_ids;
  std::vector<int64_t> label_timestamp_ms;

  std::vector<FeatureColumnView> feature_views;

  GroupView View() {
    feature_views.clear();
    for (size_t f = 0; f < feature_names.size(); ++f) {
      feature_views.push_back(FeatureColumnView{feature_names[f], feature_values[f]});
    }
    return GroupView{model,         version, class_names, predicted,
                     timestamp_ms,  ids,     scores,      inline_labels,
                     feature_views, labels,  label_ids,   label_timestamp_ms};
  }
};

class RegistryTest : public ::testing::Test {
 protected:
  static ModelSpec FraudSpec() {
    ModelSpec spec;
    spec.name = "fraud";
    spec.classes = {"legit", "fraud"};
    spec.features = {FeatureSpec{"amount", {10, 100}}};
    // Drift on, so the distribution histograms are counted and can be checked.
    spec.drift.reference = DriftSpec::Reference::kPreviousWindow;
    return spec;
  }

  static ModelSpec ThreeClassSpec() {
    ModelSpec spec;
    spec.name = "iris";
    spec.classes = {"a", "b", "c"};
    return spec;
  }

  static Registry::Options Closed() {
    Registry::Options options;
    options.accept_unknown_models = false;
    return options;
  }

  IngestTally Ingest(Registry& registry, Events& events, int group = 0) {
    IngestTally tally;
    registry.Ingest(events.View(), group, clock_.Now(), tally);
    return tally;
  }

  static Model* Find(Registry& registry, std::string_view name) {
    for (Model* m : registry.Models()) {
      if (m->spec().name == name) return m;
    }
    return nullptr;
  }

  // The cumulative counts of one version.
  static Counts CountsOf(Registry& registry, std::string_view model, std::string_view version) {
    Model* m = Find(registry, model);
    EXPECT_NE(m, nullptr) << model;
    if (m == nullptr) return Counts{};
    for (const ModelVersion* v : m->Versions()) {
      if (v->name == version) return v->counters.Cumulative();
    }
    ADD_FAILURE() << "no version " << version;
    return Counts::Zero(m->layout());
  }

  static uint64_t Rejected(const IngestTally& tally, RejectReason reason) {
    return tally.rejected[static_cast<int>(reason)].count;
  }
  static const std::string& Message(const IngestTally& tally, RejectReason reason) {
    return tally.rejected[static_cast<int>(reason)].first_message;
  }

  ManualClock clock_;
};

TEST_F(RegistryTest, MissingModelRejectsEveryEvent) {
  Registry registry({FraudSpec()}, Closed());
  Events e;
  e.model = "";
  e.predicted = {0, 1};
  e.labels = {1};
  e.label_ids = {5};
  IngestTally tally = Ingest(registry, e, 3);
  EXPECT_EQ(Rejected(tally, RejectReason::kMissingModel), 3u);
  EXPECT_EQ(tally.rejected[static_cast<int>(RejectReason::kMissingModel)].first_group, 3);
  EXPECT_EQ(tally.accepted_predictions + tally.accepted_labels, 0u);
}

TEST_F(RegistryTest, UnknownModelIsRejectedWhenTheConfigIsClosed) {
  Registry registry({FraudSpec()}, Closed());
  Events e;
  e.model = "churn";
  e.predicted = {0, 1};
  IngestTally tally = Ingest(registry, e);
  EXPECT_EQ(Rejected(tally, RejectReason::kUnknownModel), 2u);
  EXPECT_EQ(Message(tally, RejectReason::kUnknownModel),
            "group 0: model \"churn\" is not in the config");
  EXPECT_EQ(registry.Models().size(), 1u);
}

TEST_F(RegistryTest, ModelLimitCapsModelsLearnedOnFirstSight) {
  Registry::Options options;
  options.max_models = 1;
  options.default_spec.classes = {"no", "yes"};
  Registry registry({FraudSpec()}, options);
  Events first;
  first.model = "churn";
  first.predicted = {1};
  EXPECT_EQ(Ingest(registry, first).accepted_predictions, 1u);
  Model* churn = Find(registry, "churn");
  ASSERT_NE(churn, nullptr);
  EXPECT_THAT(churn->ClassNames(), ElementsAre("no", "yes"));

  Events second;
  second.model = "spam";
  second.predicted = {0, 0};
  IngestTally tally = Ingest(registry, second);
  EXPECT_EQ(Rejected(tally, RejectReason::kModelLimit), 2u);
  EXPECT_EQ(registry.Models().size(), 2u);
}

TEST_F(RegistryTest, VersionLimitRejectsPredictionsButNotLabels) {
  Registry::Options options = Closed();
  options.max_versions = 1;
  Registry registry({FraudSpec()}, options);
  Events a;
  a.version = "a";
  a.predicted = {0};
  a.ids = {1};
  EXPECT_EQ(Ingest(registry, a).accepted_predictions, 1u);

  Events b;
  b.version = "b";
  b.predicted = {1, 1};
  b.labels = {1};
  b.label_ids = {1};
  IngestTally tally = Ingest(registry, b);
  EXPECT_EQ(Rejected(tally, RejectReason::kVersionLimit), 2u);
  EXPECT_EQ(tally.accepted_labels, 1u);
  Counts counts = CountsOf(registry, "fraud", "a");
  const BucketLayout& layout = Find(registry, "fraud")->layout();
  EXPECT_EQ(counts.count(layout.confusion(1, 0)), 1u);
}

TEST_F(RegistryTest, ClassIndexOutOfRangeIsUnknownClass) {
  Registry registry({FraudSpec()}, Closed());
  Events e;
  e.predicted = {0, 1, 1, 7, 2};
  IngestTally tally = Ingest(registry, e);
  EXPECT_EQ(tally.accepted_predictions, 3u);
  EXPECT_EQ(Rejected(tally, RejectReason::kUnknownClass), 2u);
  EXPECT_EQ(tally.rejected[static_cast<int>(RejectReason::kUnknownClass)].first_event, 3);
  EXPECT_EQ(Message(tally, RejectReason::kUnknownClass),
            "group 0 event 3: class index 7 is out of range for model \"fraud\" (2 classes)");
}

TEST_F(RegistryTest, DictionaryNameTheModelLacksIsUnknownClass) {
  Registry registry({FraudSpec()}, Closed());
  Events e;
  e.class_names = {"fraud", "maybe", "legit"};
  e.predicted = {0, 1, 2, 3};
  e.inline_labels = {2, -1, -1, -1};
  IngestTally tally = Ingest(registry, e);
  EXPECT_EQ(tally.accepted_predictions, 2u);
  EXPECT_EQ(Rejected(tally, RejectReason::kUnknownClass), 2u);
  EXPECT_EQ(Message(tally, RejectReason::kUnknownClass),
            "group 0 event 1: class \"maybe\" is not a class of model \"fraud\"");

  const BucketLayout& layout = Find(registry, "fraud")->layout();
  Counts counts = CountsOf(registry, "fraud", "default");
  EXPECT_EQ(counts.count(layout.prediction(1)), 1u);  // "fraud"
  EXPECT_EQ(counts.count(layout.prediction(0)), 1u);  // "legit"
  EXPECT_EQ(counts.count(layout.confusion(0, 1)), 1u);
}

TEST_F(RegistryTest, LearnedClassesStopAtTheLimit) {
  Registry::Options options;
  options.default_spec.max_learned_classes = 2;
  Registry registry({}, options);
  Events e;
  e.model = "topics";
  e.class_names = {"sport", "news", "weather"};
  e.predicted = {0, 1, 2, 2, 0};
  IngestTally tally = Ingest(registry, e);
  EXPECT_EQ(tally.accepted_predictions, 3u);
  EXPECT_EQ(Rejected(tally, RejectReason::kClassLimit), 2u);
  Model* model = Find(registry, "topics");
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->class_overflow(), 2u);
  EXPECT_THAT(model->ClassNames(), ElementsAre("sport", "news"));
  EXPECT_EQ(Message(tally, RejectReason::kClassLimit),
            "group 0 event 2: model \"topics\" already has its maximum of 2 classes; class "
            "\"weather\" is not tracked");
}

TEST_F(RegistryTest, ScoresOfTheWrongLengthRejectTheGroup) {
  Registry registry({FraudSpec()}, Closed());
  Events e;
  e.predicted = {0, 1};
  e.scores = {0.5f, 0.5f, 0.5f};
  IngestTally tally = Ingest(registry, e);
  EXPECT_EQ(Rejected(tally, RejectReason::kScoresLength), 2u);
  EXPECT_EQ(tally.accepted_predictions, 0u);
  EXPECT_EQ(Message(tally, RejectReason::kScoresLength),
            "group 0: predictions.scores holds 3 values; 2 predictions x 2 classes need 4");
}

TEST_F(RegistryTest, InvalidScoreRejectsOnlyItsEvent) {
  Registry registry({FraudSpec()}, Closed());
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Events e;
  e.predicted = {0, 1, 1, 0};
  e.scores = {0.9f, 0.1f, nan, 1.0f, 0.2f, 1.5f, -0.1f, 0.5f};
  IngestTally tally = Ingest(registry, e);
  EXPECT_EQ(tally.accepted_predictions, 1u);
  EXPECT_EQ(Rejected(tally, RejectReason::kInvalidScore), 3u);
  EXPECT_EQ(tally.rejected[static_cast<int>(RejectReason::kInvalidScore)].first_event, 1);
  const BucketLayout& layout = Find(registry, "fraud")->layout();
  EXPECT_EQ(CountsOf(registry, "fraud", "default").count(layout.scored()), 1u);
}

TEST_F(RegistryTest, InfiniteFeatureIsInvalidFeature) {
  Registry registry({FraudSpec()}, Closed());
  Events e;
  e.predicted = {0, 1};
  e.feature_names = {"amount"};
  e.feature_values = {{std::numeric_limits<float>::infinity(), 5.0f}};
  IngestTally tally = Ingest(registry, e);
  EXPECT_EQ(tally.accepted_predictions, 1u);
  EXPECT_EQ(Rejected(tally, RejectReason::kInvalidFeature), 1u);
  EXPECT_EQ(Message(tally, RejectReason::kInvalidFeature),
            "group 0 event 0: feature \"amount\" is NaN or infinite");
}

TEST_F(RegistryTest, ColumnOfTheWrongLengthRejectsTheGroup) {
  Registry registry({FraudSpec()}, Closed());
  Events e;
  e.predicted = {0, 1, 1};
  e.ids = {1, 2};
  IngestTally tally = Ingest(registry, e);
  EXPECT_EQ(Rejected(tally, RejectReason::kColumnLength), 3u);
  EXPECT_EQ(Message(tally, RejectReason::kColumnLength),
            "group 0: predictions.ids does not hold one value per prediction (3)");

  Events f;
  f.predicted = {0, 1};
  f.feature_names = {"amount"};
  f.feature_values = {{1.0f}};
  EXPECT_EQ(Rejected(Ingest(registry, f), RejectReason::kColumnLength), 2u);
}

TEST_F(RegistryTest, FeatureTheModelLacksIsUnknownFeature) {
  Registry registry({FraudSpec()}, Closed());
  Events e;
  e.predicted = {0, 1};
  e.feature_names = {"age"};
  e.feature_values = {{1.0f, 2.0f}};
  IngestTally tally = Ingest(registry, e);
  EXPECT_EQ(Rejected(tally, RejectReason::kUnknownFeature), 2u);
  EXPECT_EQ(Message(tally, RejectReason::kUnknownFeature),
            "group 0: feature \"age\" is not a feature of model \"fraud\"");
}

TEST_F(RegistryTest, LabelsWithoutIdsAreMissingId) {
  Registry registry({FraudSpec()}, Closed());
  Events none;
  none.labels = {0, 1};
  EXPECT_EQ(Rejected(Ingest(registry, none), RejectReason::kMissingId), 2u);

  Events zero;
  zero.labels = {0, 1, 1};
  zero.label_ids = {4, 0, 6};
  IngestTally tally = Ingest(registry, zero);
  EXPECT_EQ(Rejected(tally, RejectReason::kMissingId), 1u);
  EXPECT_EQ(tally.accepted_labels, 2u);
  EXPECT_EQ(Message(tally, RejectReason::kMissingId), "group 0 label 1: the label has no id");
  EXPECT_EQ(Find(registry, "fraud")->joiner().Stats().pending_labels, 2);
}

TEST_F(RegistryTest, MixedBatchGivesExactCounters) {
  Registry registry({FraudSpec()}, Closed());
  Events e;
  e.predicted = {0, 1, 1, 0};
  e.scores = {0.875f, 0.125f, 0.25f, 0.75f, 0.375f, 0.625f, 1.0f, 0.0f};
  e.inline_labels = {0, 0, -1, -1};
  e.ids = {0, 0, 11, 0};
  e.feature_names = {"amount"};
  e.feature_values = {{5.0f, 10.0f, 99.0f, 1000.0f}};
  IngestTally tally = Ingest(registry, e);
  EXPECT_EQ(tally.accepted_predictions, 4u);
  EXPECT_EQ(tally.TotalRejected(), 0u);

  const BucketLayout& layout = Find(registry, "fraud")->layout();
  Counts c = CountsOf(registry, "fraud", "default");
  EXPECT_EQ(c.count(layout.prediction(0)), 2u);
  EXPECT_EQ(c.count(layout.prediction(1)), 2u);
  EXPECT_EQ(c.count(layout.scored()), 4u);
  EXPECT_EQ(c.count(layout.evaluated_scored()), 2u);
  EXPECT_EQ(c.count(layout.confusion(0, 0)), 1u);
  EXPECT_EQ(c.count(layout.confusion(0, 1)), 1u);
  EXPECT_EQ(c.count(layout.with_id()), 1u);
  EXPECT_EQ(c.count(layout.joined()), 0u);
  // 20 score bins: .875 -> 17, .125 -> 2, .25 -> 5, .75 -> 15, .375 -> 7, .625 -> 12, 1 -> 19.
  EXPECT_EQ(c.count(layout.score_histogram(0, 17)), 1u);
  EXPECT_EQ(c.count(layout.score_histogram(0, 5)), 1u);
  EXPECT_EQ(c.count(layout.score_histogram(0, 7)), 1u);
  EXPECT_EQ(c.count(layout.score_histogram(0, 19)), 1u);
  EXPECT_EQ(c.count(layout.score_histogram(1, 2)), 1u);
  EXPECT_EQ(c.count(layout.score_histogram(1, 15)), 1u);
  EXPECT_EQ(c.count(layout.score_histogram(1, 12)), 1u);
  EXPECT_EQ(c.count(layout.score_histogram(1, 0)), 1u);
  EXPECT_EQ(c.count(layout.confidence_histogram(17)), 1u);
  EXPECT_EQ(c.count(layout.confidence_histogram(15)), 1u);
  EXPECT_EQ(c.count(layout.confidence_histogram(12)), 1u);
  EXPECT_EQ(c.count(layout.confidence_histogram(19)), 1u);
  EXPECT_DOUBLE_EQ(c.sum(layout.confidence_sum()), 0.875 + 0.75 + 0.625 + 1.0);
  // Edges {10, 100}: 5 -> 0, 10 -> 1, 99 -> 1, 1000 -> 2.
  EXPECT_EQ(c.count(layout.feature_histogram(0, 0)), 1u);
  EXPECT_EQ(c.count(layout.feature_histogram(0, 1)), 2u);
  EXPECT_EQ(c.count(layout.feature_histogram(0, 2)), 1u);
  // Calibration (10 bins) of the two evaluated: top .875 right (bin 8), top .75 wrong (bin 7).
  EXPECT_EQ(c.count(layout.calibration_count(8)), 1u);
  EXPECT_EQ(c.count(layout.calibration_correct(8)), 1u);
  EXPECT_EQ(c.count(layout.calibration_count(7)), 1u);
  EXPECT_EQ(c.count(layout.calibration_correct(7)), 0u);
  EXPECT_DOUBLE_EQ(c.sum(layout.calibration_confidence_sum(7)), 0.75);
  // Log loss of the two: -log(.875) - log(.25).
  EXPECT_NEAR(c.sum(layout.log_loss_sum()), -std::log(0.875) - std::log(0.25), 1e-15);
}

// Scores and labels of six events of a three-class model, and scikit-learn 1.2.1's results on
// them (the scores as float32 widened to float64):
//   log_loss(y, P, labels=[0, 1, 2], normalize=False) and, per class c,
//   brier_score_loss(y == c, P[:, c]) * 6.
constexpr float kScores[6][3] = {{0.7f, 0.2f, 0.1f}, {0.1f, 0.8f, 0.1f}, {0.3f, 0.3f, 0.4f},
                                 {0.0f, 1.0f, 0.0f}, {0.5f, 0.5f, 0.0f}, {0.2f, 0.25f, 0.5f}};
constexpr uint32_t kActual[6] = {0, 2, 2, 1, 1, 0};
constexpr double kSklearnLogLossSum = 5.826842580129833;
constexpr double kSklearnBrierSum[3] = {1.0800000098347666, 1.082500027418137, 1.4299999904632568};

void ExpectSklearnSums(const BucketLayout& layout, const Counts& c) {
  EXPECT_EQ(c.count(layout.evaluated_scored()), 6u);
  EXPECT_NEAR(c.sum(layout.log_loss_sum()), kSklearnLogLossSum, 1e-12);
  for (int k = 0; k < 3; ++k) EXPECT_NEAR(c.sum(layout.brier_sum(k)), kSklearnBrierSum[k], 1e-12);
  // Top scores 0.7 (right; as a float just below 0.7, so bin 6), 0.8 (wrong), 0.4 (right),
  // 1.0 (right), 0.5 (tie: argmax 0, wrong), 0.5 (wrong).
  EXPECT_EQ(c.count(layout.calibration_count(6)), 1u);
  EXPECT_EQ(c.count(layout.calibration_correct(6)), 1u);
  EXPECT_EQ(c.count(layout.calibration_count(8)), 1u);
  EXPECT_EQ(c.count(layout.calibration_correct(8)), 0u);
  EXPECT_EQ(c.count(layout.calibration_count(4)), 1u);
  EXPECT_EQ(c.count(layout.calibration_correct(4)), 1u);
  EXPECT_EQ(c.count(layout.calibration_count(9)), 1u);
  EXPECT_EQ(c.count(layout.calibration_correct(9)), 1u);
  EXPECT_EQ(c.count(layout.calibration_count(5)), 2u);
  EXPECT_EQ(c.count(layout.calibration_correct(5)), 0u);
}

TEST_F(RegistryTest, HistogramsCountOnlyAcceptedEventsInModelClassOrder) {
  // The dictionary {fraud, legit} reverses the model's class order, and event 1's infinite
  // feature rejects it: the feature column is binned value by value, its value left out.
  Registry registry({FraudSpec()}, Closed());
  Events e;
  e.class_names = {"fraud", "legit"};
  e.predicted = {1, 0, 0};
  e.scores = {0.125f, 0.875f, 0.5f, 0.5f, 0.625f, 0.375f};  // (fraud, legit) per event
  e.feature_names = {"amount"};
  e.feature_values = {{5.0f, std::numeric_limits<float>::infinity(), 1000.0f}};
  IngestTally tally = Ingest(registry, e);
  EXPECT_EQ(tally.accepted_predictions, 2u);
  EXPECT_EQ(Rejected(tally, RejectReason::kInvalidFeature), 1u);

  const BucketLayout& layout = Find(registry, "fraud")->layout();
  Counts c = CountsOf(registry, "fraud", "default");
  // Model class 0 is legit: .875 -> bin 17, .375 -> 7; class 1 is fraud: .125 -> 2, .625 -> 12.
  EXPECT_EQ(c.count(layout.score_histogram(0, 17)), 1u);
  EXPECT_EQ(c.count(layout.score_histogram(0, 7)), 1u);
  EXPECT_EQ(c.count(layout.score_histogram(1, 2)), 1u);
  EXPECT_EQ(c.count(layout.score_histogram(1, 12)), 1u);
  EXPECT_EQ(c.count(layout.confidence_histogram(17)), 1u);
  EXPECT_EQ(c.count(layout.confidence_histogram(12)), 1u);
  uint64_t scores_counted = 0;
  uint64_t confidences_counted = 0;
  for (int b = 0; b < layout.score_bins(); ++b) {
    scores_counted += c.count(layout.score_histogram(0, b)) + c.count(layout.score_histogram(1, b));
    confidences_counted += c.count(layout.confidence_histogram(b));
  }
  EXPECT_EQ(scores_counted, 4u);
  EXPECT_EQ(confidences_counted, 2u);
  // Edges {10, 100}: 5 -> 0, 1000 -> 2; the rejected event's value counts nowhere.
  EXPECT_EQ(c.count(layout.feature_histogram(0, 0)), 1u);
  EXPECT_EQ(c.count(layout.feature_histogram(0, 1)), 0u);
  EXPECT_EQ(c.count(layout.feature_histogram(0, 2)), 1u);
}

TEST_F(RegistryTest, LogLossAndBrierSumsEqualSklearn) {
  Registry registry({ThreeClassSpec()}, Closed());
  Events e;
  e.model = "iris";
  for (int i = 0; i < 6; ++i) {
    e.predicted.push_back(static_cast<uint32_t>(i % 3));
    e.inline_labels.push_back(static_cast<int32_t>(kActual[i]));
    e.scores.insert(e.scores.end(), kScores[i], kScores[i] + 3);
  }
  EXPECT_EQ(Ingest(registry, e).accepted_predictions, 6u);
  ExpectSklearnSums(Find(registry, "iris")->layout(), CountsOf(registry, "iris", "default"));
}

TEST_F(RegistryTest, InvalidScoreInALabelledGroupLeavesTheOtherEventsSums) {
  // The six events above with two invalid rows between them, all labelled inline: the group's
  // one-pass evaluation finds the bad scores and the general path rejects just those two, so the
  // sums are sklearn's on the six.
  Registry registry({ThreeClassSpec()}, Closed());
  Events e;
  e.model = "iris";
  for (int i = 0; i < 8; ++i) {
    e.predicted.push_back(static_cast<uint32_t>(i % 3));
    if (i == 2 || i == 5) {
      e.inline_labels.push_back(0);
      e.scores.insert(e.scores.end(), {0.5f, i == 2 ? std::nanf("") : 1.5f, 0.1f});
      continue;
    }
    const int event = i < 2 ? i : (i < 5 ? i - 1 : i - 2);
    e.inline_labels.push_back(static_cast<int32_t>(kActual[event]));
    e.scores.insert(e.scores.end(), kScores[event], kScores[event] + 3);
  }
  IngestTally tally = Ingest(registry, e);
  EXPECT_EQ(tally.accepted_predictions, 6u);
  EXPECT_EQ(Rejected(tally, RejectReason::kInvalidScore), 2u);
  EXPECT_EQ(tally.rejected[static_cast<int>(RejectReason::kInvalidScore)].first_event, 2);
  ExpectSklearnSums(Find(registry, "iris")->layout(), CountsOf(registry, "iris", "default"));
}

TEST_F(RegistryTest, DictionaryOrderIsMappedToModelOrder) {
  // The same events as above, sent with the dictionary {c, a, b}: columns and labels permuted.
  Registry registry({ThreeClassSpec()}, Closed());
  Events e;
  e.model = "iris";
  e.class_names = {"c", "a", "b"};
  const uint32_t to_dict[3] = {1, 2, 0};  // model class -> dictionary index
  for (int i = 0; i < 6; ++i) {
    e.predicted.push_back(to_dict[i % 3]);
    e.inline_labels.push_back(static_cast<int32_t>(to_dict[kActual[i]]));
    e.scores.insert(e.scores.end(), {kScores[i][2], kScores[i][0], kScores[i][1]});
  }
  EXPECT_EQ(Ingest(registry, e).accepted_predictions, 6u);
  const BucketLayout& layout = Find(registry, "iris")->layout();
  Counts c = CountsOf(registry, "iris", "default");
  ExpectSklearnSums(layout, c);
  EXPECT_EQ(c.count(layout.prediction(0)), 2u);
  EXPECT_EQ(c.count(layout.confusion(2, 1)), 1u);  // event 1: actual c, predicted b
}

TEST_F(RegistryTest, InvalidScoreOfAClassTheModelLacksRejectsItsEvent) {
  // The dictionary {c, a, b, z} names a class the model does not have: its column is dropped from
  // the model-order rows the group is evaluated on, yet a NaN there still rejects the event.
  Registry registry({ThreeClassSpec()}, Closed());
  Events e;
  e.model = "iris";
  e.class_names = {"c", "a", "b", "z"};
  const uint32_t to_dict[3] = {1, 2, 0};
  for (int i = 0; i < 7; ++i) {
    const int event = i < 3 ? i : i - 1;  // event 3 is the bad one
    e.predicted.push_back(to_dict[event % 3]);
    e.inline_labels.push_back(static_cast<int32_t>(to_dict[kActual[event]]));
    const float* p = kScores[event];
    e.scores.insert(e.scores.end(), {p[2], p[0], p[1], i == 3 ? std::nanf("") : 0.0f});
  }
  IngestTally tally = Ingest(registry, e);
  EXPECT_EQ(tally.accepted_predictions, 6u);
  EXPECT_EQ(Rejected(tally, RejectReason::kInvalidScore), 1u);
  EXPECT_EQ(tally.rejected[static_cast<int>(RejectReason::kInvalidScore)].first_event, 3);
  ExpectSklearnSums(Find(registry, "iris")->layout(), CountsOf(registry, "iris", "default"));
}

TEST_F(RegistryTest, LabelAfterPredictionJoinsAndEvaluates) {
  Registry registry({ThreeClassSpec()}, Closed());
  Events p;
  p.model = "iris";
  p.predicted = {0, 1, 2};
  p.ids = {101, 102, 0};
  p.timestamp_ms = {1'000, 2'000, 3'000};
  p.scores = {0.7f, 0.2f, 0.1f, 0.1f, 0.8f, 0.1f, 0.3f, 0.3f, 0.4f};
  EXPECT_EQ(Ingest(registry, p).accepted_predictions, 3u);

  Events l;
  l.model = "iris";
  l.labels = {0, 2, 1};
  l.label_ids = {101, 102, 999};
  l.label_timestamp_ms = {61'000, 0, 5'000};
  clock_.Advance(absl::Seconds(30));
  EXPECT_EQ(Ingest(registry, l).accepted_labels, 3u);

  const BucketLayout& layout = Find(registry, "iris")->layout();
  Counts c = CountsOf(registry, "iris", "default");
  EXPECT_EQ(c.count(layout.with_id()), 2u);
  EXPECT_EQ(c.count(layout.joined()), 2u);
  EXPECT_EQ(c.count(layout.confusion(0, 0)), 1u);
  EXPECT_EQ(c.count(layout.confusion(2, 1)), 1u);
  EXPECT_EQ(c.count(layout.evaluated_scored()), 2u);
  // -log(0.7) - log(0.1), each row already summing to 1 (up to float rounding).
  EXPECT_NEAR(c.sum(layout.log_loss_sum()), -std::log(0.7) - std::log(0.1), 1e-6);

  JoinStats stats = Find(registry, "iris")->joiner().Stats();
  EXPECT_EQ(stats.joined, 2u);
  EXPECT_EQ(stats.pending_labels, 1);
  // Lags: 60 s, and the label without timestamp arrived at now.
  const double now_s = absl::ToUnixSeconds(clock_.Now());
  EXPECT_DOUBLE_EQ(stats.lag_sum_seconds, 60.0 + (now_s - 2.0));
}

TEST_F(RegistryTest, LabelBeforePredictionJoinsWhenThePredictionArrives) {
  Registry registry({FraudSpec()}, Closed());
  Events l;
  l.labels = {1};
  l.label_ids = {77};
  EXPECT_EQ(Ingest(registry, l).accepted_labels, 1u);

  Events p;
  p.version = "v2";
  p.predicted = {0};
  p.ids = {77};
  EXPECT_EQ(Ingest(registry, p).accepted_predictions, 1u);

  const BucketLayout& layout = Find(registry, "fraud")->layout();
  Counts c = CountsOf(registry, "fraud", "v2");
  EXPECT_EQ(c.count(layout.joined()), 1u);
  EXPECT_EQ(c.count(layout.with_id()), 1u);
  EXPECT_EQ(c.count(layout.confusion(1, 0)), 1u);
}

TEST_F(RegistryTest, JoinedLabelsCountOnThePredictionsVersion) {
  Registry registry({FraudSpec()}, Closed());
  Events a;
  a.version = "a";
  a.predicted = {0};
  a.ids = {1};
  Events b;
  b.version = "b";
  b.predicted = {1, 1};
  b.ids = {2, 3};
  Ingest(registry, a);
  Ingest(registry, b);

  Events l;
  l.version = "ignored";
  l.labels = {0, 0, 1};
  l.label_ids = {1, 2, 3};
  EXPECT_EQ(Ingest(registry, l).accepted_labels, 3u);

  const BucketLayout& layout = Find(registry, "fraud")->layout();
  Counts ca = CountsOf(registry, "fraud", "a");
  Counts cb = CountsOf(registry, "fraud", "b");
  EXPECT_EQ(ca.count(layout.confusion(0, 0)), 1u);
  EXPECT_EQ(ca.count(layout.joined()), 1u);
  EXPECT_EQ(cb.count(layout.confusion(0, 1)), 1u);
  EXPECT_EQ(cb.count(layout.confusion(1, 1)), 1u);
  EXPECT_EQ(cb.count(layout.joined()), 2u);
  EXPECT_EQ(Find(registry, "fraud")->Versions().size(), 2u);
}

TEST_F(RegistryTest, TickExpiresPendingPredictions) {
  ModelSpec spec = FraudSpec();
  spec.join.ttl = absl::Minutes(10);
  Registry registry({spec}, Closed());
  Events p;
  p.predicted = {0, 1};
  p.ids = {1, 2};
  Ingest(registry, p);

  registry.Tick(clock_.Now() + absl::Minutes(10));
  EXPECT_EQ(Find(registry, "fraud")->joiner().Stats().expired_predictions, 0u);
  registry.Tick(clock_.Now() + absl::Minutes(11));
  JoinStats stats = Find(registry, "fraud")->joiner().Stats();
  EXPECT_EQ(stats.expired_predictions, 2u);
  EXPECT_EQ(stats.pending_predictions, 0);
}

TEST_F(RegistryTest, ConcurrentIngestKeepsExactTotals) {
  Registry registry({FraudSpec()}, Registry::Options());
  constexpr int kThreads = 4;
  constexpr int kGroups = 200;
  constexpr int kPerGroup = 48;
  std::vector<std::thread> threads;
  std::vector<IngestTally> tallies(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int g = 0; g < kGroups; ++g) {
        Events e;
        e.version = t % 2 == 0 ? "even" : "odd";
        for (int i = 0; i < kPerGroup; ++i) {
          const uint64_t id = (static_cast<uint64_t>(t) * kGroups + g) * kPerGroup + i + 1;
          e.predicted.push_back(static_cast<uint32_t>(i % 2));
          e.ids.push_back(id);
          e.scores.insert(e.scores.end(), {0.25f, 0.75f});
          e.labels.push_back(static_cast<uint32_t>((i / 2) % 2));
          e.label_ids.push_back(id);
        }
        registry.Ingest(e.View(), g, clock_.Now(), tallies[t]);
      }
    });
  }
  for (std::thread& th : threads) th.join();

  IngestTally total;
  for (const IngestTally& t : tallies) total.Merge(t);
  const uint64_t n = uint64_t{kThreads} * kGroups * kPerGroup;
  EXPECT_EQ(total.accepted_predictions, n);
  EXPECT_EQ(total.accepted_labels, n);
  EXPECT_EQ(total.TotalRejected(), 0u);

  const BucketLayout& layout = Find(registry, "fraud")->layout();
  Counts c = CountsOf(registry, "fraud", "even");
  c.Add(CountsOf(registry, "fraud", "odd"));
  EXPECT_EQ(c.count(layout.prediction(0)), n / 2);
  EXPECT_EQ(c.count(layout.prediction(1)), n / 2);
  EXPECT_EQ(c.count(layout.joined()), n);
  EXPECT_EQ(c.count(layout.scored()), n);
  // i % 4 == 0: (0,0); 1: (0,1); 2: (1,0); 3: (1,1) as (actual, predicted).
  for (int a = 0; a < 2; ++a) {
    for (int p = 0; p < 2; ++p) EXPECT_EQ(c.count(layout.confusion(a, p)), n / 4);
  }
  // Each evaluation adds -log(p[actual]) with p = (0.25, 0.75).
  EXPECT_NEAR(c.sum(layout.log_loss_sum()), n / 2 * (-std::log(0.25) - std::log(0.75)), 1e-6);
  EXPECT_EQ(Find(registry, "fraud")->joiner().Stats().joined, n);
}

}  // namespace
}  // namespace modelwatch::core
