#include "core/change_detectors.h"

#include <cmath>
#include <cstdint>
#include <numbers>
#include <optional>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace modelwatch::core {
namespace {

// Deterministic streams: std::mt19937_64's output is fixed by the standard, and the uniform and
// normal variates are derived here rather than by the library's (implementation-defined)
// distributions, so every platform sees the same values.
class Stream {
 public:
  explicit Stream(uint64_t seed) : engine_(seed) {}

  double Uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  bool Bernoulli(double p) { return Uniform() < p; }
  // Box-Muller; one value per call is enough here.
  double Normal(double mean, double sd) {
    const double u = 1.0 - Uniform();  // (0, 1]
    const double v = Uniform();
    return mean + sd * std::sqrt(-2.0 * std::log(u)) * std::cos(2.0 * std::numbers::pi * v);
  }

 private:
  std::mt19937_64 engine_;
};

constexpr int kStationaryLength = 100'000;

// Feeds `n` values from `next` and returns the index of the first detection, if any.
template <typename Detector, typename Next>
std::optional<int> FirstDetection(Detector& detector, int n, Next next) {
  std::optional<int> first;
  for (int i = 0; i < n; ++i) {
    if (detector.Update(next()) && !first) first = i;
  }
  return first;
}

TEST(AdwinTest, InvalidOptionsAreRejected) {
  EXPECT_TRUE(Adwin::Create().ok());
  EXPECT_EQ(Adwin::Create({.delta = 0}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Adwin::Create({.delta = 1}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(Adwin::Create({.max_buckets = 0}).ok());
  EXPECT_FALSE(Adwin::Create({.clock = 0}).ok());
  EXPECT_FALSE(Adwin::Create({.min_window_length = 0}).ok());
  EXPECT_FALSE(Adwin::Create({.grace_period = -1}).ok());
}

TEST(AdwinTest, WindowMeanAndVarianceAreThoseOfTheValuesHeld) {
  Adwin adwin = *Adwin::Create();
  Stream stream(1);
  std::vector<double> values;
  for (int i = 0; i < 5000; ++i) {
    values.push_back(stream.Normal(0.5, 0.1));
    ASSERT_FALSE(adwin.Update(values.back())) << i;
  }
  double sum = 0;
  for (double v : values) sum += v;
  const double mean = sum / values.size();
  double squares = 0;
  for (double v : values) squares += (v - mean) * (v - mean);
  EXPECT_EQ(adwin.width(), 5000);
  EXPECT_NEAR(adwin.mean(), mean, 1e-12);
  EXPECT_NEAR(adwin.variance(), squares / values.size(), 1e-9);
}

TEST(AdwinTest, MemoryGrowsWithTheLogarithmOfTheWidth) {
  Adwin adwin = *Adwin::Create();
  Stream stream(2);
  for (int i = 0; i < kStationaryLength; ++i) adwin.Update(stream.Normal(0.5, 0.1));
  ASSERT_EQ(adwin.width(), kStationaryLength);
  // At most max_buckets buckets of each size 1, 2, 4, ..., up to the width.
  EXPECT_LE(adwin.num_buckets(), 5 * (static_cast<int>(std::log2(kStationaryLength)) + 1));
}

TEST(AdwinTest, NoDetectionOnStationaryStreams) {
  Adwin normal = *Adwin::Create();
  Stream stream(3);
  EXPECT_EQ(FirstDetection(normal, kStationaryLength, [&] { return stream.Normal(0.5, 0.1); }),
            std::nullopt);
  Adwin bernoulli = *Adwin::Create();
  EXPECT_EQ(FirstDetection(bernoulli, kStationaryLength,
                           [&] { return stream.Bernoulli(0.2) ? 1.0 : 0.0; }),
            std::nullopt);
  EXPECT_EQ(bernoulli.detections(), 0);
}

TEST(AdwinTest, StepChangeIsDetectedWithinDelayAndTheWindowForgetsTheOldMean) {
  // Mean 0.5 -> 0.8 with sd 0.1 (a 3 sd step) after 5,000 values.
  Adwin adwin = *Adwin::Create();
  Stream stream(4);
  std::vector<double> values;
  auto next = [&](double mean) {
    values.push_back(stream.Normal(mean, 0.1));
    return values.back();
  };
  ASSERT_EQ(FirstDetection(adwin, 5000, [&] { return next(0.5); }), std::nullopt);
  std::optional<int> delay = FirstDetection(adwin, 5000, [&] { return next(0.8); });
  ASSERT_TRUE(delay.has_value());
  EXPECT_LE(*delay, 64);  // at most two clock ticks of 32
  EXPECT_GE(adwin.detections(), 1);
  EXPECT_NEAR(adwin.mean(), 0.8, 0.01);

  // The window is exactly the newest width() values: dropping buckets kept the sums exact.
  ASSERT_LE(adwin.width(), 5000);
  double sum = 0;
  for (size_t i = values.size() - adwin.width(); i < values.size(); ++i) sum += values[i];
  const double mean = sum / adwin.width();
  double squares = 0;
  for (size_t i = values.size() - adwin.width(); i < values.size(); ++i) {
    squares += (values[i] - mean) * (values[i] - mean);
  }
  EXPECT_NEAR(adwin.mean(), mean, 1e-12);
  EXPECT_NEAR(adwin.variance(), squares / adwin.width(), 1e-9);
}

TEST(AdwinTest, NonFiniteValuesAreIgnored) {
  Adwin adwin = *Adwin::Create();
  adwin.Update(1.0);
  adwin.Update(NAN);
  adwin.Update(INFINITY);
  adwin.Update(3.0);
  EXPECT_EQ(adwin.width(), 2);
  EXPECT_EQ(adwin.mean(), 2.0);
  EXPECT_EQ(adwin.ignored(), 2);
}

TEST(PageHinkleyTest, InvalidOptionsAreRejected) {
  EXPECT_TRUE(PageHinkley::Create().ok());
  EXPECT_FALSE(PageHinkley::Create({.min_instances = 0}).ok());
  EXPECT_FALSE(PageHinkley::Create({.delta = -1}).ok());
  EXPECT_FALSE(PageHinkley::Create({.threshold = 0}).ok());
  EXPECT_FALSE(PageHinkley::Create({.alpha = 0}).ok());
  EXPECT_FALSE(PageHinkley::Create({.alpha = 1.5}).ok());
}

TEST(PageHinkleyTest, StatisticFollowsTheRecurrence) {
  PageHinkley ph = *PageHinkley::Create({.min_instances = 1000, .alpha = 1});
  // Means 0, 0, 1/3; deviations 0, 0, 2/3. up: -d, -2d, -3d + 2/3 with minimum -2d;
  // down: d, 2d, 3d + 2/3, its own maximum. The statistic is max(2/3 - d, 0).
  ph.Update(0);
  ph.Update(0);
  ph.Update(1);
  EXPECT_DOUBLE_EQ(ph.mean(), 1.0 / 3);
  EXPECT_NEAR(ph.statistic(), 2.0 / 3 - 0.005, 1e-15);
  // Back to 0: mean 1/4, deviation -1/4; up and down both fall by 1/4 (and move by -d, +d).
  ph.Update(0);
  const double down_max = 3 * 0.005 + 2.0 / 3;
  const double down = down_max + (0 - 0.25) + 0.005;
  const double up = -3 * 0.005 + 2.0 / 3 + (0 - 0.25) - 0.005;
  EXPECT_NEAR(ph.statistic(), std::max(up - (-2 * 0.005), down_max - down), 1e-15);
}

TEST(PageHinkleyTest, NoDetectionOnStationaryStream) {
  PageHinkley ph = *PageHinkley::Create();
  Stream stream(5);
  EXPECT_EQ(FirstDetection(ph, kStationaryLength, [&] { return stream.Normal(0.5, 0.1); }),
            std::nullopt);
  EXPECT_EQ(ph.count(), kStationaryLength);
  EXPECT_NEAR(ph.mean(), 0.5, 0.002);
}

TEST(PageHinkleyTest, StepUpIsDetectedWithinDelay) {
  PageHinkley ph = *PageHinkley::Create();
  Stream stream(6);
  ASSERT_EQ(FirstDetection(ph, 5000, [&] { return stream.Normal(0.5, 0.1); }), std::nullopt);
  std::optional<int> delay = FirstDetection(ph, 5000, [&] { return stream.Normal(1.5, 0.1); });
  ASSERT_TRUE(delay.has_value());
  EXPECT_LE(*delay, 60);
}

TEST(PageHinkleyTest, DirectionSelectsWhichStepsCount) {
  PageHinkley both = *PageHinkley::Create();
  PageHinkley up = *PageHinkley::Create({.direction = PageHinkleyOptions::Direction::kUp});
  Stream stream(7);
  for (int i = 0; i < 5000; ++i) {
    const double x = stream.Normal(1.5, 0.1);
    both.Update(x);
    up.Update(x);
  }
  std::optional<int> both_delay, up_delay;
  for (int i = 0; i < 5000; ++i) {
    const double x = stream.Normal(0.5, 0.1);
    if (both.Update(x) && !both_delay) both_delay = i;
    if (up.Update(x) && !up_delay) up_delay = i;
  }
  ASSERT_TRUE(both_delay.has_value());
  EXPECT_LE(*both_delay, 60);
  EXPECT_EQ(up_delay, std::nullopt);
}

TEST(PageHinkleyTest, DetectionRestartsTheTest) {
  PageHinkley ph = *PageHinkley::Create({.min_instances = 1, .threshold = 1});
  EXPECT_FALSE(ph.Update(0));
  EXPECT_TRUE(ph.Update(10));
  EXPECT_EQ(ph.detections(), 1);
  EXPECT_EQ(ph.count(), 2);  // state kept until the next update
  EXPECT_FALSE(ph.Update(10));
  EXPECT_EQ(ph.count(), 1);
  EXPECT_EQ(ph.mean(), 10);
}

TEST(DdmTest, InvalidOptionsAreRejected) {
  EXPECT_TRUE(Ddm::Create().ok());
  EXPECT_FALSE(Ddm::Create({.warm_start = -1}).ok());
  EXPECT_FALSE(Ddm::Create({.warning_threshold = 0}).ok());
  EXPECT_FALSE(Ddm::Create({.warning_threshold = 4, .drift_threshold = 3}).ok());
  EXPECT_FALSE(Ddm::Create({.drift_threshold = INFINITY}).ok());
}

TEST(DdmTest, ErrorRateJumpWarnsThenDetects) {
  // Error rate 0.1 -> 0.3 after 5,000 predictions.
  Ddm ddm = *Ddm::Create();
  Stream stream(8);
  ASSERT_EQ(FirstDetection(ddm, 5000, [&] { return stream.Bernoulli(0.1); }), std::nullopt);
  std::optional<int> warning, drift;
  for (int i = 0; i < 5000 && !drift; ++i) {
    if (ddm.Update(stream.Bernoulli(0.3))) drift = i;
    if (ddm.warning() && !warning) warning = i;
  }
  ASSERT_TRUE(warning.has_value());
  ASSERT_TRUE(drift.has_value());
  EXPECT_LT(*warning, *drift);
  EXPECT_LE(*drift, 2000);
  EXPECT_EQ(ddm.detections(), 1);
}

TEST(DdmTest, FalseAlarmRateOnStationaryErrorStreamsStaysAsMeasured) {
  // DDM does raise false alarms on long stationary streams (see the header): about one per
  // 100,000 predictions at error rate 0.1, measured over 200 seeds. This pins that rate over 20
  // seeds so a change that makes the detector noisier fails.
  int64_t detections = 0;
  for (uint64_t seed = 100; seed < 120; ++seed) {
    Ddm ddm = *Ddm::Create();
    Stream stream(seed);
    FirstDetection(ddm, kStationaryLength, [&] { return stream.Bernoulli(0.1); });
    detections += ddm.detections();
  }
  EXPECT_LE(detections, 30);
}

TEST(DdmTest, FirstErrorAfterCleanWarmUpIsNotADrift) {
  Ddm ddm = *Ddm::Create();
  for (int i = 0; i < 100; ++i) ASSERT_FALSE(ddm.Update(false));
  EXPECT_FALSE(ddm.Update(true));
  EXPECT_EQ(ddm.min_error_rate(), 1.0 / 101);
  EXPECT_FALSE(ddm.warning());
}

TEST(DdmTest, DriftRestartsTheCount) {
  Ddm ddm = *Ddm::Create({.warm_start = 5});
  for (int i = 0; i < 50; ++i) ddm.Update(i % 10 == 0);
  int updates = 0;
  while (!ddm.Update(true)) ASSERT_LT(++updates, 1000);
  EXPECT_EQ(ddm.detections(), 1);
  EXPECT_FALSE(ddm.warning());
  ddm.Update(false);
  EXPECT_EQ(ddm.count(), 1);
  EXPECT_EQ(ddm.error_rate(), 0);
}

}  // namespace
}  // namespace modelwatch::core
