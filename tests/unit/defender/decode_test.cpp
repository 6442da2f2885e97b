// Decoding quirks Q16-Q18 and key casing (docs/api.md, "Requests and answers" and "Quirks").
#include "defender/decode.hpp"

#include <gtest/gtest.h>

namespace mdesync::defender {
namespace {

template <class T>
std::vector<T> page(std::string body, std::optional<std::string>* next = nullptr) {
  std::vector<T> out;
  auto info = decode_page<T>(body, [&](T&& r) {
    out.push_back(std::move(r));
    return util::Status{};
  });
  EXPECT_TRUE(info) << (info ? "" : info.error().message);
  if (info && next) *next = info->next_link;
  return out;
}

TEST(Decode, MachinePageWithEveryQuirk) {
  std::optional<std::string> next;
  auto ms = page<Machine>(R"({"@odata.context":"x","value":[
    {"id":"a1","computerDnsName":"web-01","firstSeen":"2025-02-10T12:00:00Z","lastSeen":"2025-05-31T23:41:02.7712345Z",
     "osBuild":null,"rbacGroupId":17,"rbacGroupName":null,"riskScore":"SomethingNew","machineTags":[],
     "isAadJoined":false,"aadDeviceId":null,"ipAddresses":[{"ipAddress":"127.0.0.1","macAddress":null,"type":"SoftwareLoopback","operationalStatus":"Up"}],
     "vmMetadata":{"vmId":"v","cloudProvider":"Azure","resourceId":"r","subscriptionId":"s"},"futureField":{"nested":[1,2,3]}},
    {"ID":"a2","OsBuild":"19045","RbacGroupId":"140","IsAadJoined":"true","MachineTags":["t1","t2"],"vmMetadata":null,"ipAddresses":null}
  ],"@odata.nextLink":"https://api/api/machines?$skip=2"})",
                          &next);
  ASSERT_EQ(ms.size(), 2U);
  EXPECT_EQ(next, "https://api/api/machines?$skip=2");
  const Machine& a = ms[0];
  EXPECT_EQ(a.id, "a1");
  EXPECT_FALSE(a.os_build);
  EXPECT_EQ(a.rbac_group_id, "17");  // number -> text
  EXPECT_FALSE(a.rbac_group_name);
  EXPECT_EQ(a.risk_score, "SomethingNew");  // unknown enum kept
  EXPECT_EQ(a.is_aad_joined, false);
  EXPECT_FALSE(a.aad_device_id);
  ASSERT_EQ(a.ip_addresses.size(), 1U);
  EXPECT_FALSE(a.ip_addresses[0].mac_address);
  EXPECT_EQ(a.ip_addresses[0].type, "SoftwareLoopback");
  ASSERT_TRUE(a.vm_metadata);
  EXPECT_EQ(a.vm_metadata->cloud_provider, "Azure");
  EXPECT_EQ(util::format_timestamp(*a.last_seen), "2025-05-31T23:41:02.771234Z");
  const Machine& b = ms[1];
  EXPECT_EQ(b.id, "a2");         // PascalCase keys
  EXPECT_EQ(b.os_build, 19045);  // number as string
  EXPECT_EQ(b.rbac_group_id, "140");
  EXPECT_EQ(b.is_aad_joined, true);
  EXPECT_EQ(b.machine_tags, (std::vector<std::string>{"t1", "t2"}));
  EXPECT_FALSE(b.vm_metadata);
  EXPECT_TRUE(b.ip_addresses.empty());
  EXPECT_FALSE(b.first_seen);  // missing -> nullopt
}

TEST(Decode, VulnerabilityDefinitionTypes) {
  auto vs = page<Vulnerability>(R"({"value":[
    {"id":"CVE-1","cvssV3":8,"epss":"0.0417","exposedMachines":"3","cveSupportability":["Supported","SupportedInPremium"],
     "publishedOn":"2025-05-20T00:00:00Z","exploitTypes":["Local"],"tags":null,"publicExploit":null},
    {"id":"CVE-2","cvssV3":null,"CveSupportability":"supported","epss":""}]})");
  ASSERT_EQ(vs.size(), 2U);
  EXPECT_EQ(vs[0].cvss_v3, 8.0);
  EXPECT_DOUBLE_EQ(*vs[0].epss, 0.0417);
  EXPECT_EQ(vs[0].exposed_machines, 3);
  EXPECT_EQ(vs[0].cve_supportability, "Supported, SupportedInPremium");
  EXPECT_TRUE(vs[0].tags.empty());
  EXPECT_FALSE(vs[0].public_exploit);
  EXPECT_FALSE(vs[1].cvss_v3);
  EXPECT_EQ(vs[1].cve_supportability, "supported");
  EXPECT_FALSE(vs[1].epss);  // empty string -> nullopt
}

TEST(Decode, RecommendationEmptiesAndCategoryVocabulary) {
  auto rs = page<Recommendation>(
      R"({"value":[{"id":"va-_-x-_-y","recommendedVersion":"","recommendationCategory":"Security controls",
    "severityScore":0,"exposedCriticalDevices":3,"associatedThreats":[],"status":"Exception"}]})");
  ASSERT_EQ(rs.size(), 1U);
  EXPECT_EQ(rs[0].recommended_version, "");
  EXPECT_EQ(rs[0].recommendation_category, "Security controls");
  EXPECT_EQ(rs[0].severity_score, 0.0);
  EXPECT_EQ(rs[0].exposed_critical_devices, 3.0);
}

TEST(Decode, ExportLinesCamelAndPascal) {
  LineDecoder<VulnerabilityRow> d;
  VulnerabilityRow r;
  ASSERT_TRUE(d.decode(
      R"({"id":"x_","deviceId":"d1","rbacGroupId":17,"cveId":null,"cvssScore":"7.8","firstSeenTimestamp":"2025-05-21 04:10:00",
    "lastSeenTimestamp":"2025-06-01 05:40:12.271","eventTimestamp":"2025-06-01 06:00:00.0000000","status":"Fixed","isOnboarded":true,
    "diskPaths":["C:\\x"],"registryPaths":[],"securityUpdateAvailable":true,"newColumn":1})",
      r));
  EXPECT_EQ(r.device_id, "d1");
  EXPECT_EQ(r.rbac_group_id, "17");
  EXPECT_FALSE(r.cve_id);
  EXPECT_DOUBLE_EQ(*r.cvss_score, 7.8);
  EXPECT_EQ(util::format_timestamp(*r.last_seen_timestamp), "2025-06-01T05:40:12.271000Z");
  EXPECT_EQ(r.status, "Fixed");
  EXPECT_EQ(r.disk_paths, std::vector<std::string>{"C:\\x"});
  ASSERT_TRUE(d.decode(
      R"({"DeviceId":"d2","DeviceName":"n","OSPlatform":"Windows11","CveId":"CVE-9","VulnerabilitySeverityLevel":"High"})",
      r));
  EXPECT_EQ(r.device_id, "d2");
  EXPECT_EQ(r.os_platform, "Windows11");
  EXPECT_EQ(r.cve_id, "CVE-9");
  EXPECT_FALSE(r.cvss_score);  // reset between lines

  LineDecoder<InventoryRow> inv;
  InventoryRow i;
  ASSERT_TRUE(inv.decode(
      R"({"deviceId":"d","numberOfWeaknesses":"4","endOfSupportDate":"2026-10-13T00:00:00+00:00","endOfSupportStatus":"EOS Version","softwareLastSeenTimestamp":"2025-06-01 08:30:12.123","registryPath":"HKLM\\x"})",
      i));
  EXPECT_EQ(i.number_of_weaknesses, 4);
  EXPECT_EQ(util::format_timestamp(*i.end_of_support_date), "2026-10-13T00:00:00Z");
  EXPECT_EQ(i.registry_path, "HKLM\\x");
}

TEST(Decode, MalformedInputsAreErrorsNamingTheField) {
  LineDecoder<VulnerabilityRow> d;
  VulnerabilityRow r;
  auto truncated = d.decode(R"({"deviceId":"d1","cveId":)", r);
  ASSERT_FALSE(truncated);
  EXPECT_EQ(truncated.error().code, util::ErrorCode::parse);
  auto bad_time = d.decode(R"({"deviceId":"d1","firstSeenTimestamp":"yesterday"})", r);
  ASSERT_FALSE(bad_time);
  EXPECT_NE(bad_time.error().message.find("firstSeenTimestamp"), std::string::npos);
  auto bad_number = d.decode(R"({"deviceId":"d1","cvssScore":"high"})", r);
  ASSERT_FALSE(bad_number);
  EXPECT_NE(bad_number.error().message.find("cvssScore"), std::string::npos);
  auto no_key = d.decode(R"({"deviceName":"x"})", r);
  ASSERT_FALSE(no_key);
  EXPECT_NE(no_key.error().message.find("deviceId"), std::string::npos);
  EXPECT_FALSE(d.decode("[1,2]", r));
  EXPECT_FALSE(d.decode(R"({"deviceId":"d"} trailing)", r));

  std::string page_body = R"({"value":[{"id":"m","osBuild":"x"}]})";
  auto info = decode_page<Machine>(page_body, [](Machine&&) { return util::Status{}; });
  ASSERT_FALSE(info);
  EXPECT_NE(info.error().message.find("item 0"), std::string::npos);
  std::string no_value = R"({"error":{}})";
  EXPECT_FALSE(decode_page<Machine>(no_value, [](Machine&&) { return util::Status{}; }));
}

// A score outside its range is not a score: NaN, -inf, -5 or 1e308 as a CVSS score
// must not reach the store. The member is left empty and the value is recorded for the
// mapper to report (issue 17, item 10).
TEST(Decode, OutOfRangeScoresAreNulledAndRecorded) {
  LineDecoder<VulnerabilityRow> d;
  VulnerabilityRow r;
  for (const std::string bad : {R"("NaN")", R"("-inf")", R"("Infinity")", "-5", "1e308", "10.1"}) {
    ASSERT_TRUE(d.decode(R"({"deviceId":"d1","cveId":"CVE-1","cvssScore":)" + bad + "}", r)) << bad;
    EXPECT_FALSE(r.cvss_score.has_value()) << bad;
    ASSERT_EQ(r.rejected.size(), 1U) << bad;
    EXPECT_EQ(r.rejected[0].field, "cvssScore");
    EXPECT_EQ(r.rejected[0].range, "0..10");
  }
  for (const std::string good : {"0", "10", R"("7.8")"}) {
    ASSERT_TRUE(d.decode(R"({"deviceId":"d1","cvssScore":)" + good + "}", r)) << good;
    EXPECT_TRUE(r.cvss_score.has_value()) << good;
    EXPECT_TRUE(r.rejected.empty()) << good;
  }

  const auto defs = page<Vulnerability>(
      R"({"value":[{"id":"CVE-1","cvssV3":11,"epss":1.5},{"id":"CVE-2","cvssV3":"NaN","epss":-0.1},)"
      R"({"id":"CVE-3","cvssV3":9.8,"epss":0.97}]})");
  ASSERT_EQ(defs.size(), 3U);
  EXPECT_FALSE(defs[0].cvss_v3 || defs[0].epss || defs[1].cvss_v3 || defs[1].epss);
  ASSERT_EQ(defs[0].rejected.size(), 2U);
  EXPECT_EQ(defs[0].rejected[0].field, "cvssV3");
  EXPECT_EQ(defs[0].rejected[0].value, "11");
  EXPECT_EQ(defs[0].rejected[1].field, "epss");
  EXPECT_EQ(defs[0].rejected[1].range, "0..1");
  EXPECT_EQ(defs[1].rejected.size(), 2U);
  EXPECT_DOUBLE_EQ(*defs[2].cvss_v3, 9.8);
  EXPECT_DOUBLE_EQ(*defs[2].epss, 0.97);
  EXPECT_TRUE(defs[2].rejected.empty());

  const auto sw = page<Software>(R"({"value":[{"id":"v-_-n","impactScore":"-inf"}]})");
  ASSERT_EQ(sw.size(), 1U);
  EXPECT_FALSE(sw[0].impact_score);
  EXPECT_EQ(sw[0].rejected.size(), 1U);
}

// Pages are walked item by item (decode.cpp, PageScanner): members in any order, nested
// text with braces and escaped quotes, odd spacing, PascalCase keys.
TEST(Decode, PageScannerFindsItemsAndNextLinkAnywhere) {
  std::optional<std::string> next;
  auto ms = page<Machine>(
      " \r\n{ \"@odata.nextLink\" : \"https://api/api/machines?$skip=2&x=\\\"q\\\"\" ,\n"
      "  \"@odata.context\":{\"a\":[1,{\"b\":\"}]{[\"}],\"c\":null},\"@odata.count\":2,"
      "\"ok\":true,\"Value\" : [ {\"id\":\"x}1\",\"computerDnsName\":\"a\\\"]b\"} ,"
      "{\"id\":\"x2\",\"machineTags\":[\"[\",\"]\"]}\n],\"trailer\":[[],{}]}\n",
      &next);
  ASSERT_EQ(ms.size(), 2U);
  EXPECT_EQ(ms[0].id, "x}1");
  EXPECT_EQ(ms[0].computer_dns_name, "a\"]b");
  EXPECT_EQ(ms[1].id, "x2");
  EXPECT_EQ(ms[1].machine_tags, (std::vector<std::string>{"[", "]"}));
  EXPECT_EQ(next, "https://api/api/machines?$skip=2&x=\"q\"");

  EXPECT_TRUE(page<Machine>(R"({"value":[]})").empty());
  EXPECT_TRUE(page<Machine>(R"({"value" : [ ] , "@odata.nextLink":null})", &next).empty());
  EXPECT_FALSE(next);
  // An escaped key is left to the whole-document parser, which reads it the same way.
  auto escaped = page<Machine>(R"({"v\u0061lue":[{"id":"e1"}]})");
  ASSERT_EQ(escaped.size(), 1U);
  EXPECT_EQ(escaped[0].id, "e1");
}

TEST(Decode, PageScannerRejectsMalformedPages) {
  auto error = [](std::string body) {
    auto info = decode_page<Machine>(body, [](Machine&&) { return util::Status{}; });
    return info ? std::string("<accepted>") : info.error().message;
  };
  // A body that ends inside the document is truncated, not malformed (fetched again).
  EXPECT_NE(error(R"({"value":[{"id":"a"},{"id":"b")").find("(truncated)"), std::string::npos);
  EXPECT_NE(error(R"({"value":[{"id":"a"}]} extra)").find("malformed JSON page"),
            std::string::npos);
  EXPECT_NE(error(R"({"value":[{"id":"a"} {"id":"b"}]})").find("malformed JSON page"),
            std::string::npos);
  EXPECT_NE(error(R"({"value":[{"id":"a",}]})").find("item 0:"), std::string::npos);
  EXPECT_NE(error(R"({"value":[{"id":"a"},7]})").find("item 1 is not an object"),
            std::string::npos);
  EXPECT_NE(error(R"({"value":null})").find("'value' is not an array"), std::string::npos);
  EXPECT_NE(error(R"([{"id":"a"}])").find("not a JSON object"), std::string::npos);
  EXPECT_NE(error(R"({"count":3})").find("no 'value' array"), std::string::npos);
  EXPECT_NE(error(R"({"value":[{"id":"a"}],"@odata.nextLink":"unterminated})").find("(truncated)"),
            std::string::npos);
}

TEST(Decode, ExportFilesAndErrors) {
  std::string body =
      R"({"@odata.context":"x","exportFiles":["https://a/b.json.gz?sig=1","https://a/c.json.gz?sig=2"],"generatedTime":"2025-06-01T06:01:00Z"})";
  auto f = decode_export_files(body);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->urls.size(), 2U);
  EXPECT_EQ(util::format_timestamp(f->generated_time), "2025-06-01T06:01:00Z");
  std::string missing = R"({"exportFiles":[]})";
  EXPECT_FALSE(decode_export_files(missing));
  auto e = decode_api_error(
      R"({"error":{"code":"TooManyRequests","message":"slow down","target":"t"}})");
  EXPECT_EQ(e.code, "TooManyRequests");
  EXPECT_EQ(e.message, "slow down");
  EXPECT_TRUE(decode_api_error("<xml/>").code.empty());
}

TEST(Decode, SingleEntity) {
  std::string body = R"({"@odata.context":"x#Machines/$entity","id":"m1","osPlatform":"Linux"})";
  auto m = decode_entity<Machine>(body);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->id, "m1");
}

// --- Truncated bodies (issue 27, item 2) ---------------------------------------------

const std::string k_page =
    R"({"@odata.context":"x","value":[{"id":"a1","machineTags":["t{1}"]},)"
    R"( {"id":"a\"2","riskScore":"High"} ,{"id":"a3"}],"@odata.nextLink":"https://api/n?$skip=3"} )";

util::Result<PageInfo> decode_ids(std::string body, std::vector<std::string>& ids,
                                  PageProgress* progress = nullptr) {
  return decode_page<Machine>(
      body,
      [&](Machine&& m) {
        ids.push_back(m.id);
        return util::Status{};
      },
      progress);
}

// Every proper prefix of a valid page (the body of a transfer cut at that byte) is told
// apart from a malformed page, and names its length.
TEST(DecodeTruncated, EveryPrefixOfAPageIsTruncatedNotMalformed) {
  std::vector<std::string> ids;
  ASSERT_TRUE(decode_ids(k_page, ids));
  EXPECT_EQ(ids, (std::vector<std::string>{"a1", "a\"2", "a3"}));
  const std::size_t end = k_page.find_last_not_of(' ') + 1;
  for (std::size_t cut = 0; cut < end; ++cut) {
    ids.clear();
    auto r = decode_ids(k_page.substr(0, cut), ids);
    ASSERT_FALSE(r) << cut;
    EXPECT_EQ(r.error().code, util::ErrorCode::corrupt_stream) << cut << ": " << r.error().message;
    EXPECT_NE(r.error().message.find("after " + std::to_string(cut) + " bytes"), std::string::npos)
        << r.error().message;
    EXPECT_NE(r.error().message.find("truncated"), std::string::npos);
  }
  for (const std::string& whole_entity : {std::string(R"({"id":"a1","osBuild":"19045"})")}) {
    for (std::size_t cut = 0; cut < whole_entity.size(); ++cut) {
      std::string body = whole_entity.substr(0, cut);
      auto m = decode_entity<Machine>(body);
      ASSERT_FALSE(m) << cut;
      EXPECT_EQ(m.error().code, util::ErrorCode::corrupt_stream) << cut;
    }
  }
  const std::string files =
      R"({"exportFiles":["https://b/x.gz"],"generatedTime":"2025-06-01T06:01:00Z"})";
  for (std::size_t cut = 0; cut < files.size(); ++cut) {
    std::string body = files.substr(0, cut);
    auto r = decode_export_files(body);
    ASSERT_FALSE(r) << cut;
    EXPECT_EQ(r.error().code, util::ErrorCode::corrupt_stream) << cut;
  }
}

// A complete body that is not a valid page stays a parse error.
TEST(DecodeTruncated, CompleteButMalformedBodiesAreParseErrors) {
  for (const std::string body :
       {R"({"value":[{"id":"a1"},,{"id":"a2"}]})", R"({"value":[{"id":"a1"}]}x)",
        R"({"value":[{"id":"a1"} {"id":"a2"}]})", R"({"value":[{"id":"a1",}]})", R"([1,2])",
        R"({"value":{"id":"a1"}})", R"({"value" {"id":"a1"}})"}) {
    std::vector<std::string> ids;
    auto r = decode_ids(body, ids);
    ASSERT_FALSE(r) << body;
    EXPECT_EQ(r.error().code, util::ErrorCode::parse) << body << ": " << r.error().message;
  }
  std::string entity = R"({"id":"a1",,})";
  auto m = decode_entity<Machine>(entity);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, util::ErrorCode::parse);
}

// A page read again after a cut hands on only the items after those already handed on,
// wherever the cuts fall; items that changed in between stop the read.
TEST(DecodeTruncated, ResumedPageHandsOnEachItemOnce) {
  const std::size_t end = k_page.find_last_not_of(' ') + 1;
  for (std::size_t first = 0; first < end; ++first) {
    for (std::size_t second : {std::size_t{0}, first / 2, first, (first + end) / 2}) {
      PageProgress progress;
      std::vector<std::string> ids;
      ASSERT_FALSE(decode_ids(k_page.substr(0, first), ids, &progress));
      EXPECT_EQ(progress.delivered, ids.size());
      ASSERT_FALSE(decode_ids(k_page.substr(0, second), ids, &progress));
      auto r = decode_ids(k_page, ids, &progress);
      ASSERT_TRUE(r) << first << "/" << second << ": " << r.error().message;
      EXPECT_EQ(r->items, 3U);
      EXPECT_EQ(r->next_link, "https://api/n?$skip=3");
      EXPECT_EQ(ids, (std::vector<std::string>{"a1", "a\"2", "a3"})) << first << "/" << second;
    }
  }
  PageProgress progress;
  std::vector<std::string> ids;
  ASSERT_FALSE(decode_ids(k_page.substr(0, k_page.find("{\"id\":\"a3\"")), ids, &progress));
  ASSERT_EQ(progress.delivered, 2U);
  std::string changed = k_page;
  changed.replace(changed.find("High"), 4, "Low!");
  auto r = decode_ids(changed, ids, &progress);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::paging) << r.error().message;
  EXPECT_EQ(ids.size(), 2U);
  auto shorter = decode_ids(R"({"value":[{"id":"a1"}]})", ids, &progress);
  ASSERT_FALSE(shorter);
  EXPECT_EQ(shorter.error().code, util::ErrorCode::paging);
}

}  // namespace
}  // namespace mdesync::defender
