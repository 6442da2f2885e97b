// Tests of the simulator through its HTTP surface, as a client sees it.

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "cvss31.hpp"
#include "exports.hpp"
#include "sim_util.hpp"
#include "simulator.hpp"

namespace {

using json = nlohmann::json;

std::string test_cache() {
  return (std::filesystem::path(MDESYNC_BINARY_DIR) / "sim-test-cache").string();
}

mdesim::Options small_options() {
  mdesim::Options o;
  o.world.machines = 30;
  o.world.software_per_machine = 12;
  o.world.cves = 80;
  o.world.rows_per_file = 100;
  o.cache_dir = test_cache();
  o.generator_threads = 2;
  return o;
}

class SimTest : public ::testing::Test {
 protected:
  void start(mdesim::Options o = small_options()) {
    auto s = mdesim::Simulator::start(std::move(o));
    ASSERT_TRUE(s.has_value()) << s.error().describe();
    sim = std::move(*s);
    cli = std::make_unique<httplib::Client>(sim->base_url());
    cli->set_read_timeout(30, 0);
  }
  void SetUp() override { start(); }

  std::string token(
      const std::string& scope = "https://api.securitycenter.microsoft.com/.default") {
    const auto c = sim->credentials();
    httplib::Params p{{"grant_type", "client_credentials"},
                      {"client_id", c.client_id},
                      {"client_secret", c.client_secret},
                      {"scope", scope}};
    auto r = cli->Post(("/" + c.tenant_id + "/oauth2/v2.0/token").c_str(), p);
    EXPECT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    return json::parse(r->body).at("access_token").get<std::string>();
  }

  httplib::Result get(const std::string& path, const std::string& tok) {
    httplib::Headers h;
    if (!tok.empty()) h.emplace("Authorization", "Bearer " + tok);
    return cli->Get(path.c_str(), h);
  }

  json get_json(const std::string& path, const std::string& tok, int status = 200) {
    auto r = get(path, tok);
    EXPECT_TRUE(r) << path;
    if (!r) return {};
    EXPECT_EQ(r->status, status) << path << " " << r->body.substr(0, 300);
    return json::parse(r->body);
  }

  // Follows @odata.nextLink (absolute) from a relative first URL; returns all rows.
  std::vector<json> all_pages(std::string path, const std::string& tok, int* pages = nullptr) {
    std::vector<json> rows;
    int n = 0;
    while (!path.empty() && n < 1000) {
      const json j = get_json(path, tok);
      for (const auto& v : j.at("value")) rows.push_back(v);
      ++n;
      path.clear();
      if (j.contains("@odata.nextLink")) {
        path = j["@odata.nextLink"].get<std::string>().substr(sim->base_url().size());
      }
    }
    if (pages != nullptr) *pages = n;
    return rows;
  }

  std::vector<std::string> download_lines(const std::string& url, int* status = nullptr) {
    auto r = cli->Get(url.substr(sim->base_url().size()).c_str());
    EXPECT_TRUE(r);
    if (status != nullptr) *status = r->status;
    std::vector<std::string> lines;
    if (r->status != 200) return lines;
    const auto text = mdesim::gunzip_string(r->body);
    EXPECT_TRUE(text.has_value()) << "not gzip";
    std::size_t pos = 0;
    while (text && pos < text->size()) {
      auto nl = text->find('\n', pos);
      lines.push_back(text->substr(pos, nl - pos));
      pos = nl + 1;
    }
    return lines;
  }

  std::vector<json> file_rows(const std::string& endpoint, const std::string& tok) {
    const json j = get_json("/api/machines/" + endpoint, tok);
    std::vector<json> rows;
    for (const auto& url : j.at("exportFiles")) {
      for (const auto& l : download_lines(url.get<std::string>())) rows.push_back(json::parse(l));
    }
    return rows;
  }

  static std::string finding_key(const json& r) {
    return r.at("deviceId").get<std::string>() + "_" +
           mdesim::lower(r.at("softwareVendor").get<std::string>()) + "_" +
           mdesim::lower(r.at("softwareName").get<std::string>()) + "_" +
           r.at("softwareVersion").get<std::string>() + "_" + r.at("cveId").get<std::string>();
  }

  std::unique_ptr<mdesim::Simulator> sim;
  std::unique_ptr<httplib::Client> cli;
};

TEST(Cvss31, KnownVectors) {
  EXPECT_DOUBLE_EQ(*mdesim::cvss31_base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"), 9.8);
  EXPECT_DOUBLE_EQ(*mdesim::cvss31_base_score("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"), 7.8);
  EXPECT_DOUBLE_EQ(*mdesim::cvss31_base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"), 6.1);
  EXPECT_DOUBLE_EQ(*mdesim::cvss31_base_score("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"),
                   10.0);
  EXPECT_DOUBLE_EQ(*mdesim::cvss31_base_score("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:N"), 0.0);
  EXPECT_FALSE(mdesim::cvss31_base_score("CVSS:3.1/AV:N/AC:L").has_value());
}

TEST(SimUtil, Times) {
  EXPECT_EQ(mdesim::iso_time(1767592800), "2026-01-05T06:00:00Z");
  EXPECT_EQ(mdesim::export_time(1767592800), "2026-01-05 06:00:00");
  EXPECT_EQ(*mdesim::parse_time("2026-01-05T06:00:00.123Z"), 1767592800);
  EXPECT_EQ(*mdesim::parse_time("2026-01-05T08:00:00+02:00"), 1767592800);
  EXPECT_EQ(*mdesim::parse_time("2026-01-05"), 1767571200);
  EXPECT_FALSE(mdesim::parse_time("yesterday").has_value());
}

TEST_F(SimTest, TokenV2AndV1Shapes) {
  const auto c = sim->credentials();
  auto r =
      cli->Post(("/" + c.tenant_id + "/oauth2/v2.0/token").c_str(),
                httplib::Params{{"grant_type", "client_credentials"},
                                {"client_id", c.client_id},
                                {"client_secret", c.client_secret},
                                {"scope", "https://api.securitycenter.microsoft.com/.default"}});
  ASSERT_EQ(r->status, 200);
  const json v2 = json::parse(r->body);
  EXPECT_TRUE(v2["expires_in"].is_number());
  EXPECT_EQ(v2["token_type"], "Bearer");
  const std::string tok = v2["access_token"];
  const auto dot1 = tok.find('.');
  const auto dot2 = tok.find('.', dot1 + 1);
  const json payload = json::parse(*mdesim::unbase64(tok.substr(dot1 + 1, dot2 - dot1 - 1)));
  EXPECT_EQ(payload["aud"], "https://api.securitycenter.microsoft.com");
  EXPECT_EQ(payload["tid"], c.tenant_id);
  EXPECT_EQ(payload["appid"], c.client_id);
  EXPECT_EQ(payload["roles"].size(), 4U);
  EXPECT_TRUE(payload.contains("exp"));

  r = cli->Post(("/" + c.tenant_domain + "/OAuth2/Token").c_str(),
                httplib::Params{{"grant_type", "client_credentials"},
                                {"client_id", c.client_id},
                                {"client_secret", c.client_secret},
                                {"resource", "https://api.securitycenter.microsoft.com"}});
  ASSERT_EQ(r->status, 200) << r->body;
  const json v1 = json::parse(r->body);
  EXPECT_TRUE(v1["expires_in"].is_string());
  EXPECT_TRUE(v1["expires_on"].is_string());
  EXPECT_TRUE(v1["not_before"].is_string());
}

TEST_F(SimTest, TokenErrors) {
  const auto c = sim->credentials();
  auto post = [&](const std::string& tenant, httplib::Params p) {
    auto r = cli->Post(("/" + tenant + "/oauth2/v2.0/token").c_str(), p);
    return std::make_pair(r->status, json::parse(r->body));
  };
  const std::string scope = "https://api.securitycenter.microsoft.com/.default";
  auto [s1, e1] = post(c.tenant_id, {{"grant_type", "client_credentials"},
                                     {"client_id", c.client_id},
                                     {"client_secret", "wrong"},
                                     {"scope", scope}});
  EXPECT_EQ(s1, 401);
  EXPECT_EQ(e1["error"], "invalid_client");
  EXPECT_EQ(e1["error_codes"][0], 7000215);
  EXPECT_NE(e1["error_description"].get<std::string>().find("Trace ID:"), std::string::npos);
  auto [s2, e2] = post("nosuchtenant.onmicrosoft.com", {{"grant_type", "client_credentials"},
                                                        {"client_id", c.client_id},
                                                        {"client_secret", c.client_secret},
                                                        {"scope", scope}});
  EXPECT_EQ(s2, 400);
  EXPECT_EQ(e2["error_codes"][0], 90002);
  auto [s3, e3] =
      post(c.tenant_id,
           {{"grant_type", "client_credentials"}, {"client_id", c.client_id}, {"scope", scope}});
  EXPECT_EQ(s3, 400);
  EXPECT_EQ(e3["error"], "invalid_request");
  EXPECT_EQ(e3["error_codes"][0], 900144);
  auto [s4, e4] = post(c.tenant_id, {{"grant_type", "client_credentials"},
                                     {"client_id", c.client_id},
                                     {"client_secret", c.client_secret},
                                     {"scope", "https://graph.microsoft.com/.default"}});
  EXPECT_EQ(s4, 400);
  EXPECT_EQ(e4["error"], "invalid_scope");
  EXPECT_EQ(e4["error_codes"][0], 70011);
}

TEST_F(SimTest, ApiAuthErrors) {
  json e = get_json("/api/machines", "", 401);
  EXPECT_EQ(e["error"]["code"], "Unauthorized");
  get_json("/api/machines", "garbage", 401);
  const std::string tok = token();
  get_json("/api/machines", tok, 200);
  mdesim::Faults f;
  f.expire_tokens = true;
  sim->add_faults(f);
  get_json("/api/machines", tok, 401);
  sim->set_roles({"Machine.Read.All"});
  const std::string limited = token();
  get_json("/api/machines", limited, 200);
  e = get_json("/api/software", limited, 403);
  EXPECT_EQ(e["error"]["code"], "Forbidden");
  get_json("/api/machines/SoftwareVulnerabilitiesExport", limited, 403);
  // A token for the new host's audience is refused (docs/api.md, "Sign-in").
  sim->set_roles({"Machine.Read.All"});
  get_json("/api/machines", token("https://api.security.microsoft.com/.default"), 403);
}

// The simulator keeps token expiry in whole seconds (as `expires_on` is), so a token of
// one second issued late in a second expires at the next one: two seconds leave the
// first request at least one second, however slow the machine.
TEST_F(SimTest, ShortLivedTokenExpires) {
  auto o = small_options();
  o.token_lifetime = std::chrono::seconds(2);
  start(o);
  const std::string tok = token();
  get_json("/api/machines", tok, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(3100));
  get_json("/api/machines", tok, 401);
}

TEST_F(SimTest, MachinesListPagingAndEntity) {
  auto o = small_options();
  o.odata_page_size = 7;
  start(o);
  const std::string tok = token();
  const auto truth = sim->truth();
  int pages = 0;
  const auto rows = all_pages("/api/machines", tok, &pages);
  EXPECT_EQ(rows.size(), truth.machines);
  EXPECT_EQ(pages, static_cast<int>((truth.machines + 6) / 7));
  std::set<std::string> ids;
  bool dup = false, merged = false, vm = false, instance_tag = false, zero_aad = false,
       inactive = false;
  for (const auto& m : rows) {
    ids.insert(m["id"].get<std::string>());
    EXPECT_EQ(m["id"].get<std::string>().size(), 40U);
    dup = dup || m["isPotentialDuplication"].get<bool>();
    merged = merged || !m["mergedIntoMachineId"].is_null();
    vm = vm || !m["vmMetadata"].is_null();
    zero_aad = zero_aad || m["aadDeviceId"] == "00000000-0000-0000-0000-000000000000";
    inactive = inactive || m["healthStatus"] == "Inactive";
    for (const auto& t : m["machineTags"])
      instance_tag = instance_tag || t.get<std::string>().rfind("instanceId", 0) == 0;
  }
  EXPECT_EQ(ids.size(), rows.size());
  EXPECT_TRUE(dup);
  EXPECT_TRUE(inactive);
  EXPECT_TRUE(vm);
  (void)merged;
  (void)instance_tag;
  (void)zero_aad;
  // $top turns nextLink off.
  json j = get_json("/api/machines?$top=5", tok);
  EXPECT_EQ(j["value"].size(), 5U);
  EXPECT_FALSE(j.contains("@odata.nextLink"));
  // $skip, case-insensitive routes, v1.0 prefix.
  j = get_json("/API/Machines?$top=3&$skip=2", tok);
  EXPECT_EQ(j["value"][0]["id"], rows[2]["id"]);
  j = get_json("/api/v1.0/machines?$top=1", tok);
  EXPECT_EQ(j["value"].size(), 1U);
  // By id and by DNS name.
  const std::string id = rows[0]["id"];
  j = get_json("/api/machines/" + id, tok);
  EXPECT_EQ(j["id"], id);
  EXPECT_NE(j["@odata.context"].get<std::string>().find("#Machines/$entity"), std::string::npos);
  j = get_json("/api/machines/" + rows[0]["computerDnsName"].get<std::string>(), tok);
  EXPECT_EQ(j["id"], id);
  j = get_json("/api/machines/0000000000000000000000000000000000000000", tok, 404);
  EXPECT_EQ(j["error"]["code"], "ResourceNotFound");
  mdesim::Faults f;
  f.machine_not_found = 1;
  sim->add_faults(f);
  get_json("/api/machines/" + id, tok, 404);
  get_json("/api/machines/" + id, tok, 200);
}

TEST_F(SimTest, Filters) {
  const std::string tok = token();
  const auto all = get_json("/api/machines", tok)["value"];
  auto count = [&](const std::function<bool(const json&)>& p) {
    std::size_t n = 0;
    for (const auto& m : all) n += p(m) ? 1U : 0U;
    return n;
  };
  auto filtered = [&](const std::string& f) {
    return get_json("/api/machines?$filter=" + mdesim::url_encode(f), tok)["value"].size();
  };
  EXPECT_EQ(filtered("osPlatform eq 'Linux'"),
            count([](const json& m) { return m["osPlatform"] == "Linux"; }));
  EXPECT_EQ(filtered("osPlatform ne 'Linux'"),
            count([](const json& m) { return m["osPlatform"] != "Linux"; }));
  EXPECT_EQ(filtered("healthStatus eq 'Active' and osPlatform eq 'Windows11'"),
            count([](const json& m) {
              return m["healthStatus"] == "Active" && m["osPlatform"] == "Windows11";
            }));
  EXPECT_EQ(filtered("(osPlatform eq 'Linux' or osPlatform eq 'macOS')"), count([](const json& m) {
              return m["osPlatform"] == "Linux" || m["osPlatform"] == "macOS";
            }));
  EXPECT_EQ(filtered("startswith(computerDnsName,'srv-')"), count([](const json& m) {
              return m["computerDnsName"].get<std::string>().rfind("srv-", 0) == 0;
            }));
  EXPECT_EQ(filtered("machineTags/any(tag: tag eq 'finance')"), count([](const json& m) {
              for (const auto& t : m["machineTags"]) {
                if (t == "finance") return true;
              }
              return false;
            }));
  EXPECT_EQ(filtered("lastSeen gt 2026-01-04T00:00:00Z"), count([](const json& m) {
              return *mdesim::parse_time(m["lastSeen"].get<std::string>()) >
                     *mdesim::parse_time("2026-01-04T00:00:00Z");
            }));
  EXPECT_EQ(filtered("lastSeen le 2026-01-04Z"), count([](const json& m) {
              return *mdesim::parse_time(m["lastSeen"].get<std::string>()) <=
                     *mdesim::parse_time("2026-01-04");
            }));
  const auto gid = all[0]["rbacGroupId"].get<int>();
  EXPECT_EQ(filtered("rbacGroupId eq " + std::to_string(gid)),
            count([&](const json& m) { return m["rbacGroupId"] == gid; }));
  EXPECT_GT(filtered("rbacGroupId ge 0"), 0U);
  EXPECT_EQ(filtered("rbacGroupId lt 0"), 0U);
  // Not filterable, or not OData.
  json e = get_json("/api/machines?$filter=" + mdesim::url_encode("agentVersion eq 'x'"), tok, 400);
  EXPECT_EQ(e["error"]["code"], "ODataError");
  get_json("/api/machines?$filter=" + mdesim::url_encode("osPlatform eq"), tok, 400);
  get_json("/api/machines?$filter=" + mdesim::url_encode("contains(osPlatform,'x')"), tok, 400);
  // Other endpoints' filter sets.
  const auto vulns = get_json("/api/vulnerabilities", tok)["value"];
  std::size_t critical = 0;
  for (const auto& v : vulns) critical += v["severity"] == "Critical" ? 1U : 0U;
  EXPECT_EQ(get_json("/api/vulnerabilities?$filter=" + mdesim::url_encode("severity eq 'Critical'"),
                     tok)["value"]
                .size(),
            critical);
  EXPECT_GT(
      get_json("/api/vulnerabilities?$filter=" + mdesim::url_encode("cvssV3 ge 7.0"), tok)["value"]
          .size(),
      0U);
  get_json("/api/vulnerabilities?$filter=" + mdesim::url_encode("epss gt 0.5"), tok, 400);
  EXPECT_EQ(
      get_json("/api/software?$filter=" + mdesim::url_encode("vendor eq 'google'"), tok)["value"]
          .size(),
      1U);
  get_json("/api/software?$filter=" + mdesim::url_encode("weaknesses gt 1"), tok, 400);
  EXPECT_GT(
      get_json("/api/recommendations?$filter=" + mdesim::url_encode("remediationType eq 'Update'"),
               tok)["value"]
          .size(),
      0U);
  const auto mv =
      get_json("/api/vulnerabilities/machinesVulnerabilities?$filter=" +
                   mdesim::url_encode("machineId eq '" + all[0]["id"].get<std::string>() + "'"),
               tok)["value"];
  for (const auto& r : mv) EXPECT_EQ(r["machineId"], all[0]["id"]);
}

TEST_F(SimTest, CountsConsistentAcrossEndpoints) {
  auto o = small_options();
  o.odata_page_size = 50;
  start(o);
  const std::string tok = token();
  const auto truth = sim->truth();
  const auto software = all_pages("/api/software", tok);
  EXPECT_EQ(software.size(), truth.software);
  const auto inventory = file_rows("SoftwareInventoryExport", tok);
  EXPECT_EQ(inventory.size(), truth.installed_software);
  std::map<std::string, std::size_t> installs;
  for (const auto& r : inventory)
    ++installs[r["softwareVendor"].get<std::string>() + "-_-" +
               r["softwareName"].get<std::string>()];
  for (const auto& s : software) {
    const std::string id = s["id"];
    const auto dist = get_json("/api/software/" + id + "/distributions", tok)["value"];
    std::size_t total = 0;
    for (const auto& d : dist) total += d["installations"].get<std::size_t>();
    EXPECT_EQ(total, installs[id]) << id;
    const auto refs = get_json("/api/software/" + id + "/machineReferences", tok)["value"];
    EXPECT_EQ(refs.size(), installs[id]) << id;
    EXPECT_LE(s["exposedMachines"].get<std::size_t>(), total);
    const auto cves = get_json("/api/software/" + id + "/vulnerabilities", tok)["value"];
    EXPECT_EQ(cves.size(), s["weaknesses"].get<std::size_t>()) << id;
  }
  // Vulnerability rows: files = JSON pages = truth = machinesVulnerabilities.
  const auto vuln_rows = file_rows("SoftwareVulnerabilitiesExport", tok);
  std::vector<std::string> keys;
  std::size_t nulls = 0;
  for (const auto& r : vuln_rows) {
    if (r["cveId"].is_null()) {
      ++nulls;
    } else {
      keys.push_back(finding_key(r));
    }
  }
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, truth.open_finding_keys);
  EXPECT_EQ(nulls, truth.null_cve_rows);
  EXPECT_GT(nulls, 0U);
  const auto pages = all_pages("/api/machines/SoftwareVulnerabilitiesByMachine?pageSize=37", tok);
  EXPECT_EQ(pages.size(), vuln_rows.size());
  const auto mv = all_pages("/api/vulnerabilities/machinesVulnerabilities", tok);
  EXPECT_EQ(mv.size(), truth.open_findings);
  // Vulnerability definitions: cvssV3 matches the vector; exposedMachines sums to findings.
  const auto defs = all_pages("/api/vulnerabilities", tok);
  EXPECT_EQ(defs.size(), truth.definitions);
  std::size_t exposed = 0;
  bool tvm = false;
  for (const auto& d : defs) {
    EXPECT_DOUBLE_EQ(d["cvssV3"].get<double>(),
                     *mdesim::cvss31_base_score(d["cvssVector"].get<std::string>()));
    exposed += d["exposedMachines"].get<std::size_t>();
    tvm = tvm || d["id"].get<std::string>().rfind("TVM-", 0) == 0;
  }
  EXPECT_EQ(exposed, truth.open_findings);
  // Recommendations: one per vulnerable software.
  const auto recs = all_pages("/api/recommendations", tok);
  EXPECT_EQ(recs.size(), truth.recommendations);
  for (const auto& r : recs) EXPECT_EQ(r["id"].get<std::string>().rfind("va-_-", 0), 0U);
  const std::string rid = recs[0]["id"];
  get_json("/api/recommendations/" + rid, tok);
  get_json("/api/recommendations/" + rid + "/software", tok);
  EXPECT_GT(get_json("/api/recommendations/" + rid + "/vulnerabilities", tok)["value"].size(), 0U);
  EXPECT_GT(get_json("/api/recommendations/" + rid + "/machineReferences", tok)["value"].size(),
            0U);
  const std::string cid = defs[0]["id"];
  EXPECT_EQ(get_json("/api/vulnerabilities/" + cid, tok)["id"], cid);
  get_json("/api/vulnerabilities/" + cid + "/machineReferences", tok);
  get_json("/api/vulnerabilities/CVE-1999-0001", tok, 404);
  const std::string mid = vuln_rows[0]["deviceId"];
  get_json("/api/machines/" + mid + "/vulnerabilities", tok);
  EXPECT_GT(get_json("/api/machines/" + mid + "/software", tok)["value"].size(), 0U);
  get_json("/api/machines/" + mid + "/recommendations", tok);
  // Non-CPE inventory.
  EXPECT_EQ(file_rows("SoftwareInventoryNonCpeExport", tok).size(),
            truth.non_cpe_installed_software);
  EXPECT_EQ(
      all_pages("/api/machines/SoftwareInventoryNoProductCodeByMachine?pageSize=1000", tok).size(),
      truth.non_cpe_installed_software);
  EXPECT_EQ(all_pages("/api/machines/SoftwareInventoryByMachine", tok).size(),
            truth.installed_software);
}

TEST_F(SimTest, ExportJsonPaging) {
  const std::string tok = token();
  const auto truth = sim->truth();
  json j = get_json("/api/machines/SoftwareVulnerabilitiesByMachine?pageSize=10", tok);
  EXPECT_EQ(j["value"].size(), 10U);
  const std::string link = j["@odata.nextLink"];
  EXPECT_NE(link.find("pagesize=10"), std::string::npos);
  const auto tokpos = link.find("$skiptoken=");
  ASSERT_NE(tokpos, std::string::npos);
  const auto skip =
      json::parse(*mdesim::unbase64(httplib::detail::decode_url(link.substr(tokpos + 11), false)));
  EXPECT_EQ(skip["ExportDefinition"]["TimePath"], "2026-01-05/0601/");
  EXPECT_EQ(skip["LineStoppedAt"], 10);
  j = get_json("/api/machines/SoftwareVulnerabilitiesByMachine?$top=4", tok);
  EXPECT_EQ(j["value"].size(), 4U);
  EXPECT_FALSE(j.contains("@odata.nextLink"));
  get_json("/api/machines/SoftwareVulnerabilitiesByMachine?$skiptoken=bm9wZQ", tok, 400);
  // A pinned snapshot survives an advance.
  sim->advance(6);
  int pages = 0;
  const auto rest = all_pages(link.substr(sim->base_url().size()), tok, &pages);
  EXPECT_EQ(rest.size() + 10, truth.open_findings + truth.null_cve_rows);
}

TEST_F(SimTest, FileExportsAndSas) {
  const std::string tok = token();
  json j = get_json("/api/machines/SoftwareVulnerabilitiesExport?sasValidHours=2", tok);
  EXPECT_EQ(j["generatedTime"], "2026-01-05T06:01:00Z");
  ASSERT_GT(j["exportFiles"].size(), 1U);  // several parts
  const std::string url = j["exportFiles"][0];
  EXPECT_NE(url.find("/2026-01-05/0601/VaExport/json/OrgId="), std::string::npos);
  EXPECT_NE(url.find("se=2026-01-05T08%3A00%3A00Z"), std::string::npos);
  int status = 0;
  EXPECT_FALSE(download_lines(url, &status).empty());
  EXPECT_EQ(status, 200);
  get_json("/api/machines/SoftwareVulnerabilitiesExport?sasValidHours=7", tok, 400);
  // A tampered signature and an expired URL: 403 XML.
  auto r = cli->Get((url.substr(sim->base_url().size()) + "x").c_str());
  EXPECT_EQ(r->status, 403);
  sim->advance(2);  // rounds up to one 6-hour step
  r = cli->Get(url.substr(sim->base_url().size()).c_str());
  EXPECT_EQ(r->status, 403);
  EXPECT_NE(r->body.find("<Code>AuthenticationFailed</Code>"), std::string::npos);
}

TEST_F(SimTest, AdvanceAndDelta) {
  auto o = small_options();
  o.world.machines = 40;
  o.world.device_groups = 3;
  start(o);
  const std::string tok = token();
  json e = get_json("/api/machines/SoftwareVulnerabilityChangesByMachine", tok, 400);
  EXPECT_EQ(e["error"]["code"], "MissingRequiredParameter");
  const auto before = sim->truth();
  auto r = cli->Post("/sim/advance?hours=48");
  ASSERT_EQ(r->status, 200);
  const json adv = json::parse(r->body);
  EXPECT_EQ(adv["previousTime"], "2026-01-05T06:00:00Z");
  EXPECT_EQ(adv["now"], "2026-01-07T06:00:00Z");
  const auto after = sim->truth();
  const auto events =
      all_pages("/api/machines/SoftwareVulnerabilityChangesByMachine?pageSize=25&sinceTime=" +
                    mdesim::url_encode("2026-01-05T07:00:00Z"),
                tok);
  ASSERT_FALSE(events.empty());
  // Replaying the events on the old key set gives the new key set.
  std::set<std::string> keys(before.open_finding_keys.begin(), before.open_finding_keys.end());
  std::map<std::string, std::vector<json>> by_id_time;
  bool upgrade_pair = false;
  for (const auto& ev : events) {
    const std::string k = finding_key(ev);
    const std::string st = ev["status"];
    if (st == "New") keys.insert(k);
    if (st == "Fixed") keys.erase(k);
    by_id_time[ev["id"].get<std::string>() + ev["eventTimestamp"].get<std::string>()].push_back(ev);
  }
  EXPECT_EQ(std::vector<std::string>(keys.begin(), keys.end()), after.open_finding_keys);
  bool move_pair = false;
  std::map<std::string, std::set<std::string>> statuses_by_device_time_cve;
  for (const auto& [k, evs] : by_id_time) {
    if (evs.size() == 2 && evs[0]["status"] == "Fixed" && evs[1]["status"] == "New" &&
        evs[0]["rbacGroupId"] != evs[1]["rbacGroupId"]) {
      move_pair = true;
    }
  }
  for (const auto& ev : events) {
    statuses_by_device_time_cve[ev["deviceId"].get<std::string>() + ev["cveId"].get<std::string>() +
                                ev["eventTimestamp"].get<std::string>() +
                                ev["softwareName"].get<std::string>()]
        .insert(ev["softwareVersion"].get<std::string>() + ":" + ev["status"].get<std::string>());
  }
  for (const auto& [k, s] : statuses_by_device_time_cve) {
    std::set<std::string> versions;
    for (const auto& v : s) versions.insert(v.substr(0, v.find(':')));
    upgrade_pair = upgrade_pair || versions.size() == 2;
  }
  EXPECT_TRUE(move_pair);
  EXPECT_TRUE(upgrade_pair);
  // Bucketing: a later sinceTime returns a suffix; $top disables nextLink.
  const auto late = all_pages(
      "/api/machines/SoftwareVulnerabilityChangesByMachine?sinceTime=2026-01-07T06:30:00Z", tok);
  EXPECT_LT(late.size(), events.size());
  for (const auto& ev : late) EXPECT_EQ(ev["eventTimestamp"], "2026-01-07 06:00:00.0000000");
  json top = get_json(
      "/api/machines/SoftwareVulnerabilityChangesByMachine?$top=2&sinceTime=2026-01-05T07:00:00Z",
      tok);
  EXPECT_FALSE(top.contains("@odata.nextLink"));
  get_json("/api/machines/SoftwareVulnerabilityChangesByMachine?sinceTime=2025-12-01T00:00:00Z",
           tok, 400);
  get_json("/api/machines/SoftwareVulnerabilityChangesByMachine?sinceTime=notatime", tok, 400);
  // The new snapshot's files agree with the truth.
  std::vector<std::string> file_keys;
  for (const auto& row : file_rows("SoftwareVulnerabilitiesExport", tok)) {
    if (!row["cveId"].is_null()) file_keys.push_back(finding_key(row));
  }
  std::sort(file_keys.begin(), file_keys.end());
  EXPECT_EQ(file_keys, after.open_finding_keys);
  EXPECT_GE(after.machines, before.machines);
}

TEST_F(SimTest, RateLimits) {
  const std::string tok = token();
  sim->set_rate_limits(true, 1.0);
  for (int i = 0; i < 5; ++i) get_json("/api/machines/SoftwareInventoryExport", tok, 200);
  auto r = get("/api/machines/SoftwareInventoryExport", tok);
  ASSERT_EQ(r->status, 429);
  EXPECT_EQ(json::parse(r->body)["error"]["code"], "TooManyRequests");
  const int retry = std::stoi(r->get_header_value("Retry-After"));
  EXPECT_GE(retry, 1);
  EXPECT_LE(retry, 60);
  // Other endpoints have their own quota; scaling raises it.
  get_json("/api/machines/SoftwareVulnerabilitiesExport", tok, 200);
  sim->set_rate_limits(true, 2.0);
  for (int i = 0; i < 10; ++i) get_json("/api/machines/SoftwareInventoryExport", tok, 200);
  get_json("/api/machines/SoftwareInventoryExport", tok, 429);
  sim->set_rate_limits(false, 1.0);
  get_json("/api/machines/SoftwareInventoryExport", tok, 200);
}

TEST_F(SimTest, ErrorFaultsAndStats) {
  const std::string tok = token();
  sim->reset_stats();
  auto r =
      cli->Post("/sim/faults",
                R"({"errors":[{"endpoint":"machines.list","status":429,"count":2,"retryAfter":3},
                                   {"endpoint":"software.list","status":503,"count":1},
                                   {"endpoint":"*","status":500,"count":1}]})",
                "application/json");
  ASSERT_EQ(r->status, 200);
  auto g = get("/api/machines", tok);
  EXPECT_EQ(g->status, 429);
  EXPECT_EQ(g->get_header_value("Retry-After"), "3");
  EXPECT_EQ(get("/api/machines", tok)->status, 429);
  EXPECT_EQ(get("/api/software", tok)->status, 503);
  EXPECT_EQ(get("/api/vulnerabilities", tok)->status, 500);
  EXPECT_EQ(get("/api/machines", tok)->status, 200);
  EXPECT_EQ(get("/api/software", tok)->status, 200);
  const auto stats = sim->stats();
  EXPECT_EQ(stats.at("machines.list").total, 3U);
  EXPECT_EQ(stats.at("machines.list").by_status.at(429), 2U);
  EXPECT_EQ(stats.at("software.list").by_status.at(503), 1U);
  EXPECT_EQ(stats.at("vulnerabilities.list").by_status.at(500), 1U);
  const json js = json::parse(cli->Get("/sim/stats")->body);
  EXPECT_EQ(js["endpoints"]["machines.list"]["byStatus"]["429"], 2);
  cli->Post("/sim/stats/reset", "", "application/json");
  EXPECT_TRUE(sim->stats().empty());
}

TEST_F(SimTest, BodyFaults) {
  const std::string tok = token();
  mdesim::Faults f;
  f.reset_connection = 1;
  f.reset_endpoint = "machines.list";
  f.reset_after_bytes = 200;
  sim->add_faults(f);
  auto r = get("/api/machines", tok);
  EXPECT_TRUE(!r || r->body.size() < 300);
  EXPECT_EQ(get("/api/machines", tok)->status, 200);
  f = {};
  f.slow_body = 1;
  f.slow_endpoint = "machines.list";
  f.slow_delay_ms = 30;
  sim->add_faults(f);
  const auto t0 = std::chrono::steady_clock::now();
  r = get("/api/machines", tok);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(json::accept(r->body));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(60));
  // Looping nextLink on an export page.
  f = {};
  f.looping_next_link = 1;
  sim->add_faults(f);
  const json p1 = get_json("/api/machines/SoftwareInventoryByMachine?pageSize=5", tok);
  const std::string l1 = p1["@odata.nextLink"];
  const json p2 = get_json(l1.substr(sim->base_url().size()), tok);
  EXPECT_EQ(p2["value"][0], p1["value"][0]);
  f = {};
  f.extra_fields = 1;
  sim->add_faults(f);
  EXPECT_TRUE(get_json("/api/software", tok)["value"][0].contains("simUnknownMember"));
}

// What one HTTP/1.1 GET sends back on a socket of its own: the head, the body as sent
// (chunk framing included), the payload (framing removed), whether the framing says the
// body is complete (terminating chunk, or Content-Length bytes) and whether the server
// closed the connection before that.
struct RawReply {
  std::string head;
  std::string body;
  std::string payload;
  bool complete = false;
  bool closed = false;
};

std::optional<std::size_t> content_length(const std::string& head) {
  const std::string lower = mdesim::lower(head);
  const auto at = lower.find("\r\ncontent-length:");
  if (at == std::string::npos) return std::nullopt;
  return static_cast<std::size_t>(std::stoull(head.substr(at + 17)));
}

bool is_chunked(const std::string& head) {
  return mdesim::lower(head).find("\r\ntransfer-encoding: chunked") != std::string::npos;
}

// Decodes chunked framing into `payload`; true once the terminating chunk was read.
bool dechunk(std::string_view body, std::string& payload) {
  payload.clear();
  std::size_t i = 0;
  for (;;) {
    const auto eol = body.find("\r\n", i);
    if (eol == std::string_view::npos) return false;
    const std::size_t size = std::stoull(std::string(body.substr(i, eol - i)), nullptr, 16);
    if (size == 0) return body.substr(eol + 2, 2) == "\r\n";
    if (body.size() < eol + 2 + size + 2) {
      payload.append(body.substr(eol + 2, std::min(size, body.size() - eol - 2)));
      return false;
    }
    payload.append(body.substr(eol + 2, size));
    i = eol + 2 + size + 2;
  }
}

RawReply raw_get(int port, const std::string& path, const std::string& tok) {
  RawReply out;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    ADD_FAILURE() << "connect failed";
    ::close(fd);
    return out;
  }
  const std::string req =
      "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + tok + "\r\n\r\n";
  EXPECT_EQ(::send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  std::string all;
  char buf[4096];
  while (!out.complete) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) {
      out.closed = true;
      break;
    }
    if (n < 0) break;  // timeout
    all.append(buf, static_cast<std::size_t>(n));
    const auto end = all.find("\r\n\r\n");
    if (end == std::string::npos) continue;
    out.head = all.substr(0, end + 2);
    out.body = all.substr(end + 4);
    if (is_chunked(out.head)) {
      out.complete = dechunk(out.body, out.payload);
    } else {
      out.payload = out.body;
      const auto cl = content_length(out.head);
      out.complete = cl && out.body.size() >= *cl;
    }
  }
  ::close(fd);
  return out;
}

// resetConnection cuts the connection after resetAfterBytes body bytes, whatever the
// transfer encoding: a chunked reply gets no terminating chunk, a sized reply stays
// short of its Content-Length, and a client never sees a complete shorter document.
TEST_F(SimTest, ResetConnectionCutsChunkedAndSizedRepliesMidBody) {
  const std::string tok = token();
  const std::string delta = "/api/machines/SoftwareVulnerabilityChangesByMachine?sinceTime=" +
                            mdesim::url_encode("2026-01-05T07:00:00Z");
  ASSERT_EQ(cli->Post("/sim/advance?hours=24")->status, 200);
  const RawReply whole_delta = raw_get(sim->port(), delta, tok);
  ASSERT_TRUE(is_chunked(whole_delta.head)) << whole_delta.head;
  ASSERT_TRUE(whole_delta.complete);
  ASSERT_TRUE(json::accept(whole_delta.payload));
  const RawReply whole_list = raw_get(sim->port(), "/api/machines", tok);
  ASSERT_TRUE(content_length(whole_list.head)) << whole_list.head;
  ASSERT_TRUE(whole_list.complete);

  mdesim::Faults f;
  f.reset_connection = 1;
  f.reset_endpoint = "export.vulnerabilities.delta";
  f.reset_after_bytes = 135;
  sim->add_faults(f);
  const RawReply cut_delta = raw_get(sim->port(), delta, tok);
  EXPECT_NE(cut_delta.head.find(" 200 "), std::string::npos) << cut_delta.head;
  EXPECT_TRUE(cut_delta.closed);
  EXPECT_FALSE(cut_delta.complete) << cut_delta.body;
  EXPECT_EQ(cut_delta.payload, whole_delta.payload.substr(0, 135));
  // An HTTP client sees a failed transfer, not a shorter body.
  sim->add_faults(f);
  EXPECT_FALSE(get(delta, tok));

  f.reset_endpoint = "machines.list";
  f.reset_after_bytes = 200;
  sim->add_faults(f);
  const RawReply cut_list = raw_get(sim->port(), "/api/machines", tok);
  ASSERT_TRUE(content_length(cut_list.head)) << cut_list.head;
  EXPECT_EQ(*content_length(cut_list.head), whole_list.payload.size());
  EXPECT_TRUE(cut_list.closed);
  EXPECT_FALSE(cut_list.complete);
  EXPECT_EQ(cut_list.payload, whole_list.payload.substr(0, 200));
  sim->add_faults(f);
  EXPECT_FALSE(get("/api/machines", tok));
  // Used up: the next replies are whole again.
  EXPECT_EQ(raw_get(sim->port(), delta, tok).payload, whole_delta.payload);
  EXPECT_EQ(raw_get(sim->port(), "/api/machines", tok).payload, whole_list.payload);
}

// What the fault matrix needs on a small tenant: a looping nextLink aimed at one endpoint
// (the others page on normally and leave it pending, as GET /sim/faults shows), and a
// change feed in several pages without a pageSize in the request.
TEST_F(SimTest, LoopingNextLinkForOneEndpointAndASmallExportPageSize) {
  auto o = small_options();
  o.odata_page_size = 7;
  o.export_page_size = 3;
  start(o);
  const std::string tok = token();
  ASSERT_EQ(cli->Post("/sim/faults", R"({"loopingNextLink":1,"loopingEndpoint":"software.list"})",
                      "application/json")
                ->status,
            200);
  const json m = get_json("/api/machines", tok);
  EXPECT_NE(m["@odata.nextLink"].get<std::string>().find("$skip=7"), std::string::npos);
  json pending = json::parse(cli->Get("/sim/faults")->body);
  EXPECT_EQ(pending["loopingNextLink"], 1);
  EXPECT_EQ(pending["loopingEndpoint"], "software.list");
  const json sw = get_json("/api/software", tok);
  const std::string lost = sw["@odata.nextLink"];
  EXPECT_TRUE(lost.ends_with("?$skip=0")) << lost;  // Q2: the same page again
  EXPECT_EQ(json::parse(cli->Get("/sim/faults")->body)["loopingNextLink"], 0);

  sim->advance(6);
  const std::string since = "2026-01-05T06:00:00Z";
  int pages = 0;
  const auto events = all_pages(
      "/api/machines/SoftwareVulnerabilityChangesByMachine?sinceTime=" + since, tok, &pages);
  ASSERT_GT(events.size(), 3U);
  EXPECT_EQ(pages, static_cast<int>((events.size() + 2) / 3));
  EXPECT_EQ(get_json("/api/machines/SoftwareVulnerabilitiesByMachine", tok)["value"].size(), 3U);
}

// holdBody: the first piece of the body goes out, the rest waits until the faults are
// cleared; held_bodies() tells the test that the transfer has reached the hold.
TEST_F(SimTest, HoldBodyHoldsADownloadAfterItsFirstPieceUntilTheFaultsAreCleared) {
  const std::string tok = token();
  const std::string url =
      get_json("/api/machines/SoftwareVulnerabilitiesExport", tok)["exportFiles"][0]
          .get<std::string>()
          .substr(sim->base_url().size());
  const std::string clean = cli->Get(url.c_str())->body;
  ASSERT_GT(clean.size(), 1024U);
  mdesim::Faults f;
  f.hold_body = 1;
  f.hold_endpoint = "download";
  sim->add_faults(f);
  EXPECT_EQ(sim->held_bodies(), 0U);
  std::atomic<bool> done{false};
  std::string held;
  std::thread download([&] {
    httplib::Client c(sim->base_url());
    c.set_read_timeout(60, 0);
    auto r = c.Get(url.c_str(), [&](const char* data, std::size_t n) {
      held.append(data, n);
      return true;
    });
    EXPECT_TRUE(r);
    done = true;
  });
  for (int i = 0; i < 6000 && sim->held_bodies() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(sim->held_bodies(), 1U);
  EXPECT_FALSE(done) << "the download ended while held";
  sim->clear_faults();
  download.join();
  EXPECT_TRUE(done);
  EXPECT_EQ(held, clean);
  // The fault was used up: the next download is not held.
  EXPECT_EQ(cli->Get(url.c_str())->body, clean);
  EXPECT_EQ(sim->held_bodies(), 1U);
}

TEST_F(SimTest, FileFaults) {
  const std::string tok = token();
  auto first_url = [&] {
    return get_json("/api/machines/SoftwareVulnerabilitiesExport", tok)["exportFiles"][0]
        .get<std::string>();
  };
  const std::string url = first_url();
  const auto clean = download_lines(url);
  auto raw = [&](const std::string& u) {
    return cli->Get(u.substr(sim->base_url().size()).c_str());
  };
  mdesim::Faults f;
  f.truncated_gzip = 1;
  sim->add_faults(f);
  auto r = raw(url);
  EXPECT_EQ(r->status, 200);
  EXPECT_FALSE(mdesim::gunzip_string(r->body).has_value());
  f = {};
  f.malformed_json_line = 1;
  sim->add_faults(f);
  const auto bad = download_lines(url);
  EXPECT_FALSE(json::accept(bad[1]));
  f = {};
  f.pascal_case_keys = 1;
  sim->add_faults(f);
  EXPECT_TRUE(json::parse(download_lines(url)[0]).contains("DeviceId"));
  f = {};
  f.duplicate_rows = 1;
  sim->add_faults(f);
  EXPECT_GT(download_lines(url).size(), clean.size());
  f = {};
  f.extra_fields = 1;
  sim->add_faults(f);
  EXPECT_TRUE(json::parse(download_lines(url)[0]).contains("simUnknownColumn"));
  f = {};
  f.expired_sas = 1;
  sim->add_faults(f);
  EXPECT_EQ(raw(url)->status, 403);
  EXPECT_EQ(raw(url)->status, 200);
  f = {};
  f.empty_export_file = 1;
  sim->add_faults(f);
  const json listing = get_json("/api/machines/SoftwareVulnerabilitiesExport", tok);
  const std::string last = listing["exportFiles"].back();
  r = raw(last);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->body.empty());
  EXPECT_EQ(download_lines(url), clean);
}

TEST_F(SimTest, EmptyTenantAnswers404OnMachines) {
  auto o = small_options();
  o.world.machines = 0;
  start(o);
  const json e = get_json("/api/machines", token(), 404);
  EXPECT_EQ(e["error"]["code"], "NotFound");
}

TEST_F(SimTest, DeterministicFromSeed) {
  const auto a = sim->truth();
  auto o = small_options();
  start(o);
  EXPECT_EQ(sim->truth().open_finding_keys, a.open_finding_keys);
  o.world.seed = 2;
  start(o);
  EXPECT_NE(sim->truth().open_finding_keys, a.open_finding_keys);
}

TEST_F(SimTest, Https) {
  const auto dir = std::filesystem::path(MDESYNC_BINARY_DIR) / "sim-test-tls";
  std::filesystem::create_directories(dir);
  const std::string cmd =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -keyout " +
      (dir / "key.pem").string() + " -out " + (dir / "cert.pem").string() + " >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) GTEST_SKIP() << "openssl command not available";
  auto o = small_options();
  o.tls_cert = (dir / "cert.pem").string();
  o.tls_key = (dir / "key.pem").string();
  auto s = mdesim::Simulator::start(o);
  ASSERT_TRUE(s.has_value()) << s.error().describe();
  EXPECT_EQ((*s)->base_url().rfind("https://", 0), 0U);
  httplib::SSLClient c("127.0.0.1", (*s)->port());
  c.enable_server_certificate_verification(false);
  auto r = c.Get("/sim/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

}  // namespace
