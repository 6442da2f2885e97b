#include <string>

#include <gtest/gtest.h>

#include "cvss/cvss.hpp"

namespace mdesync::cvss {
namespace {

Scores score_of(std::string_view text) {
  auto parsed = parse(text);
  EXPECT_TRUE(parsed.has_value()) << text << ": " << (parsed ? "" : parsed.error().message);
  if (!parsed) return {};
  return score(*parsed);
}

// CVSS v3.1 specification examples document (base scores).
TEST(CvssScoreV31, SpecificationExamples) {
  EXPECT_DOUBLE_EQ(score_of("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N").base, 6.1);
  EXPECT_DOUBLE_EQ(score_of("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N").base, 7.5);
  EXPECT_DOUBLE_EQ(score_of("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H").base, 9.8);
  EXPECT_DOUBLE_EQ(score_of("CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H").base, 7.8);
  EXPECT_DOUBLE_EQ(score_of("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H").base, 9.9);
  const Scores s = score_of("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H");
  EXPECT_EQ(s.severity, "Critical");
  EXPECT_FALSE(s.temporal.has_value());
  EXPECT_FALSE(s.environmental.has_value());
  EXPECT_DOUBLE_EQ(s.score, 9.8);
}

TEST(CvssScoreV3, TemporalAndEnvironmentalOnlyWhenSet) {
  const Scores x = score_of("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:X/RL:X/CR:X/MAV:X");
  EXPECT_FALSE(x.temporal.has_value());
  EXPECT_FALSE(x.environmental.has_value());

  const Scores t = score_of("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P/RL:O/RC:C");
  ASSERT_TRUE(t.temporal.has_value());
  EXPECT_DOUBLE_EQ(*t.temporal, 8.8);
  EXPECT_FALSE(t.environmental.has_value());
  EXPECT_DOUBLE_EQ(t.score, 8.8);
  EXPECT_EQ(t.severity, "Critical");  // of the base score

  const Scores e = score_of("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/MAV:L");
  EXPECT_FALSE(e.temporal.has_value());
  ASSERT_TRUE(e.environmental.has_value());
  EXPECT_DOUBLE_EQ(*e.environmental, 8.4);
  EXPECT_DOUBLE_EQ(e.score, 8.4);
}

// Modified Scope Changed: v3.1 changed the ModifiedImpact formula (x 0.9731, power 13),
// v3.0 keeps the base formula; both use MS to pick the MPR weights and the 1.08 factor.
TEST(CvssScoreV3, V30AndV31EnvironmentalDiffer) {
  const std::string body = "AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:L/A:L/MS:C/MC:H/MI:H/MA:H";
  const Scores v30 = score_of("CVSS:3.0/" + body);
  const Scores v31 = score_of("CVSS:3.1/" + body);
  ASSERT_TRUE(v30.environmental && v31.environmental);
  EXPECT_DOUBLE_EQ(*v30.environmental, 6.8);
  EXPECT_DOUBLE_EQ(*v31.environmental, 6.9);
  EXPECT_DOUBLE_EQ(v30.base, v31.base);
}

// v3.1's Roundup works on integers; 3.0's ceil(x * 10) turns the float artefact of
// 10.0 x 0.92 = 9.200000000000001 into 9.3, as FIRST's 3.0 calculator does.
TEST(CvssScoreV3, RoundupDiffersOnFloatArtefacts) {
  const std::string body = "AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H/E:H/RL:U/RC:U";
  const Scores v30 = score_of("CVSS:3.0/" + body);
  const Scores v31 = score_of("CVSS:3.1/" + body);
  EXPECT_DOUBLE_EQ(v30.base, 10.0);
  EXPECT_DOUBLE_EQ(v31.base, 10.0);
  EXPECT_DOUBLE_EQ(*v30.temporal, 9.3);
  EXPECT_DOUBLE_EQ(*v31.temporal, 9.2);
}

// CVSS v2 guide section 3.3 examples, with the guide's rounding of AdjustedTemporal.
TEST(CvssScoreV2, GuideExamples) {
  const Scores a = score_of("AV:N/AC:L/Au:N/C:N/I:N/A:C/E:F/RL:OF/RC:C/CDP:H/TD:H/CR:M/IR:M/AR:H");
  EXPECT_DOUBLE_EQ(a.base, 7.8);
  EXPECT_DOUBLE_EQ(*a.temporal, 6.4);
  EXPECT_DOUBLE_EQ(*a.environmental, 9.2);
  EXPECT_EQ(a.severity, "High");
  const Scores b = score_of("AV:N/AC:L/Au:N/C:C/I:C/A:C/E:F/RL:OF/RC:C");
  EXPECT_DOUBLE_EQ(b.base, 10.0);
  EXPECT_DOUBLE_EQ(*b.temporal, 8.3);
  EXPECT_FALSE(b.environmental.has_value());
  const Scores c =
      score_of("AV:L/AC:H/Au:N/C:C/I:C/A:C/E:POC/RL:OF/RC:C/CDP:H/TD:H/CR:M/IR:M/AR:M");
  EXPECT_DOUBLE_EQ(c.base, 6.2);
  EXPECT_DOUBLE_EQ(*c.temporal, 4.9);
  EXPECT_DOUBLE_EQ(*c.environmental, 7.5);
  EXPECT_EQ(c.severity, "Medium");
}

TEST(CvssScoreV2, ExactDecimalHalfUp) {
  // 9.0 x 0.95 = 8.55 exactly; doubles give 8.549999..., the equations say 8.6.
  const Scores s = score_of("AV:N/AC:L/Au:S/C:C/I:C/A:C/E:F/RL:U/RC:C");
  EXPECT_DOUBLE_EQ(s.base, 9.0);
  EXPECT_DOUBLE_EQ(*s.temporal, 8.6);
  EXPECT_EQ(score_of("AV:N/AC:L/Au:N/C:N/I:N/A:N").severity, "Low");
}

// A low-impact vector with a low requirement: AdjustedImpact = 10.41 x 0.275 x 0.5 =
// 1.431375, so AdjustedBase = round((0.6 x 1.431375 + 0.4 x 1.24425 - 1.5) x 1.176) =
// -0.2. The guide clamps none of it: Environmental = round((-0.2 + 10.2 x CDP) x TD),
// 4.9 with CDP:H and -0.2 with CDP:N (a clamped AdjustedBase gave 5.0 and 0.0).
TEST(CvssScoreV2, NegativeAdjustedBaseIsNotClamped) {
  const Scores h =
      score_of("AV:L/AC:H/Au:M/C:P/I:N/A:N/E:ND/RL:ND/RC:ND/CDP:H/TD:H/CR:L/IR:ND/AR:ND");
  EXPECT_DOUBLE_EQ(h.base, 0.8);
  ASSERT_TRUE(h.environmental.has_value());
  EXPECT_DOUBLE_EQ(*h.environmental, 4.9);
  const Scores n =
      score_of("AV:L/AC:H/Au:M/C:P/I:N/A:N/E:ND/RL:ND/RC:ND/CDP:N/TD:H/CR:L/IR:ND/AR:ND");
  ASSERT_TRUE(n.environmental.has_value());
  EXPECT_DOUBLE_EQ(*n.environmental, -0.2);
  // With a temporal factor the negative AdjustedBase carries through AdjustedTemporal:
  // round(-0.2 x 0.85) = -0.2, then round((-0.2 + 10.2 x 0.4) x 1) = 3.9.
  const Scores t =
      score_of("AV:L/AC:H/Au:M/C:P/I:N/A:N/E:U/RL:ND/RC:ND/CDP:MH/TD:H/CR:L/IR:ND/AR:ND");
  ASSERT_TRUE(t.environmental.has_value());
  EXPECT_DOUBLE_EQ(*t.environmental, 3.9);
}

// CVSS v4.0 specification section 7 examples, scored with the official calculator.
TEST(CvssScoreV40, SpecificationExamples) {
  EXPECT_DOUBLE_EQ(
      score_of("CVSS:4.0/AV:N/AC:L/AT:N/PR:H/UI:N/VC:L/VI:L/VA:N/SC:N/SI:N/SA:N").score, 5.1);
  EXPECT_DOUBLE_EQ(
      score_of("CVSS:4.0/AV:A/AC:H/AT:P/PR:L/UI:P/VC:H/VI:H/VA:H/SC:L/SI:L/SA:L/E:P").score, 4.5);
  EXPECT_DOUBLE_EQ(score_of("CVSS:4.0/AV:L/AC:H/AT:N/PR:N/UI:A/VC:N/VI:N/VA:L/SC:H/SI:H/SA:H/CR:H/"
                            "IR:H/AR:M/MAV:N/MAC:L/MAT:P/MPR:L/MUI:A/MVC:N/MVI:H/MVA:L/MSC:L/"
                            "MSI:S/MSA:H")
                       .score,
                   8.5);
  EXPECT_DOUBLE_EQ(score_of("CVSS:4.0/AV:P/AC:H/AT:P/PR:L/UI:P/VC:H/VI:H/VA:H/SC:L/SI:L/SA:L/E:A/"
                            "S:P/AU:Y/R:A/V:D/RE:L/U:Red")
                       .score,
                   5.4);
  const Scores top = score_of("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H");
  EXPECT_DOUBLE_EQ(top.score, 10.0);
  EXPECT_DOUBLE_EQ(top.base, 10.0);
  EXPECT_EQ(top.severity, "Critical");
  EXPECT_FALSE(top.temporal.has_value());
  EXPECT_FALSE(top.environmental.has_value());
}

TEST(CvssScoreV40, NoImpactIsZero) {
  const Scores s = score_of("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N");
  EXPECT_DOUBLE_EQ(s.score, 0.0);
  EXPECT_EQ(s.severity, "None");
  // Modified metrics can remove the impact too.
  EXPECT_DOUBLE_EQ(score_of("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:N/VA:N/SC:N/SI:N/SA:N/"
                            "MVC:N")
                       .score,
                   0.0);
}

// The official calculator's 2024-11 rounding fix: e.g. 0.6499999... (1.4 - 0.75 in
// doubles) rounds to 0.7. These rows were published with the pre-fix value.
TEST(CvssScoreV40, RoundingFollowsTheFixedCalculator) {
  EXPECT_DOUBLE_EQ(score_of("CVSS:4.0/AV:A/AC:H/AT:N/PR:L/UI:P/VC:L/VI:L/VA:L/SC:N/SI:L/SA:N/E:A/"
                            "CR:M/IR:H/AR:L/MAV:X/MAC:L/MAT:P/MPR:N/MUI:N/MVC:X/MVI:H/MVA:X/MSC:L/"
                            "MSI:X/MSA:X")
                       .score,
                   6.0);
  EXPECT_DOUBLE_EQ(score_of("CVSS:4.0/AV:A/AC:H/AT:P/PR:L/UI:P/VC:N/VI:H/VA:N/SC:N/SI:N/SA:L/E:P/"
                            "CR:X/IR:L/AR:H/MAV:A/MAC:L/MAT:P/MPR:L/MUI:P/MVC:X/MVI:X/MVA:L/MSC:N/"
                            "MSI:N/MSA:X")
                       .score,
                   0.7);
  EXPECT_DOUBLE_EQ(score_of("CVSS:4.0/AV:P/AC:L/AT:P/PR:H/UI:N/VC:H/VI:H/VA:H/SC:L/SI:N/SA:N/E:A/"
                            "CR:M/IR:M/AR:X/MAV:L/MAC:L/MAT:P/MPR:X/MUI:X/MVC:L/MVI:H/MVA:H/MSC:X/"
                            "MSI:L/MSA:N")
                       .score,
                   5.7);
}

}  // namespace
}  // namespace mdesync::cvss
