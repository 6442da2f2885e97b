#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cvss/cvss.hpp"

namespace mdesync::cvss {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

std::string error_of(std::string_view text, ParseOptions options = {}) {
  auto parsed = parse(text, options);
  EXPECT_FALSE(parsed.has_value()) << text;
  if (parsed) return {};
  EXPECT_EQ(parsed.error().code, util::ErrorCode::parse);
  return parsed.error().message;
}

TEST(CvssParse, V31KeepsMetricsAsWrittenAndCanonicalInSpecOrder) {
  auto v = parse("CVSS:3.1/S:U/AV:N/AC:L/PR:N/UI:N/C:H/I:H/A:H/E:X");
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->version, Version::v3_1);
  EXPECT_EQ(v->metrics.front(), (std::pair<std::string, std::string>{"S", "U"}));
  EXPECT_EQ(v->metrics.size(), 9u);
  EXPECT_EQ(v->canonical, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:X");
  EXPECT_EQ(v->value("E"), "X");
  EXPECT_FALSE(v->value("RL").has_value());
  EXPECT_TRUE(v->corrections.empty());
}

TEST(CvssParse, VersionsFromPrefix) {
  EXPECT_EQ(parse("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")->version, Version::v3_0);
  EXPECT_EQ(parse("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N")->version,
            Version::v4_0);
  EXPECT_EQ(parse("AV:N/AC:L/Au:N/C:P/I:P/A:P")->version, Version::v2_0);
  EXPECT_EQ(to_string(Version::v2_0), "2.0");
  EXPECT_EQ(to_string(Version::v4_0), "4.0");
}

TEST(CvssParse, V2InParenthesesAsNvdWritesIt) {
  auto v = parse("(AV:N/AC:L/Au:N/C:P/I:P/A:P)");
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->canonical, "AV:N/AC:L/Au:N/C:P/I:P/A:P");
  EXPECT_THAT(error_of("(AV:N/AC:L/Au:N/C:P/I:P/A:P"), HasSubstr("parenthes"));
  EXPECT_THAT(error_of("AV:N/AC:L/Au:N/C:P/I:P/A:P)"), HasSubstr("parenthes"));
  EXPECT_THAT(error_of("(AV:N/AC:L/Au:N()/C:P/I:P/A:P)"), HasSubstr("'('"));
}

TEST(CvssParse, ErrorsNameTheMetric) {
  EXPECT_THAT(error_of("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/AV:N"),
              HasSubstr("duplicate metric AV"));
  EXPECT_THAT(error_of("CVSS:3.1/AX:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"), HasSubstr("'AX'"));
  EXPECT_THAT(error_of("CVSS:3.1/AV:W/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
              HasSubstr("invalid value 'W' for metric AV"));
  EXPECT_THAT(error_of("CVSS:3.1/AV:N/AC:L/UI:N/S:U/C:H/I:H/A:H"),
              HasSubstr("missing mandatory base metric PR"));
  EXPECT_THAT(error_of("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:X/C:H/I:H/A:H"), HasSubstr("for metric S"));
  EXPECT_THAT(error_of("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/ui:N/VC:N/VI:L/VA:N/SC:N/SI:N/SA:N"),
              HasSubstr("'ui'"));
  EXPECT_THAT(error_of("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/MCL"), HasSubstr("'MCL'"));
  EXPECT_THAT(error_of("AV:N/AC:L/Au:N/C:P/I:P/A:P/E:X"), HasSubstr("for metric E"));
  EXPECT_THAT(error_of("AV:N/AC:L/Au:N/C:H/I:P/A:P"), HasSubstr("for metric C"));
  EXPECT_THAT(error_of("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:S/SA:H"),
              HasSubstr("for metric SI"));
}

TEST(CvssParse, ErrorsNameTheCharacterOrPosition) {
  EXPECT_THAT(error_of(" CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
              HasSubstr("' ' at position 1"));
  EXPECT_THAT(error_of("asdfasdf-\xcf\x80"), HasSubstr("'-'"));
  EXPECT_THAT(error_of("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\x01"), HasSubstr("0x01"));
  EXPECT_THAT(error_of("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/"), HasSubstr("trailing '/'"));
  EXPECT_THAT(error_of("CVSS:3.0//AC:H/PR:H/UI:R/S:U/C:L/I:N/A:L"), HasSubstr("'//'"));
  EXPECT_THAT(error_of(""), HasSubstr("empty"));
}

TEST(CvssParse, PrefixErrors) {
  EXPECT_THAT(error_of("CVSS:3.2/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"), HasSubstr("'3.2'"));
  EXPECT_THAT(error_of("CVSS:3.1"), HasSubstr("no metrics"));
  EXPECT_THAT(error_of("CVSS:3.1/"), HasSubstr("no metrics"));
  EXPECT_THAT(error_of("AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"), HasSubstr("'PR'"));
  EXPECT_THAT(error_of("CVSS:2.0/AV:N/AC:L/Au:N/C:P/I:P/A:P"), HasSubstr("CVSS:2.0/"));
}

TEST(CvssParse, OrderRulesPerVersion) {
  // v3.x: any order. v2 and v4.0: the specification's order only.
  EXPECT_TRUE(parse("CVSS:3.0/A:H/AC:L/AV:N/C:H/I:H/PR:N/S:U/UI:N"));
  EXPECT_THAT(error_of("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/CR:H/E:A"),
              HasSubstr("metric E is out of order"));
  EXPECT_THAT(error_of("AC:L/AV:N/Au:N/C:P/I:P/A:P"), HasSubstr("metric AV is out of order"));
}

TEST(CvssParse, NotDefinedValues) {
  EXPECT_TRUE(parse("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:X/RL:X/RC:X/MS:X"));
  EXPECT_TRUE(parse("AV:N/AC:L/Au:N/C:P/I:P/A:P/E:ND/RL:ND/RC:ND/CDP:ND/TD:ND"));
  EXPECT_TRUE(parse("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/E:X/U:X"));
}

TEST(CvssParse, LenientRecordsEachCorrection) {
  const ParseOptions lenient{true};
  auto blanks = parse("  CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\t", lenient);
  ASSERT_TRUE(blanks) << blanks.error().message;
  EXPECT_THAT(blanks->corrections, ElementsAre("removed surrounding blanks"));

  auto v2 = parse("CVSS:2.0/AV:N/AC:L/Au:N/C:P/I:P/A:P", lenient);
  ASSERT_TRUE(v2) << v2.error().message;
  EXPECT_EQ(v2->version, Version::v2_0);
  EXPECT_EQ(v2->canonical, "AV:N/AC:L/Au:N/C:P/I:P/A:P");
  EXPECT_EQ(v2->corrections.size(), 1u);

  auto v4 = parse("CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:N/VC:H/SC:N/VI:H/SI:N/VA:H/SA:N", lenient);
  ASSERT_TRUE(v4) << v4.error().message;
  EXPECT_THAT(v4->corrections, ElementsAre("reordered metrics to the specification order"));
  EXPECT_EQ(v4->canonical, "CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N");
  // Metrics stay as written.
  EXPECT_THAT(v4->metrics[6], Pair("SC", "N"));

  // Lenient still rejects what is not a common deviation.
  EXPECT_FALSE(parse("CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", lenient));
  EXPECT_FALSE(parse("cvss:3.1/av:n/ac:l/pr:n/ui:n/s:u/c:h/i:h/a:h", lenient));
  EXPECT_FALSE(parse("   ", lenient));
}

TEST(CvssValueName, FullNamesPerVersion) {
  EXPECT_EQ(value_name(Version::v3_1, "AV", "N"), "Network");
  EXPECT_EQ(value_name(Version::v3_1, "AV", "A"), "Adjacent");
  EXPECT_EQ(value_name(Version::v3_0, "AV", "A"), "Adjacent Network");
  EXPECT_EQ(value_name(Version::v2_0, "Au", "M"), "Multiple");
  EXPECT_EQ(value_name(Version::v2_0, "E", "POC"), "Proof-of-Concept");
  EXPECT_EQ(value_name(Version::v3_1, "RL", "O"), "Official Fix");
  EXPECT_EQ(value_name(Version::v3_1, "E", "X"), "Not Defined");
  EXPECT_EQ(value_name(Version::v4_0, "MSI", "S"), "Safety");
  EXPECT_EQ(value_name(Version::v4_0, "U", "Amber"), "Amber");
  EXPECT_EQ(value_name(Version::v3_1, "AV", "Z"), "");
  EXPECT_EQ(value_name(Version::v3_1, "ZZ", "N"), "");
}

}  // namespace
}  // namespace mdesync::cvss
