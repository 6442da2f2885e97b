#include "mapping/filters.hpp"

#include <gtest/gtest.h>

namespace mdesync::mapping {
namespace {

TEST(Filters, ValidationNamesTheKey) {
  EXPECT_TRUE(
      validate_filters({{"machine", {{"healthStatus", {"Active"}}, {"rbacGroupId", {"17"}}}},
                        {"vulnerability_definition", {{"cvssV3", {"7.5"}}}}}));
  auto unknown = validate_filters({{"machine", {{"healthstatus", {"Active"}}}}});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, util::ErrorCode::config);
  EXPECT_NE(unknown.error().message.find("healthstatus"), std::string::npos);
  auto typed = validate_filters({{"vulnerability_definition", {{"cvssV3", {"high"}}}}});
  ASSERT_FALSE(typed);
  EXPECT_NE(typed.error().message.find("filters.vulnerability_definition.cvssV3"),
            std::string::npos);
  EXPECT_FALSE(validate_filters({{"machine", {{"rbacGroupId", {"seventeen"}}}}}));
  EXPECT_FALSE(validate_filters({{"machine", {{"lastSeen", {"yesterday"}}}}}));
  EXPECT_FALSE(validate_filters({{"vulnerability", {{"severity", {"critical"}}}}}));  // case
  EXPECT_FALSE(validate_filters({{"vulnerability", {{"status", {}}}}}));
  EXPECT_FALSE(validate_filters({{"machines", {}}}));
}

TEST(Filters, LocalMatching) {
  model::Vulnerability v;
  v.severity = model::Severity::critical;
  v.status = model::VulnerabilityStatus::reopened;
  v.source.rbac_group_id = "17";
  EXPECT_TRUE(matches(v, {}));
  EXPECT_TRUE(matches(v, {{"severity", {"High", "Critical"}}, {"rbacGroupId", {"17"}}}));
  EXPECT_FALSE(matches(v, {{"severity", {"Critical"}}, {"status", {"Active"}}}));
  model::InstalledPackage ip;
  ip.type = "mozilla-_-firefox";
  ip.name = "firefox";
  EXPECT_TRUE(matches(ip, {{"vendor", {"mozilla"}}, {"id", {"mozilla-_-firefox"}}}));
  EXPECT_FALSE(matches(ip, {{"name", {"chrome"}}}));
  model::Package p;
  p.uid = "google-_-chrome";
  p.source.vendor = "google";
  EXPECT_TRUE(matches(p, {{"vendor", {"google"}}}));
  EXPECT_FALSE(matches(p, {{"name", {"chrome"}}}));  // name unknown: no match
}

TEST(Filters, ODataExpressions) {
  EXPECT_EQ(machine_odata_filter({}), "");
  EXPECT_EQ(machine_odata_filter({{"healthStatus", {"Active", "Inactive"}},
                                  {"machineTags", {"o'brien"}},
                                  {"rbacGroupId", {"17"}},
                                  {"lastSeen", {"2025-06-01"}}}),
            "(healthStatus eq 'Active' or healthStatus eq 'Inactive') and lastSeen ge "
            "2025-06-01T00:00:00Z and machineTags/any(tag: tag eq 'o''brien') and rbacGroupId eq "
            "17");
  EXPECT_EQ(software_odata_filter({{"vendor", {"microsoft"}}}), "vendor eq 'microsoft'");
  EXPECT_EQ(vulnerability_definition_odata_filter(
                {{"cvssV3", {"7.5"}}, {"severity", {"Critical"}}, {"updatedOn", {"2025-05-01"}}}),
            "cvssV3 ge 7.5 and severity eq 'Critical' and updatedOn ge 2025-05-01T00:00:00Z");
}

}  // namespace
}  // namespace mdesync::mapping
