// The declaration of each object's attributes (model/attributes.hpp) against values
// written here: every attribute set to a distinct value, the content hash and the JSON
// export of the rows pinned as constants taken from the hand-written code the
// declaration replaced, so that a declaration in another order, or one that forgets or
// adds an attribute, fails.

#include <cstdint>
#include <string>
#include <type_traits>

#include <gtest/gtest.h>

#include "model/json.hpp"
#include "model/model.hpp"
#include "util/time.hpp"

namespace mdesync::model {
namespace {

Timestamp at(const char* text) {
  return util::parse_timestamp(text).value();
}

Host full_host() {
  Host h;
  h.uid = "h1";
  h.name = "web-01";
  h.aad_device_id = "aad-1";
  h.hostnames = {"web-01", "web-01.contoso.com"};
  h.private_dns_names = {"web-01.corp"};
  h.public_dns_names = {"web-01.example"};
  h.ip_addresses = {"10.0.0.1", "20.1.1.1"};
  h.private_ip_addresses = {"10.0.0.1"};
  h.public_ip_address = "20.1.1.1";
  h.mac_addresses = {"00-11-22-33-44-55"};
  h.os = "Windows11 23H2";
  h.description = "front end";
  h.status = HostStatus::inactive;
  h.source_status = "Inactive";
  h.last_seen = at("2025-01-02T03:04:05Z");
  h.first_seen = at("2024-01-02T03:04:05.5Z");
  h.tags = {"prod", "web"};
  h.instance_id = "i-1";
  h.cloud_provider = "Azure";
  h.categories = {"Endpoint"};
  h.merged_into_machine_id = "h0";
  h.potential_duplication = false;
  h.source_risk_rating = "High";
  auto& s = h.source;
  s.agent_version = "10.8";
  s.defender_av_status = "Updated";
  s.device_value = "High";
  s.exclusion_reason = "none";
  s.exposure_level = "Medium";
  s.is_aad_joined = true;
  s.is_excluded = false;
  s.managed_by = "Intune";
  s.managed_by_status = "Success";
  s.onboarding_status = "Onboarded";
  s.os_processor = "x64";
  s.rbac_group_id = "7";
  s.rbac_group_name = "Servers";
  s.resource_id = "/subscriptions/s/rg/vm";
  s.subscription_id = "sub-1";
  s.team_id = "t1";
  s.team_name = "Web";
  s.uptime = "5 days";
  h.meta.last_run_id = 3;
  return h;
}

InstalledPackage full_installed_package() {
  InstalledPackage r;
  r.uid = "h1_google-_-chrome";
  r.name = "chrome";
  r.type = "google-_-chrome";
  r.targets = "h1";
  r.dns_names = {"web-01.contoso.com"};
  r.os = "Windows11";
  r.version = {"120.0", "121.0"};
  r.status = InstalledPackageStatus::removed;
  r.first_seen = at("2024-05-06T07:08:09Z");
  r.end_of_support_status = "Upcoming EOS Version";
  r.end_of_support_date = at("2026-01-01T00:00:00Z");
  r.source.rbac_group_id = "7";
  r.source.rbac_group_name = "Servers";
  r.source.disk_paths = {"C:\\Program Files\\Google\\chrome.exe"};
  r.source.registry_paths = {"HKLM\\Software\\Google"};
  r.source.number_of_weaknesses = 4;
  return r;
}

VulnerabilityDefinition full_definition() {
  VulnerabilityDefinition d;
  d.uid = "CVE-2024-0001";
  d.cve_ids = {"CVE-2024-0001"};
  d.cve_records = {"https://www.cve.org/CVERecord?id=CVE-2024-0001"};
  d.name = "CVE-2024-0001";
  d.description = "A flaw";
  d.summary = "flaw";
  d.severity = Severity::critical;
  d.source_severity = "Critical";
  d.cvss_v3_base_score = 9.8;
  d.exploits = {"https://exploit.example/1"};
  d.references = {"https://ref.example/1"};
  d.exploitability = "Exploit verified";
  d.published_date = at("2024-01-01T00:00:00Z");
  d.source_last_modified = at("2024-02-01T00:00:00Z");
  d.patch_available = true;
  d.affected = Strings{"google-_-chrome"};
  d.recommendation = Strings{};
  d.epss = 0.25;
  auto& c3 = d.cvss_v3;
  c3.vector = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H";
  c3.av = "Network";
  c3.ac = "Low";
  c3.pr = "None";
  c3.ui = "None";
  c3.s = "Unchanged";
  c3.ci = "High";
  c3.ii = "High";
  c3.ai = "High";
  c3.e = "Functional";
  c3.rl = "Official Fix";
  c3.rc = "Confirmed";
  c3.base_score = 9.8;
  c3.temporal_score = 9.1;
  auto& c2 = d.cvss_v2;
  c2.vector = "AV:N/AC:L/Au:N/C:P/I:P/A:P";
  c2.av = "Network";
  c2.ac = "Low";
  c2.au = "None";
  c2.ci = "Partial";
  c2.ii = "Partial";
  c2.ai = "Partial";
  c2.e = "High";
  c2.rl = "Workaround";
  c2.rc = "Unconfirmed";
  c2.base_score = 7.5;
  c2.temporal_score = 6.1;
  auto& s = d.source;
  s.exploit_types = {"Remote"};
  s.exposed_machines = 12;
  s.first_detected = at("2024-01-03T00:00:00Z");
  s.cve_supportability = "Supported";
  s.tags = {"zero-day"};
  s.public_exploit = true;
  s.exploit_verified = false;
  s.exploit_in_kit = true;
  return d;
}

Package full_package() {
  Package p;
  p.uid = "google-_-chrome";
  p.name = "chrome";
  p.status = PackageStatus::removed;
  p.categories = {"Software", "Vulnerable"};
  p.source.vendor = "google";
  p.source.weaknesses = 3;
  p.source.public_exploit = true;
  p.source.active_alert = false;
  p.source.exposed_machines = 120;
  p.source.impact_score = 12.5;
  p.source.versions = {{"120.0.6099.109", 80, 2}, {"121.0.6167.85", std::nullopt, 0}};
  return p;
}

Vulnerability full_vulnerability() {
  Vulnerability v;
  v.uid = "dev1_google_chrome_120.0_CVE-2024-0001";
  v.source_uid = "dev1_x";
  v.type = "CVE-2024-0001";
  v.targets = "dev1";
  v.hostnames = {"web-01", "web-01.contoso.com"};
  v.first_found = at("2025-01-01T00:00:00Z");
  v.last_found = at("2025-01-01T12:00:00.5Z");
  v.source_last_modified = at("2025-01-01T06:00:00Z");
  v.last_fixed = at("2024-12-01T00:00:00Z");
  v.status = VulnerabilityStatus::reopened;
  v.status_category = StatusCategory::open;
  v.source_status = "Active";
  v.severity = Severity::high;
  v.source_severity = "high";
  v.results = "evidence";
  v.state_time = at("2025-01-02T00:00:00Z");
  auto& s = v.source;
  s.rbac_group_id = "7";
  s.rbac_group_name = "Servers";
  s.os_platform = "Windows11";
  s.os_version = "23H2";
  s.os_architecture = "x64";
  s.cvss_score = 7.5;
  s.exploitability_level = "ExploitIsPublic";
  s.recommendation_reference = "va-_-google-_-chrome";
  s.recommended_security_update = "Update Chrome";
  s.recommended_security_update_id = "kb-1";
  s.recommended_security_update_url = "https://support.example/kb-1";
  s.security_update_available = true;
  s.is_onboarded = true;
  s.software_vendor = "google";
  s.software_name = "chrome";
  s.software_version = "120.0";
  return v;
}

template <typename Row>
std::uint64_t hash_of(const Row& r) {
  return static_cast<std::uint64_t>(content_hash(r));
}

// A new attribute declared without `.appended = true` changes every pinned value: the
// rows already stored would all hash differently and be written again.
TEST(Attributes, ContentHashOfFullRowsIsPinned) {
  EXPECT_EQ(hash_of(full_host()), 0x33e1cec33f1518a6ULL);
  EXPECT_EQ(hash_of(Host{}), 0x39ccab2ba5f95d85ULL);
  EXPECT_EQ(hash_of(full_package()), 0x1b92d3291016c93dULL);
  EXPECT_EQ(hash_of(full_installed_package()), 0x6fb3816524ed3fceULL);
  EXPECT_EQ(hash_of(InstalledPackage{}), 0x7c929f4199edfd00ULL);
  EXPECT_EQ(hash_of(full_vulnerability()), 0x953e69f77a5dba3bULL);
  EXPECT_EQ(hash_of(full_definition()), 0x476193cd86fb1bb9ULL);
  EXPECT_EQ(hash_of(VulnerabilityDefinition{}), 0x1db560de917a8e21ULL);
}

// The export of a row without the attributes declared `.appended` (added since the
// declaration replaced the hand-written code): what the pinned text was written from.
template <typename Row>
std::string json_before_appended(const Row& r) {
  auto j = to_json(r);
  for_each_attribute<Row>([&](const auto& a) {
    if (!a.info.appended) return;
    auto& where = a.info.group == AttrGroup::source ? j["source"] : j;
    where.erase(std::string(a.info.name));
  });
  return j.dump();
}

// An attribute declared `.appended` enters the hash only when it has a value: a row
// without one keeps its pinned hash (above), one with a value hashes differently.
TEST(Attributes, AppendedAttributesCountOnlyWhenSet) {
  std::size_t appended = 0;
  for_each_attribute<Host>([&](const auto& a) {
    if (!a.info.appended) return;
    ++appended;
    using T = typename std::remove_cvref_t<decltype(a)>::value_type;
    Host h = full_host();
    const auto before = hash_of(h);
    if constexpr (std::is_same_v<T, OptInt>) a.get(h) = 1;
    if constexpr (std::is_same_v<T, OptString>) a.get(h) = "x";
    if constexpr (std::is_same_v<T, OptBool>) a.get(h) = false;
    EXPECT_NE(hash_of(h), before) << a.info.name;
  });
  if (appended == 0) GTEST_SKIP() << "Host has no appended attribute yet";
}

TEST(Attributes, JsonOfFullRowsIsPinned) {
  EXPECT_EQ(
      json_before_appended(full_host()),
      "{\"aadDeviceId\":\"aad-1\",\"categories\":[\"Endpoint\"],\"cloudProvider\":\"Azure\","
      "\"description\":\"front "
      "end\",\"firstSeen\":\"2024-01-02T03:04:05.500000Z\",\"hostnames\":[\"web-01\",\"web-01."
      "contoso.com\"],\"instanceId\":\"i-1\",\"ipAddresses\":[\"10.0.0.1\",\"20.1.1.1\"],"
      "\"lastSeen\":\"2025-01-02T03:04:05Z\",\"macAddresses\":[\"00-11-22-33-44-55\"],"
      "\"mergedIntoMachineId\":\"h0\",\"name\":\"web-01\",\"os\":\"Windows11 "
      "23H2\",\"potentialDuplication\":false,\"privateDnsNames\":[\"web-01.corp\"],"
      "\"privateIpAddresses\":[\"10.0.0.1\"],\"publicDnsNames\":[\"web-01.example\"],"
      "\"publicIpAddress\":\"20.1.1.1\",\"source\":{\"agentVersion\":\"10.8\",\"defenderAvStatus\":"
      "\"Updated\",\"deviceValue\":\"High\",\"exclusionReason\":\"none\",\"exposureLevel\":"
      "\"Medium\",\"isAadJoined\":true,\"isExcluded\":false,\"managedBy\":\"Intune\","
      "\"managedByStatus\":\"Success\",\"onboardingStatus\":\"Onboarded\",\"osProcessor\":\"x64\","
      "\"rbacGroupId\":\"7\",\"rbacGroupName\":\"Servers\",\"resourceId\":\"/subscriptions/s/rg/"
      "vm\",\"subscriptionId\":\"sub-1\",\"team_id\":\"t1\",\"team_name\":\"Web\",\"uptime\":\"5 "
      "days\"},\"sourceRiskRating\":\"High\",\"sourceStatus\":\"Inactive\",\"status\":\"Inactive\","
      "\"tags\":[\"prod\",\"web\"],\"uid\":\"h1\"}");
  EXPECT_EQ(json_before_appended(full_package()),
            "{\"categories\":[\"Software\",\"Vulnerable\"],\"name\":\"chrome\",\"source\":{"
            "\"activeAlert\":false,\"exposedMachines\":120,\"impactScore\":12.5,\"publicExploit\":"
            "true,\"vendor\":\"google\",\"versions\":[{\"installations\":80,\"version\":\"120.0."
            "6099.109\",\"vulnerabilities\":2},{\"installations\":null,\"version\":\"121.0.6167."
            "85\",\"vulnerabilities\":0}],\"weaknesses\":3},\"status\":\"Removed\",\"uid\":"
            "\"google-_-chrome\"}");
  EXPECT_EQ(json_before_appended(full_installed_package()),
            "{\"dnsNames\":[\"web-01.contoso.com\"],\"endOfSupportDate\":\"2026-01-01T00:00:00Z\","
            "\"endOfSupportStatus\":\"Upcoming EOS "
            "Version\",\"firstSeen\":\"2024-05-06T07:08:09Z\",\"name\":\"chrome\",\"os\":"
            "\"Windows11\",\"source\":{\"diskPaths\":[\"C:\\\\Program "
            "Files\\\\Google\\\\chrome.exe\"],\"numberOfWeaknesses\":4,\"rbacGroupId\":\"7\","
            "\"rbacGroupName\":\"Servers\",\"registryPaths\":[\"HKLM\\\\Software\\\\Google\"]},"
            "\"status\":\"Removed\",\"targets\":\"h1\",\"type\":\"google-_-chrome\",\"uid\":\"h1_"
            "google-_-chrome\",\"version\":[\"120.0\",\"121.0\"]}");
  EXPECT_EQ(json_before_appended(full_vulnerability()),
            "{\"firstFound\":\"2025-01-01T00:00:00Z\",\"hostnames\":[\"web-01\",\"web-01.contoso."
            "com\"],\"lastFixed\":\"2024-12-01T00:00:00Z\",\"lastFound\":\"2025-01-01T12:00:00."
            "500000Z\",\"results\":\"evidence\",\"severity\":\"High\",\"source\":{\"cvssScore\":7."
            "5,\"exploitabilityLevel\":\"ExploitIsPublic\",\"isOnboarded\":true,\"osArchitecture\":"
            "\"x64\",\"osPlatform\":\"Windows11\",\"osVersion\":\"23H2\",\"rbacGroupId\":\"7\","
            "\"rbacGroupName\":\"Servers\",\"recommendationReference\":\"va-_-google-_-chrome\","
            "\"recommendedSecurityUpdate\":\"Update "
            "Chrome\",\"recommendedSecurityUpdateId\":\"kb-1\",\"recommendedSecurityUpdateUrl\":"
            "\"https://support.example/"
            "kb-1\",\"securityUpdateAvailable\":true},\"sourceLastModified\":\"2025-01-01T06:00:"
            "00Z\",\"sourceSeverity\":\"high\",\"sourceStatus\":\"Active\",\"sourceUid\":\"dev1_"
            "x\",\"stateTime\":\"2025-01-02T00:00:00Z\",\"status\":\"Reopened\",\"statusCategory\":"
            "\"Open\",\"targets\":\"dev1\",\"type\":\"CVE-2024-0001\",\"uid\":\"dev1_google_chrome_"
            "120.0_CVE-2024-0001\"}");
  EXPECT_EQ(
      json_before_appended(full_definition()),
      "{\"CVSS_V2_AC\":\"Low\",\"CVSS_V2_AI\":\"Partial\",\"CVSS_V2_AU\":\"None\",\"CVSS_V2_AV\":"
      "\"Network\",\"CVSS_V2_BASE_SCORE\":7.5,\"CVSS_V2_CI\":\"Partial\",\"CVSS_V2_E\":\"High\","
      "\"CVSS_V2_II\":\"Partial\",\"CVSS_V2_RC\":\"Unconfirmed\",\"CVSS_V2_RL\":\"Workaround\","
      "\"CVSS_V2_TEMPORAL_SCORE\":6.1,\"CVSS_V2_VECTOR\":\"AV:N/AC:L/Au:N/C:P/I:P/"
      "A:P\",\"CVSS_V3_AC\":\"Low\",\"CVSS_V3_AI\":\"High\",\"CVSS_V3_AV\":\"Network\",\"CVSS_V3_"
      "BASE_SCORE\":9.8,\"CVSS_V3_CI\":\"High\",\"CVSS_V3_E\":\"Functional\",\"CVSS_V3_II\":"
      "\"High\",\"CVSS_V3_PR\":\"None\",\"CVSS_V3_RC\":\"Confirmed\",\"CVSS_V3_RL\":\"Official "
      "Fix\",\"CVSS_V3_S\":\"Unchanged\",\"CVSS_V3_TEMPORAL_SCORE\":9.1,\"CVSS_V3_UI\":\"None\","
      "\"CVSS_V3_VECTOR\":\"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/"
      "A:H\",\"affected\":[\"google-_-chrome\"],\"cveIds\":[\"CVE-2024-0001\"],\"cveRecords\":["
      "\"https://www.cve.org/"
      "CVERecord?id=CVE-2024-0001\"],\"cvssV3BaseScore\":9.8,\"description\":\"A "
      "flaw\",\"epss\":0.25,\"exploitability\":\"Exploit "
      "verified\",\"exploits\":[\"https://exploit.example/"
      "1\"],\"name\":\"CVE-2024-0001\",\"patchAvailable\":true,\"publishedDate\":\"2024-01-01T00:"
      "00:00Z\",\"recommendation\":[],\"references\":[\"https://ref.example/"
      "1\"],\"severity\":\"Critical\",\"source\":{\"cveSupportability\":\"Supported\","
      "\"exploitInKit\":true,\"exploitTypes\":[\"Remote\"],\"exploitVerified\":false,"
      "\"exposedMachines\":12,\"firstDetected\":\"2024-01-03T00:00:00Z\",\"publicExploit\":true,"
      "\"tags\":[\"zero-day\"]},\"sourceLastModified\":\"2024-02-01T00:00:00Z\",\"sourceSeverity\":"
      "\"Critical\",\"summary\":\"flaw\",\"uid\":\"CVE-2024-0001\"}");
  EXPECT_EQ(
      json_before_appended(VulnerabilityDefinition{}),
      "{\"CVSS_V2_AC\":null,\"CVSS_V2_AI\":null,\"CVSS_V2_AU\":null,\"CVSS_V2_AV\":null,\"CVSS_V2_"
      "BASE_SCORE\":null,\"CVSS_V2_CI\":null,\"CVSS_V2_E\":null,\"CVSS_V2_II\":null,\"CVSS_V2_RC\":"
      "null,\"CVSS_V2_RL\":null,\"CVSS_V2_TEMPORAL_SCORE\":null,\"CVSS_V2_VECTOR\":null,\"CVSS_V3_"
      "AC\":null,\"CVSS_V3_AI\":null,\"CVSS_V3_AV\":null,\"CVSS_V3_BASE_SCORE\":null,\"CVSS_V3_"
      "CI\":null,\"CVSS_V3_E\":null,\"CVSS_V3_II\":null,\"CVSS_V3_PR\":null,\"CVSS_V3_RC\":null,"
      "\"CVSS_V3_RL\":null,\"CVSS_V3_S\":null,\"CVSS_V3_TEMPORAL_SCORE\":null,\"CVSS_V3_UI\":null,"
      "\"CVSS_V3_VECTOR\":null,\"affected\":null,\"cveIds\":[],\"cveRecords\":[],"
      "\"cvssV3BaseScore\":null,\"description\":null,\"epss\":null,\"exploitability\":\"\","
      "\"exploits\":[],\"name\":null,\"patchAvailable\":null,\"publishedDate\":null,"
      "\"recommendation\":null,\"references\":[],\"severity\":\"Unknown\",\"source\":{"
      "\"cveSupportability\":null,\"exploitInKit\":null,\"exploitTypes\":[],\"exploitVerified\":"
      "null,\"exposedMachines\":null,\"firstDetected\":null,\"publicExploit\":null,\"tags\":[]},"
      "\"sourceLastModified\":null,\"sourceSeverity\":null,\"summary\":null,\"uid\":\"\"}");
}

}  // namespace
}  // namespace mdesync::model
