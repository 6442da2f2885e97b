#include "mapping/text.hpp"

#include <gtest/gtest.h>

#include "mapping/mapping.hpp"

namespace mdesync::mapping {
namespace {

TEST(Text, ClassifiesAddresses) {
  EXPECT_EQ(classify_ip("10.0.0.1"), IpKind::private_range);
  EXPECT_EQ(classify_ip("172.15.0.1"), IpKind::public_);
  EXPECT_EQ(classify_ip("100.127.255.255"), IpKind::private_range);
  EXPECT_EQ(classify_ip("100.128.0.1"), IpKind::public_);
  EXPECT_EQ(classify_ip("fc00::1"), IpKind::private_range);
  EXPECT_EQ(classify_ip("febf::1"), IpKind::private_range);
  EXPECT_EQ(classify_ip("fec0::1"), IpKind::public_);
  EXPECT_EQ(classify_ip("::ffff:192.168.0.1"), IpKind::private_range);
  EXPECT_EQ(classify_ip("127.1.2.3"), IpKind::loopback);
  EXPECT_EQ(classify_ip("not an ip"), IpKind::invalid);
}

TEST(Text, HostNames) {
  EXPECT_EQ(host_names("Web-01."), (std::vector<std::string>{"web-01"}));
  EXPECT_EQ(host_names("10.1.2.3"), (std::vector<std::string>{"10.1.2.3"}));
  EXPECT_TRUE(host_names("  ").empty());
}

TEST(InstalledPackage, MergeCombinesVersions) {
  defender::InventoryRow r;
  r.device_id = "d";
  r.software_vendor = "mozilla";
  r.software_name = "firefox";
  r.software_version = "1";
  r.software_first_seen_timestamp = util::parse_timestamp("2025-02-01").value();
  auto a = map_installed_package(r).row.value();
  r.software_version = "2";
  r.software_first_seen_timestamp = util::parse_timestamp("2025-01-01").value();
  r.disk_paths = {"/opt/ff"};
  auto b = map_installed_package(r).row.value();
  merge_into(a, b);
  EXPECT_EQ(a.version, (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(a.first_seen, util::parse_timestamp("2025-01-01").value());
  EXPECT_EQ(a.source.disk_paths, (std::vector<std::string>{"/opt/ff"}));
}

}  // namespace
}  // namespace mdesync::mapping
