#include "util/time.hpp"

#include <gtest/gtest.h>

namespace mdesync::util {
namespace {

using namespace std::chrono;

Timestamp utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0, int us = 0) {
  return Timestamp{sys_days{year{y} / month{mo} / day{d}}} + hours{h} + minutes{mi} + seconds{s} +
         microseconds{us};
}

TEST(ParseTimestamp, IsoWithZuluAndNoFraction) {
  EXPECT_EQ(parse_timestamp("2025-06-01T00:00:00Z").value(), utc(2025, 6, 1));
}

TEST(ParseTimestamp, IsoWithEachFractionLength) {
  EXPECT_EQ(parse_timestamp("2025-06-01T08:30:12.1Z").value(), utc(2025, 6, 1, 8, 30, 12, 100000));
  EXPECT_EQ(parse_timestamp("2025-06-01T08:30:12.12Z").value(), utc(2025, 6, 1, 8, 30, 12, 120000));
  EXPECT_EQ(parse_timestamp("2025-06-01T08:30:12.301Z").value(),
            utc(2025, 6, 1, 8, 30, 12, 301000));
  EXPECT_EQ(parse_timestamp("2025-06-01T08:30:12.123456Z").value(),
            utc(2025, 6, 1, 8, 30, 12, 123456));
  // The 7th digit (100 ns) is below the model's resolution and is truncated.
  EXPECT_EQ(parse_timestamp("2025-06-01T08:30:12.1234567Z").value(),
            utc(2025, 6, 1, 8, 30, 12, 123456));
}

TEST(ParseTimestamp, IsoWithOffsets) {
  EXPECT_EQ(parse_timestamp("2026-10-13T00:00:00+00:00").value(), utc(2026, 10, 13));
  EXPECT_EQ(parse_timestamp("2026-10-13T02:00:00+02:00").value(), utc(2026, 10, 13));
  EXPECT_EQ(parse_timestamp("2026-10-12T19:00:00-0500").value(), utc(2026, 10, 13));
  EXPECT_EQ(parse_timestamp("2026-10-13T05:30:00.5+05:30").value(),
            utc(2026, 10, 13, 0, 0, 0, 500000));
}

// Found by tests/fuzz/fuzz_time: an offset that carries the time past 9999-12-31 (or
// before 0001-01-01) in UTC made a timestamp whose text form did not parse again.
TEST(ParseTimestamp, OffsetThatLeavesTheYearsOneToNineThousandIsRefused) {
  EXPECT_FALSE(parse_timestamp("9999-12-31T23:59:59.9999-12:02"));
  EXPECT_FALSE(parse_timestamp("0001-01-01T00:00:00+01:00"));
  EXPECT_TRUE(parse_timestamp("9999-12-31T23:59:59+01:00"));
}

TEST(ParseTimestamp, ExportRowFormatWithAndWithoutFraction) {
  EXPECT_EQ(parse_timestamp("2025-06-01 08:30:12").value(), utc(2025, 6, 1, 8, 30, 12));
  EXPECT_EQ(parse_timestamp("2025-06-01 08:30:12.271").value(), utc(2025, 6, 1, 8, 30, 12, 271000));
  EXPECT_EQ(parse_timestamp("2025-06-01 06:00:00.0000000").value(), utc(2025, 6, 1, 6));
}

TEST(ParseTimestamp, DateOnlyIsMidnightUtc) {
  EXPECT_EQ(parse_timestamp("2021-05-19").value(), utc(2021, 5, 19));
}

TEST(ParseTimestamp, LeapDayAcceptedOnlyInLeapYears) {
  EXPECT_TRUE(parse_timestamp("2024-02-29T00:00:00Z").has_value());
  EXPECT_FALSE(parse_timestamp("2025-02-29T00:00:00Z").has_value());
}

class MalformedTimestamp : public testing::TestWithParam<const char*> {};

TEST_P(MalformedTimestamp, IsAParseErrorQuotingTheInput) {
  const auto result = parse_timestamp(GetParam());
  ASSERT_FALSE(result.has_value()) << GetParam();
  EXPECT_EQ(result.error().code, ErrorCode::parse);
  EXPECT_NE(result.error().message.find(std::string("'") + GetParam() + "'"), std::string::npos)
      << result.error().message;
}

INSTANTIATE_TEST_SUITE_P(Cases, MalformedTimestamp,
                         testing::Values("", "2025", "2025-6-01", "2025-13-01", "2025-00-10",
                                         "2025-04-31", "2025-06-01T", "2025-06-01T24:00:00Z",
                                         "2025-06-01T08:60:00Z", "2025-06-01T08:30:61Z",
                                         "2025-06-01T08:30Z", "2025-06-01T08:30:12.Z",
                                         "2025-06-01T08:30:12.12345678Z", "2025-06-01T08:30:12ZZ",
                                         "2025-06-01T08:30:12+1", "2025-06-01T08:30:12+15:00",
                                         "2025-06-01x08:30:12", "2025-06-01T08:30:12 ",
                                         " 2025-06-01", "2025/06/01", "yesterday",
                                         "2025-06-01T08:30:12.12a"));

TEST(FormatTimestamp, WritesZuluAndMicrosecondsOnlyWhenPresent) {
  EXPECT_EQ(format_timestamp(utc(2025, 6, 1, 8, 30, 12)), "2025-06-01T08:30:12Z");
  EXPECT_EQ(format_timestamp(utc(2025, 6, 1, 8, 30, 12, 1200)), "2025-06-01T08:30:12.001200Z");
  EXPECT_EQ(format_timestamp_seconds(utc(2025, 6, 1, 8, 30, 12, 1200)), "2025-06-01T08:30:12Z");
}

TEST(FormatTimestamp, RoundTripsThroughParse) {
  const auto t = utc(1999, 12, 31, 23, 59, 59, 999999);
  EXPECT_EQ(parse_timestamp(format_timestamp(t)).value(), t);
}

}  // namespace
}  // namespace mdesync::util
