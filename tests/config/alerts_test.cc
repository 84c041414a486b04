#include "config/alerts.h"

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "config/config.h"
#include "config/rules.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace modelwatch::config {
namespace {

using ::testing::HasSubstr;

// Two models; `alerts:` starts on line 15, so an alert's first key is on line 16.
constexpr char kModels[] = R"yaml(models:
  - name: fraud
    classes: [legit, fraud]
    windows:
      - {name: 5m, length: 5m, granularity: 15s}
      - {name: 1h, length: 1h, granularity: 2m}
    features:
      - {name: amount, edges: [0, 10, 100]}
    drift:
      reference: {capture_events: 1000}
  - name: spam
    classes: [ham, spam]
    windows:
      - {name: 5m, length: 5m, granularity: 15s}
alerts:
)yaml";

class AlertsTest : public ::testing::Test {
 protected:
  // Parses kModels followed by `alerts` (list entries indented by two spaces).
  static absl::StatusOr<Config> Parse(const std::string& alerts) {
    return ParseConfig(absl::StrCat(kModels, alerts), "m.yaml");
  }

  // The error message of a config that must not parse.
  static std::string ErrorOf(const std::string& alerts) {
    absl::StatusOr<Config> config = Parse(alerts);
    EXPECT_FALSE(config.ok()) << "parsed: " << alerts;
    if (config.ok()) return "";
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(config.status().message());
  }
};

TEST_F(AlertsTest, FullGaugeAlertParsesToItsSpec) {
  absl::StatusOr<Config> config = Parse(R"yaml(  - name: FraudMacroF1Low
    model: fraud
    signal: f1_average
    average: macro
    window: 1h
    op: "<"
    threshold: 0.8
    for: 10m
    severity: page
    labels: {team: risk, area: payments}
    summary: "F1 {{ $value }}"
)yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->alerts.size(), 1u);
  const AlertSpec& a = config->alerts[0];
  EXPECT_EQ(a.name, "FraudMacroF1Low");
  EXPECT_EQ(a.model, "fraud");
  EXPECT_EQ(a.kind, AlertKind::kGauge);
  EXPECT_EQ(a.scope, AlertScope::kReplica);
  EXPECT_EQ(a.signal, "f1_average");
  EXPECT_EQ(a.average, "macro");
  EXPECT_EQ(a.window, "1h");
  EXPECT_EQ(a.range, absl::Hours(1));
  EXPECT_EQ(a.op, AlertOp::kLess);
  EXPECT_EQ(a.threshold, 0.8);
  EXPECT_EQ(a.for_duration, absl::Minutes(10));
  EXPECT_EQ(a.severity, "page");
  EXPECT_EQ(a.labels, (std::vector<std::pair<std::string, std::string>>{{"area", "payments"},
                                                                        {"team", "risk"}}));
  EXPECT_EQ(a.summary, "F1 {{ $value }}");
  EXPECT_EQ(a.description, "");
}

TEST_F(AlertsTest, SpecialKindsGetTheirDefaults) {
  absl::StatusOr<Config> config = Parse(R"yaml(  - {name: Silent, model: fraud, signal: no_events}
  - {name: Rejects, model: "*", signal: reject_ratio, window: 90s, op: ">", threshold: 0.01}
  - {name: Drift, model: fraud, signal: drift, distribution: "feature:amount",
     statistic: psi, window: 1h, op: ">=", threshold: 0.25}
)yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->alerts.size(), 3u);
  EXPECT_EQ(config->alerts[0].kind, AlertKind::kNoEvents);
  EXPECT_EQ(config->alerts[0].range, absl::Minutes(5));
  EXPECT_EQ(config->alerts[0].severity, "warning");
  EXPECT_EQ(config->alerts[1].kind, AlertKind::kRejectRatio);
  EXPECT_EQ(config->alerts[1].window, "1m30s");
  EXPECT_EQ(config->alerts[2].kind, AlertKind::kDrift);
  EXPECT_EQ(config->alerts[2].distribution, "feature:amount");
  EXPECT_EQ(config->alerts[2].op, AlertOp::kGreaterEqual);
}

TEST_F(AlertsTest, UnknownModelIsAnErrorListingTheModels) {
  EXPECT_THAT(ErrorOf("  - {name: A, model: fruad, signal: accuracy, window: 5m, op: '<', "
                      "threshold: 1}\n"),
              HasSubstr("m.yaml:16:22: alerts[0].model: \"fruad\" is not a model of the config; "
                        "models: fraud, spam, or \"*\" for every model"));
}

TEST_F(AlertsTest, WindowMustExistForEveryModelOfAWildcard) {
  EXPECT_THAT(ErrorOf("  - name: A\n    model: \"*\"\n    signal: accuracy\n    window: 1h\n"
                      "    op: '<'\n    threshold: 0.5\n"),
              HasSubstr("m.yaml:19:13: alerts[0].window: \"1h\" is not a window of model spam; "
                        "its windows are 5m"));
}

TEST_F(AlertsTest, UnknownClassNamesTheModelsClasses) {
  EXPECT_THAT(ErrorOf("  - name: A\n    model: spam\n    signal: f1\n    class: fraud\n"
                      "    window: 5m\n    op: '<'\n    threshold: 0.5\n"),
              HasSubstr("m.yaml:19:12: alerts[0].class: \"fraud\" is not a class of model spam; "
                        "its classes are ham, spam"));
}

TEST_F(AlertsTest, UnknownSignalListsTheSignals) {
  EXPECT_THAT(ErrorOf("  - {name: A, model: fraud, signal: f1_macro, window: 5m, op: '<', "
                      "threshold: 1}\n"),
              HasSubstr("m.yaml:16:37: alerts[0].signal: \"f1_macro\" is not a signal; allowed: "
                        "accuracy, precision, recall, f1, support,"));
}

TEST_F(AlertsTest, UnknownDriftStatisticAndFeatureAreErrors) {
  EXPECT_THAT(ErrorOf("  - {name: A, model: fraud, signal: drift, distribution: label, "
                      "statistic: kolmogorov, window: 5m, op: '>', threshold: 1}\n"),
              HasSubstr("alerts[0].statistic: \"kolmogorov\" is not a drift statistic; allowed: "
                        "psi, kl, js, hellinger, tv, linf, wasserstein, chi2_pvalue, "
                        "ks_statistic, ks_pvalue"));
  EXPECT_THAT(ErrorOf("  - {name: A, model: fraud, signal: drift, distribution: 'feature:amt', "
                      "statistic: psi, window: 5m, op: '>', threshold: 1}\n"),
              HasSubstr("alerts[0].distribution: \"amt\" is not a feature of model fraud; its "
                        "features are amount"));
  EXPECT_THAT(ErrorOf("  - {name: A, model: fraud, signal: drift, distribution: 'score:spam', "
                      "statistic: psi, window: 5m, op: '>', threshold: 1}\n"),
              HasSubstr("\"spam\" is not a class of model fraud"));
}

TEST_F(AlertsTest, DriftNeedsADriftReference) {
  EXPECT_THAT(ErrorOf("  - {name: A, model: spam, signal: drift, distribution: label, "
                      "statistic: psi, window: 5m, op: '>', threshold: 1}\n"),
              HasSubstr("m.yaml:16:36: alerts[0].signal: model spam computes no drift "
                        "statistics: give it a drift reference"));
}

TEST_F(AlertsTest, MisspelledKeySuggestsTheRightOne) {
  EXPECT_THAT(ErrorOf("  - {name: A, model: fraud, signal: accuracy, window: 5m, op: '<', "
                      "treshold: 1}\n"),
              HasSubstr("alerts[0].treshold: unknown key \"treshold\"; did you mean "
                        "\"threshold\"?"));
}

TEST_F(AlertsTest, MissingSelectorsAndBadValuesAreErrors) {
  EXPECT_THAT(ErrorOf("  - {name: A, model: fraud, signal: f1_average, window: 5m, op: '<', "
                      "threshold: 1}\n"),
              HasSubstr("missing key \"average\"; f1_average needs one of macro, micro, weighted"));
  EXPECT_THAT(ErrorOf("  - {name: A, model: fraud, signal: recall, window: 5m, op: '<', "
                      "threshold: 1}\n"),
              HasSubstr("missing key \"class\""));
  EXPECT_THAT(ErrorOf("  - {name: A, model: fraud, signal: accuracy, window: 5m, op: '=<', "
                      "threshold: 1}\n"),
              HasSubstr("alerts[0].op: \"=<\" is not a comparison; use <, <=, > or >="));
  EXPECT_THAT(ErrorOf("  - {name: A, model: fraud, signal: accuracy, window: 5m, op: '<', "
                      "threshold: high}\n"),
              HasSubstr("alerts[0].threshold: \"high\" is not a finite number"));
  EXPECT_THAT(ErrorOf("  - {name: A, model: fraud, signal: accuracy, window: 5m, op: '<', "
                      "threshold: 1, for: 10x}\n"),
              HasSubstr("alerts[0].for: \"10x\" is not a duration"));
  EXPECT_THAT(ErrorOf("  - {name: 1A, model: fraud, signal: no_events}\n"),
              HasSubstr("alerts[0].name: \"1A\" is not a valid alert name"));
  EXPECT_THAT(ErrorOf("  - {name: A, model: fraud, signal: no_events, op: '<'}\n"),
              HasSubstr("alerts[0].op: does not apply here"));
  EXPECT_THAT(ErrorOf("  - {name: A, model: fraud, signal: reject_ratio, op: '>', "
                      "threshold: 0.1}\n"),
              HasSubstr("reject_ratio needs model \"*\""));
  EXPECT_THAT(ErrorOf("  - {name: A, model: fraud, signal: log_loss, scope: fleet, window: 5m, "
                      "op: '>', threshold: 1}\n"),
              HasSubstr("log_loss has no fleet-wide recording rule"));
  EXPECT_THAT(ErrorOf("  - {name: A, model: fraud, signal: no_events, labels: {severity: x}}\n"),
              HasSubstr("alerts[0].labels.severity: severity is set by the generator"));
}

TEST_F(AlertsTest, DuplicateNamesAreAnError) {
  EXPECT_THAT(ErrorOf("  - {name: A, model: fraud, signal: no_events}\n"
                      "  - {name: A, model: spam, signal: no_events}\n"),
              HasSubstr("m.yaml:17:12: alerts[1].name: \"A\" is already the name of the alert "
                        "at line 16; alert names are unique"));
}

TEST_F(AlertsTest, EveryBadAlertIsReported) {
  const std::string error = ErrorOf(
      "  - {name: A, model: nope, signal: no_events}\n"
      "  - {name: B, model: fraud, signal: nope}\n");
  EXPECT_THAT(error, HasSubstr("alerts[0].model"));
  EXPECT_THAT(error, HasSubstr("alerts[1].signal"));
}

TEST_F(AlertsTest, WildcardCoversModelsAcceptedOnFirstSight) {
  absl::StatusOr<Config> config = ParseConfig(
      "alerts:\n  - {name: A, model: '*', signal: accuracy, window: 24h, op: '<', threshold: 1}\n",
      "m.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->alerts[0].range, absl::Hours(24));
  EXPECT_THAT(std::string(ParseConfig("alerts:\n  - {name: A, model: '*', signal: accuracy, "
                                      "window: 2h, op: '<', threshold: 1}\n",
                                      "m.yaml")
                              .status()
                              .message()),
              HasSubstr("\"2h\" is not a window of models accepted on first sight"));
}

TEST(PrometheusDurationTest, WritesLargestUnitsFirst) {
  EXPECT_EQ(PrometheusDuration(absl::ZeroDuration()), "0s");
  EXPECT_EQ(PrometheusDuration(absl::Seconds(90)), "1m30s");
  EXPECT_EQ(PrometheusDuration(absl::Hours(25) + absl::Milliseconds(5)), "1d1h5ms");
  EXPECT_EQ(PrometheusDuration(absl::Minutes(10)), "10m");
}

TEST(GenerateRulesTest, AlertExpressionsSelectTheRightSeries) {
  absl::StatusOr<Config> config = ParseConfig(absl::StrCat(kModels, R"yaml(  - name: A
    model: fraud
    signal: recall
    class: fraud
    window: 5m
    op: "<"
    threshold: 0.5
  - {name: B, model: spam, signal: f1, class: spam, scope: fleet, window: 5m, op: "<=",
     threshold: 0.25}
  - {name: C, model: fraud, signal: drift, distribution: predicted_class, statistic: psi,
     window: 1h, op: ">", threshold: 0.123456789012}
)yaml"),
                                              "m.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(BuildAlertRule(config->alerts[0]).expr,
            "modelwatch_recall{model=\"fraud\", window=\"5m\", class=\"fraud\"} < 0.5");
  EXPECT_EQ(BuildAlertRule(config->alerts[1]).expr,
            "model:modelwatch_f1:ratio_5m{model=\"spam\", window=\"5m\", class=\"spam\"} <= 0.25");
  EXPECT_EQ(BuildAlertRule(config->alerts[2]).expr,
            "modelwatch_drift{model=\"fraud\", window=\"1h\", signal=\"predicted_class\", "
            "statistic=\"psi\"} > 0.123456789012");

  absl::StatusOr<std::string> rules = GenerateRules(*config, RuleOptions{});
  ASSERT_TRUE(rules.ok()) << rules.status();
  EXPECT_THAT(*rules, HasSubstr("  - name: modelwatch_fleet_5m\n"));
  // 1h is fraud's only, so its recording rules are restricted to fraud.
  EXPECT_THAT(*rules, HasSubstr("modelwatch_window_confusion{window=\"1h\", model=~\"fraud\"}"));
  EXPECT_THAT(*rules, HasSubstr("      - alert: B\n"));
}

}  // namespace
}  // namespace modelwatch::config
