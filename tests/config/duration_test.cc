#include "config/duration.h"

#include "gtest/gtest.h"

namespace modelwatch::config {
namespace {

TEST(DurationTest, ParsesEveryUnit) {
  EXPECT_EQ(ParseDuration("250ms"), absl::Milliseconds(250));
  EXPECT_EQ(ParseDuration("90s"), absl::Seconds(90));
  EXPECT_EQ(ParseDuration("5m"), absl::Minutes(5));
  EXPECT_EQ(ParseDuration("24h"), absl::Hours(24));
  EXPECT_EQ(ParseDuration("7d"), absl::Hours(7 * 24));
  EXPECT_EQ(ParseDuration("0s"), absl::ZeroDuration());
}

TEST(DurationTest, DecimalsAreExact) {
  EXPECT_EQ(ParseDuration("1.5h"), absl::Minutes(90));
  EXPECT_EQ(ParseDuration("0.1s"), absl::Milliseconds(100));
  EXPECT_EQ(ParseDuration("2.25m"), absl::Seconds(135));
  EXPECT_EQ(ParseDuration("0.000000001s"), absl::Nanoseconds(1));
}

TEST(DurationTest, RejectsMalformedText) {
  for (const char* text : {"", "5", "m", "5x", "5 m", " 5m", "5m ", "-5m", "+5m", "5M", "1e3s",
                           ".5h", "5.h", "1.2.3s", "5mm", "0.0000000001s", "1h30m", "0x10s"}) {
    EXPECT_EQ(ParseDuration(text), std::nullopt) << text;
  }
}

TEST(DurationTest, RejectsOverflow) {
  EXPECT_EQ(ParseDuration("999999999999999999d"), std::nullopt);
  EXPECT_EQ(ParseDuration("9999999999999999999s"), std::nullopt);
}

}  // namespace
}  // namespace modelwatch::config
