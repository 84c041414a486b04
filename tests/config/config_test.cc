#include "config/config.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "config/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace modelwatch::config {
namespace {

using ::testing::HasSubstr;

// The example from docs/configuration.md, with every section.
constexpr std::string_view kFullExample = R"(server:
  grpc_listen: 127.0.0.1:50051
  http_listen: 0.0.0.0:9464
accept_unknown_models: true
limits:
  max_models: 50
  max_versions: 8
defaults:
  windows:
    - {name: short, length: 10m, granularity: 30s}
    - {length: 2h, granularity: 5m}
  join: {capacity: 5000, ttl: 12h}
  max_learned_classes: 64
  calibration_bins: 15
  score_bins: 25
models:
  - name: fraud
    classes: [legit, fraud]
    windows:
      - {name: 5m, length: 5m, granularity: 15s}
      - {length: 1.5h, granularity: 1m}
    join: {ttl: 7d}
    calibration_bins: 12
    features:
      - name: amount
        edges: [0, 10, 100, 1000]
      - name: age_days
  - name: ranker_v2.en-US:prod
    score_bins: 40
)";

class ConfigTest : public ::testing::Test {
 protected:
  // Parses `yaml` named "test.yaml", expecting success.
  static Config Parse(std::string_view yaml) {
    absl::StatusOr<Config> config = ParseConfig(yaml, "test.yaml");
    EXPECT_TRUE(config.ok()) << config.status();
    return config.ok() ? *std::move(config) : Config{};
  }

  // Parses `yaml` named "test.yaml", expecting InvalidArgument; returns the message.
  static std::string Error(std::string_view yaml) {
    absl::StatusOr<Config> config = ParseConfig(yaml, "test.yaml");
    EXPECT_FALSE(config.ok()) << "parsed, but an error was expected:\n" << yaml;
    if (config.ok()) return "";
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(config.status().message());
  }
};

void ExpectWindow(const core::WindowSpec& window, std::string_view name, absl::Duration length,
                  absl::Duration granularity) {
  EXPECT_EQ(window.name, name);
  EXPECT_EQ(window.length, length) << name;
  EXPECT_EQ(window.granularity, granularity) << name;
}

// The scalar fields of a spec.
void ExpectModelFields(const core::ModelSpec& spec, int64_t join_capacity, absl::Duration join_ttl,
                       int max_learned_classes, int calibration_bins, int score_bins) {
  EXPECT_EQ(spec.join.capacity, join_capacity) << spec.name;
  EXPECT_EQ(spec.join.ttl, join_ttl) << spec.name;
  EXPECT_EQ(spec.max_learned_classes, max_learned_classes) << spec.name;
  EXPECT_EQ(spec.calibration_bins, calibration_bins) << spec.name;
  EXPECT_EQ(spec.score_bins, score_bins) << spec.name;
}

TEST_F(ConfigTest, FullExampleParsesToExpectedSpecs) {
  const Config config = Parse(kFullExample);

  EXPECT_EQ(config.source, "test.yaml");
  EXPECT_EQ(config.grpc_listen, "127.0.0.1:50051");
  EXPECT_EQ(config.http_listen, "0.0.0.0:9464");
  EXPECT_TRUE(config.registry.accept_unknown_models);
  EXPECT_EQ(config.registry.max_models, 50);
  EXPECT_EQ(config.registry.max_versions, 8);

  const core::ModelSpec& defaults = config.registry.default_spec;
  EXPECT_EQ(defaults.name, "");
  EXPECT_TRUE(defaults.classes.empty());
  ASSERT_EQ(defaults.windows.size(), 2u);
  ExpectWindow(defaults.windows[0], "short", absl::Minutes(10), absl::Seconds(30));
  ExpectWindow(defaults.windows[1], "2h", absl::Hours(2), absl::Minutes(5));
  ExpectModelFields(defaults, 5000, absl::Hours(12), 64, 15, 25);

  ASSERT_EQ(config.models.size(), 2u);
  const core::ModelSpec& fraud = config.models[0];
  EXPECT_EQ(fraud.name, "fraud");
  EXPECT_EQ(fraud.classes, (std::vector<std::string>{"legit", "fraud"}));
  ASSERT_EQ(fraud.windows.size(), 2u);
  ExpectWindow(fraud.windows[0], "5m", absl::Minutes(5), absl::Seconds(15));
  ExpectWindow(fraud.windows[1], "1.5h", absl::Minutes(90), absl::Minutes(1));
  // The join capacity comes from the defaults: `join` merges field by field.
  ExpectModelFields(fraud, 5000, absl::Hours(7 * 24), 64, 12, 25);
  ASSERT_EQ(fraud.features.size(), 2u);
  EXPECT_EQ(fraud.features[0].name, "amount");
  EXPECT_EQ(fraud.features[0].edges, (std::vector<double>{0, 10, 100, 1000}));
  EXPECT_EQ(fraud.features[1].name, "age_days");
  EXPECT_TRUE(fraud.features[1].edges.empty());

  const core::ModelSpec& ranker = config.models[1];
  EXPECT_EQ(ranker.name, "ranker_v2.en-US:prod");
  EXPECT_TRUE(ranker.classes.empty());
  ASSERT_EQ(ranker.windows.size(), 2u);
  ExpectWindow(ranker.windows[0], "short", absl::Minutes(10), absl::Seconds(30));
  ExpectModelFields(ranker, 5000, absl::Hours(12), 64, 15, 40);
  EXPECT_TRUE(ranker.features.empty());
}

TEST_F(ConfigTest, EmptyTextGivesBuiltInDefaults) {
  const Config config = Parse("");

  EXPECT_EQ(config.grpc_listen, "");
  EXPECT_EQ(config.http_listen, "");
  EXPECT_TRUE(config.models.empty());
  EXPECT_TRUE(config.registry.accept_unknown_models);
  EXPECT_EQ(config.registry.max_models, 100);
  EXPECT_EQ(config.registry.max_versions, 16);
  const core::ModelSpec& defaults = config.registry.default_spec;
  ASSERT_EQ(defaults.windows.size(), 3u);
  ExpectWindow(defaults.windows[0], "5m", absl::Minutes(5), absl::Seconds(15));
  ExpectWindow(defaults.windows[1], "1h", absl::Hours(1), absl::Minutes(2));
  ExpectWindow(defaults.windows[2], "24h", absl::Hours(24), absl::Hours(1));
  ExpectModelFields(defaults, 100'000, absl::Hours(24), 32, 10, 20);
}

TEST_F(ConfigTest, EmbeddedDefaultEqualsBuiltInDefaults) {
  absl::StatusOr<Config> embedded = ParseConfig(EmbeddedDefaultConfig(), kEmbeddedSource);
  ASSERT_TRUE(embedded.ok()) << embedded.status();
  const Config empty = Parse("");

  EXPECT_EQ(embedded->source, "<embedded default>");
  EXPECT_EQ(embedded->hash, Sha256Hex(EmbeddedDefaultConfig()));
  EXPECT_EQ(embedded->grpc_listen, empty.grpc_listen);
  EXPECT_EQ(embedded->http_listen, empty.http_listen);
  EXPECT_TRUE(embedded->models.empty());
  EXPECT_EQ(embedded->registry.accept_unknown_models, empty.registry.accept_unknown_models);
  EXPECT_EQ(embedded->registry.max_models, empty.registry.max_models);
  EXPECT_EQ(embedded->registry.max_versions, empty.registry.max_versions);
  const core::ModelSpec& a = embedded->registry.default_spec;
  const core::ModelSpec& b = empty.registry.default_spec;
  ASSERT_EQ(a.windows.size(), b.windows.size());
  for (size_t i = 0; i < a.windows.size(); ++i) {
    ExpectWindow(a.windows[i], b.windows[i].name, b.windows[i].length, b.windows[i].granularity);
  }
  ExpectModelFields(a, b.join.capacity, b.join.ttl, b.max_learned_classes, b.calibration_bins,
                    b.score_bins);
}

TEST_F(ConfigTest, DeclaredModelsTurnOffUnknownModelsUnlessAsked) {
  EXPECT_FALSE(Parse("models: [{name: a}]").registry.accept_unknown_models);
  EXPECT_TRUE(
      Parse("models: [{name: a}]\naccept_unknown_models: true").registry.accept_unknown_models);
  EXPECT_TRUE(Parse("models: []").registry.accept_unknown_models);
}

TEST_F(ConfigTest, ModelWithoutOverridesGetsDefaults) {
  const Config config = Parse(R"(defaults:
  windows: [{length: 90m, granularity: 1m}]
  join: {capacity: 7}
  score_bins: 5
models:
  - name: m
)");
  ASSERT_EQ(config.models.size(), 1u);
  const core::ModelSpec& m = config.models[0];
  ASSERT_EQ(m.windows.size(), 1u);
  ExpectWindow(m.windows[0], "90m", absl::Minutes(90), absl::Minutes(1));
  ExpectModelFields(m, 7, absl::Hours(24), 32, 10, 5);
}

TEST_F(ConfigTest, ClassNamesMayLookLikeNumbers) {
  const Config config = Parse("models: [{name: digits, classes: [0, 1, '2', 3.5]}]");
  ASSERT_EQ(config.models.size(), 1u);
  EXPECT_EQ(config.models[0].classes, (std::vector<std::string>{"0", "1", "2", "3.5"}));
}

TEST_F(ConfigTest, HashIsSha256OfTheText) {
  const Config config = Parse(kFullExample);
  EXPECT_EQ(config.hash, Sha256Hex(kFullExample));
  EXPECT_EQ(config.hash.size(), 64u);
  EXPECT_NE(Parse("limits: {max_models: 5}").hash, Parse("limits: {max_models: 6}").hash);
}

// Each validation error names the file, line, column, field path and what is allowed.

TEST_F(ConfigTest, UnknownTopLevelKeyIsRejected) {
  const std::string error = Error("models: []\nalarms: []\n");
  EXPECT_THAT(error, HasSubstr("test.yaml:2:1: alarms: unknown key \"alarms\"; did you mean "
                               "\"alerts\"?"));
  EXPECT_THAT(error, HasSubstr("Allowed keys: server, accept_unknown_models, limits, defaults, "
                               "models, alerts, state_dir"));
}

TEST_F(ConfigTest, MisspelledKeySuggestsTheKnownOne) {
  const std::string error = Error("models:\n  - name: a\n    windoes: []\n");
  EXPECT_THAT(error, HasSubstr("test.yaml:3:5: models[0].windoes: unknown key \"windoes\"; did "
                               "you mean \"windows\"?"));
}

TEST_F(ConfigTest, FarOffKeyHasNoSuggestion) {
  const std::string error = Error("limits:\n  frobnicate: 3\n");
  EXPECT_THAT(error, HasSubstr("test.yaml:2:3: limits.frobnicate: unknown key"));
  EXPECT_THAT(error, ::testing::Not(HasSubstr("did you mean")));
}

TEST_F(ConfigTest, WrongTypeNamesValueAndRange) {
  EXPECT_THAT(Error("defaults:\n  calibration_bins: ten\n"),
              HasSubstr("test.yaml:2:21: defaults.calibration_bins: \"ten\" is not an integer "
                        "from 1 to 1000"));
  EXPECT_THAT(Error("limits:\n  max_models: \"5\"\n"),
              HasSubstr("test.yaml:2:15: limits.max_models: \"5\" is not an integer from 1 to "
                        "10000 (remove the quotes)"));
  EXPECT_THAT(Error("accept_unknown_models: yes\n"),
              HasSubstr("test.yaml:1:24: accept_unknown_models: \"yes\" is not true or false"));
  EXPECT_THAT(Error("models: {name: a}\n"),
              HasSubstr("test.yaml:1:9: models: a mapping is not a list"));
  EXPECT_THAT(Error("defaults: [1]\n"),
              HasSubstr("test.yaml:1:11: defaults: a list is not a mapping"));
}

TEST_F(ConfigTest, BadValueIsEscapedInMessages) {
  EXPECT_THAT(Error("models:\n  - name: \"a\\\"b\\nc\"\n"),
              HasSubstr("models[0].name: \"a\\\"b\\nc\" is not a model name"));
  EXPECT_THAT(Error("models:\n  - name: \"caf\u00e9 \"\n"),
              HasSubstr("models[0].name: \"caf\u00e9 \" is not a model name"));
}

TEST_F(ConfigTest, DuplicateKeyIsRejected) {
  EXPECT_THAT(Error("limits:\n  max_models: 5\n  max_models: 6\n"),
              HasSubstr("test.yaml:3:3: limits.max_models: duplicate key"));
}

TEST_F(ConfigTest, DuplicateModelNameIsRejected) {
  EXPECT_THAT(Error("models:\n  - name: a\n  - name: b\n  - name: a\n"),
              HasSubstr("test.yaml:4:11: models[2].name: duplicate model name \"a\" (also "
                        "models[0])"));
}

TEST_F(ConfigTest, ModelNameMustBeAnIdentifier) {
  EXPECT_THAT(Error("models:\n  - name: 9lives\n"),
              HasSubstr("test.yaml:2:11: models[0].name: \"9lives\" is not a model name"));
  EXPECT_THAT(Error("models:\n  - name: \"a b\"\n"),
              HasSubstr("test.yaml:2:11: models[0].name: \"a b\" is not a model name"));
  EXPECT_THAT(Error("models:\n  - classes: [a, b]\n"),
              HasSubstr("test.yaml:2:5: models[0]: missing name"));
}

TEST_F(ConfigTest, DuplicateOrEmptyClassIsRejected) {
  EXPECT_THAT(Error("models:\n  - name: m\n    classes: [x, y, x]\n"),
              HasSubstr("test.yaml:3:21: models[0].classes[2]: duplicate class \"x\" (also "
                        "models[0].classes[0])"));
  EXPECT_THAT(Error("models:\n  - name: m\n    classes: [x, \"\"]\n"),
              HasSubstr("test.yaml:3:18: models[0].classes[1]: \"\" is not a non-empty string"));
  EXPECT_THAT(Error("models:\n  - name: m\n    classes: [x]\n"),
              HasSubstr("test.yaml:3:14: models[0].classes: lists 1 classes; list 2 to 1024"));
}

TEST_F(ConfigTest, MaxLearnedClassesConflictsWithFixedClasses) {
  EXPECT_THAT(Error("models:\n  - name: m\n    classes: [a, b]\n    max_learned_classes: 4\n"),
              HasSubstr("test.yaml:4:26: models[0].max_learned_classes: applies only to a model "
                        "that learns its classes"));
}

TEST_F(ConfigTest, BadDurationSaysWhatIsAllowed) {
  EXPECT_THAT(Error("models:\n  - name: m\n    windows:\n      - {length: 5x, granularity: 1s}\n"),
              HasSubstr("test.yaml:4:18: models[0].windows[0].length: \"5x\" is not a duration; "
                        "use a number followed by ms, s, m, h or d"));
}

TEST_F(ConfigTest, WindowLengthMustBePositive) {
  EXPECT_THAT(Error("defaults:\n  windows:\n    - {length: 0s, granularity: 1s}\n"),
              HasSubstr("test.yaml:3:16: defaults.windows[0].length: \"0s\" must be longer than "
                        "0"));
}

TEST_F(ConfigTest, GranularityMustBeAtLeastOneSecond) {
  EXPECT_THAT(
      Error("models:\n  - name: m\n    windows:\n      - {length: 1m, granularity: 500ms}\n"),
      HasSubstr("test.yaml:4:35: models[0].windows[0].granularity: \"500ms\" must be at "
                "least 1s"));
}

TEST_F(ConfigTest, LengthMustBeAMultipleOfGranularity) {
  EXPECT_THAT(Error("defaults:\n  windows:\n    - {length: 5m, granularity: 7s}\n"),
              HasSubstr("test.yaml:3:16: defaults.windows[0].length: \"5m\" is not a multiple of "
                        "the granularity \"7s\""));
}

TEST_F(ConfigTest, GranularitiesMustBeMultiplesOfTheSmallest) {
  const std::string error = Error(R"(models:
  - name: m
    windows:
      - {length: 10m, granularity: 10s}
      - {length: 1h, granularity: 15s}
)");
  EXPECT_THAT(error, HasSubstr("test.yaml:5:35: models[0].windows[1].granularity: \"15s\" is "
                               "not a multiple of the smallest granularity of the model's "
                               "windows, 10s"));
}

TEST_F(ConfigTest, WindowNamesMustBeUnique) {
  EXPECT_THAT(Error("defaults:\n  windows:\n    - {length: 5m, granularity: 15s}\n    - {name: "
                    "5m, length: 10m, granularity: 15s}\n"),
              HasSubstr("test.yaml:4:7: defaults.windows[1]: duplicate window name \"5m\" (also "
                        "windows[0])"));
}

TEST_F(ConfigTest, WindowBucketsAreCapped) {
  EXPECT_THAT(Error("defaults:\n  windows:\n    - {length: 7d, granularity: 1s}\n"),
              HasSubstr("test.yaml:3:33: defaults.windows[0].granularity: \"1s\" splits the window "
                        "into 604800 buckets; at most 10000"));
}

TEST_F(ConfigTest, WindowNeedsLengthAndGranularity) {
  EXPECT_THAT(Error("defaults:\n  windows:\n    - {length: 5m}\n"),
              HasSubstr("test.yaml:3:7: defaults.windows[0]: missing granularity"));
  EXPECT_THAT(Error("defaults:\n  windows: []\n"),
              HasSubstr("test.yaml:2:12: defaults.windows: lists 0 windows; list 1 to 16"));
}

TEST_F(ConfigTest, JoinCapacityAndTtlAreBounded) {
  EXPECT_THAT(Error("defaults:\n  join: {capacity: 0}\n"),
              HasSubstr("test.yaml:2:20: defaults.join.capacity: \"0\" is not an integer from 1 to "
                        "100000000"));
  EXPECT_THAT(Error("defaults:\n  join: {capacity: 100000001}\n"),
              HasSubstr("test.yaml:2:20: defaults.join.capacity: \"100000001\" is not an integer"));
  EXPECT_THAT(Error("models:\n  - name: m\n    join: {ttl: 0s}\n"),
              HasSubstr("test.yaml:3:17: models[0].join.ttl: \"0s\" must be longer than 0"));
}

TEST_F(ConfigTest, BinsAndClassCapAreBounded) {
  EXPECT_THAT(Error("defaults:\n  score_bins: 0\n"),
              HasSubstr("test.yaml:2:15: defaults.score_bins: \"0\" is not an integer from 1 to "
                        "1000"));
  EXPECT_THAT(Error("models:\n  - name: m\n    calibration_bins: 1001\n"),
              HasSubstr("test.yaml:3:23: models[0].calibration_bins: \"1001\" is not an integer "
                        "from 1 to 1000"));
  EXPECT_THAT(Error("defaults:\n  max_learned_classes: 1\n"),
              HasSubstr("test.yaml:2:24: defaults.max_learned_classes: \"1\" is not an integer "
                        "from 2 to 1024"));
  EXPECT_THAT(Error("defaults:\n  max_learned_classes: 1025\n"),
              HasSubstr("defaults.max_learned_classes: \"1025\" is not an integer from 2 to 1024"));
}

TEST_F(ConfigTest, EdgesMustBeFiniteAndStrictlyAscending) {
  EXPECT_THAT(Error("models:\n  - name: m\n    features:\n      - {name: x, edges: [0, 5, 5]}\n"),
              HasSubstr("test.yaml:4:33: models[0].features[0].edges[2]: \"5\" is not greater than "
                        "the edge before it"));
  EXPECT_THAT(Error("models:\n  - name: m\n    features:\n      - {name: x, edges: [0, .inf]}\n"),
              HasSubstr("test.yaml:4:30: models[0].features[0].edges[1]: \".inf\" is not a finite "
                        "number"));
  EXPECT_THAT(Error("models:\n  - name: m\n    features:\n      - {name: x, edges: [0, nan]}\n"),
              HasSubstr("models[0].features[0].edges[1]: \"nan\" is not a finite number"));
}

TEST_F(ConfigTest, FeatureNamesMustBeUnique) {
  EXPECT_THAT(Error("models:\n  - name: m\n    features:\n      - name: x\n      - name: x\n"),
              HasSubstr("test.yaml:5:15: models[0].features[1].name: duplicate feature \"x\""));
}

TEST_F(ConfigTest, ListenAddressNeedsAPort) {
  EXPECT_THAT(Error("server:\n  grpc_listen: localhost\n"),
              HasSubstr("test.yaml:2:16: server.grpc_listen: \"localhost\" is not a listen "
                        "address; use HOST:PORT"));
  EXPECT_TRUE(Parse("server: {grpc_listen: \"[::1]:0\"}").grpc_listen == "[::1]:0");
}

TEST_F(ConfigTest, RejectingUnknownModelsNeedsDeclaredModels) {
  EXPECT_THAT(Error("accept_unknown_models: false\n"),
              HasSubstr("test.yaml:1:24: accept_unknown_models: is false but no models are "
                        "declared"));
}

TEST_F(ConfigTest, SyntaxErrorNamesTheLine) {
  const std::string error = Error("models:\n  - name: a\n    classes: [a, b\n");
  EXPECT_THAT(error, HasSubstr("test.yaml:4:1: YAML syntax error: end of sequence flow not found"))
      << error;
  EXPECT_THAT(Error("limits:\n  max_models: 5\n max_versions: 3\n"), HasSubstr("test.yaml:3:"));
}

TEST_F(ConfigTest, SecondDocumentIsRejected) {
  EXPECT_THAT(Error("models: []\n---\nmodels: []\n"),
              HasSubstr("test.yaml:3:1: a config holds one YAML document"));
}

// Every prefix of a valid file either parses or fails with located errors; nothing throws.
TEST_F(ConfigTest, EveryPrefixOfTheExampleParsesOrFailsCleanly) {
  for (size_t size = 0; size <= kFullExample.size(); ++size) {
    absl::StatusOr<Config> config = ParseConfig(kFullExample.substr(0, size), "test.yaml");
    if (config.ok()) continue;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument) << size;
    EXPECT_THAT(std::string(config.status().message()), ::testing::StartsWith("test.yaml:"))
        << size;
  }
}

TEST_F(ConfigTest, EveryIndependentErrorIsReported) {
  const std::string error = Error(R"(limits:
  max_models: 0
models:
  - name: a
    score_bins: -1
  - name: a
)");
  EXPECT_THAT(error, HasSubstr("test.yaml:2:15: limits.max_models"));
  EXPECT_THAT(error, HasSubstr("test.yaml:5:17: models[0].score_bins"));
  EXPECT_THAT(error, HasSubstr("test.yaml:6:11: models[1].name: duplicate model name"));
}

TEST_F(ConfigTest, LoadsAFileAndNamesItInErrors) {
  const std::filesystem::path dir = ::testing::TempDir();
  const std::string good = (dir / "config_test_good.yaml").string();
  const std::string bad = (dir / "config_test_bad.yaml").string();
  std::ofstream(good) << kFullExample;
  std::ofstream(bad) << "models:\n  - name: m\n    score_bins: 0\n";

  absl::StatusOr<Config> config = LoadConfigFile(good);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->source, good);
  EXPECT_EQ(config->hash, Sha256Hex(kFullExample));
  EXPECT_EQ(config->models.size(), 2u);

  absl::StatusOr<Config> invalid = LoadConfigFile(bad);
  ASSERT_FALSE(invalid.ok());
  EXPECT_THAT(invalid.status().message(),
              HasSubstr(bad + ":3:17: models[0].score_bins: \"0\" is not an integer"));
}

// The YAML blocks of docs/configuration.md parse; ctest sets MODELWATCH_SOURCE_DIR.
TEST_F(ConfigTest, DocumentedExamplesParse) {
  const char* source_dir = std::getenv("MODELWATCH_SOURCE_DIR");
  if (source_dir == nullptr) GTEST_SKIP() << "MODELWATCH_SOURCE_DIR is not set";
  std::ifstream in(std::filesystem::path(source_dir) / "docs" / "configuration.md");
  ASSERT_TRUE(in) << "cannot read docs/configuration.md";

  std::vector<std::string> blocks;
  std::string line;
  bool in_block = false;
  while (std::getline(in, line)) {
    if (line == "```yaml") {
      in_block = true;
      blocks.emplace_back();
    } else if (in_block && line == "```") {
      in_block = false;
    } else if (in_block) {
      blocks.back() += line + "\n";
    }
  }
  ASSERT_EQ(blocks.size(), 2u);
  const Config example = Parse(blocks[0]);
  EXPECT_EQ(example.models.size(), 2u);
  EXPECT_FALSE(example.registry.accept_unknown_models);
  const Config embedded = Parse(blocks[1]);
  EXPECT_TRUE(embedded.registry.accept_unknown_models);
  EXPECT_EQ(embedded.registry.default_spec.join.capacity, 100'000);
}

TEST_F(ConfigTest, MissingFileNamesThePath) {
  const std::string path = (std::filesystem::path(::testing::TempDir()) / "no_such.yaml").string();
  absl::StatusOr<Config> config = LoadConfigFile(path);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(config.status().message(), HasSubstr("\"" + path + "\""));
  EXPECT_THAT(config.status().message(), HasSubstr("No such file or directory"));
}

TEST_F(ConfigTest, DirectoryIsNotAConfigFile) {
  absl::StatusOr<Config> config = LoadConfigFile(::testing::TempDir());
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("it is a directory"));
}

}  // namespace
}  // namespace modelwatch::config
