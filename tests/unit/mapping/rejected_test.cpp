// Out-of-range scores the decoder dropped reach the run summary as diagnostics, and
// the model rows keep no value for them (issue 17, item 10).
#include "mapping/mapping.hpp"

#include <gtest/gtest.h>

namespace mdesync::mapping {
namespace {

TEST(MapRejectedScores, FindingWithADroppedCvssScoreHasNoScoreAndADiagnostic) {
  defender::VulnerabilityRow row;
  row.device_id = "d1";
  row.cve_id = "CVE-2024-0001";
  row.rejected.push_back({"cvssScore", "nan", "0..10"});
  const auto m = map_vulnerability(row);
  ASSERT_TRUE(m.row);
  EXPECT_FALSE(m.row->source.cvss_score);
  ASSERT_EQ(m.diagnostics.size(), 1U);
  EXPECT_EQ(m.diagnostics[0].kind, DiagnosticKind::unexpected_value);
  EXPECT_EQ(m.diagnostics[0].field, "cvssScore");
  EXPECT_NE(m.diagnostics[0].message.find("nan is outside 0..10"), std::string::npos)
      << m.diagnostics[0].message;
}

TEST(MapRejectedScores, DefinitionWithDroppedScoresHasADiagnosticPerValue) {
  defender::Vulnerability v;
  v.id = "CVE-2024-0002";
  v.rejected.push_back({"cvssV3", "1e+308", "0..10"});
  v.rejected.push_back({"epss", "2", "0..1"});
  const auto m = map_vulnerability_definition(v, std::nullopt);
  ASSERT_TRUE(m.row);
  EXPECT_FALSE(m.row->cvss_v3_base_score);
  EXPECT_FALSE(m.row->epss);
  std::size_t reported = 0;
  for (const auto& d : m.diagnostics) {
    if (d.field == "cvssV3" || d.field == "epss") ++reported;
  }
  EXPECT_EQ(reported, 2U);
}

}  // namespace
}  // namespace mdesync::mapping
