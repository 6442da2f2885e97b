#include "ground_truth.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "model/model.hpp"

namespace mdesync::testing_support {
namespace {

using json = nlohmann::ordered_json;
using Row = std::map<std::string, json>;   // column -> value
using Table = std::map<std::string, Row>;  // uid -> row

// Connector-managed columns: not model attributes.
const std::set<std::string> k_managed = {"id", "first_synced_at", "last_changed_at", "last_run_id",
                                         "row_hash"};

// ---- rules, restated from docs/model.md and docs/mapping.md ---------------------------

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

json opt(const json& record, const char* key) {
  const auto it = record.find(key);
  return it == record.end() ? json(nullptr) : *it;
}

// A source time (ISO 8601 with Z, 0-7 fraction digits, or the exports' "yyyy-MM-dd
// HH:mm:ss[.f]", or with a +00:00 offset) as the store writes it: 6 fraction digits, Z.
json store_time(const json& v) {
  if (v.is_null()) return nullptr;
  std::string s = v.get<std::string>();
  if (s.size() > 10 && s[10] == ' ') s[10] = 'T';
  if (s.ends_with("+00:00")) s.resize(s.size() - 6);
  if (s.ends_with("Z")) s.pop_back();
  std::string frac;
  if (const auto dot = s.find('.'); dot != std::string::npos) {
    frac = s.substr(dot + 1);
    s.resize(dot);
  }
  frac.resize(6, '0');  // pads, or drops a 7th digit
  return s + "." + frac + "Z";
}

// The host-name rule: the lower-cased name and, for a FQDN, its first label.
json host_names(const json& dns) {
  json out = json::array();
  if (dns.is_null() || dns.get<std::string>().empty()) return out;
  const std::string name = lower(dns.get<std::string>());
  out.push_back(name);
  if (const auto dot = name.find('.'); dot != std::string::npos) out.push_back(name.substr(0, dot));
  return out;
}

json severity_of(const json& v) {
  if (v.is_null()) return "Unknown";
  const std::string s = lower(v.get<std::string>());
  for (const char* level : {"Critical", "High", "Medium", "Low"}) {
    if (s == lower(level)) return level;
  }
  return "Unknown";
}

bool is_private_ip(const std::string& ip) {
  // The simulator's private addresses: 10/8 and fe80::/10 (RFC 1918, link-local).
  return ip.starts_with("10.") || lower(ip).starts_with("fe80:");
}

json mac_of(const std::string& raw) {
  std::string out;
  for (std::size_t i = 0; i < raw.size(); i += 2) {
    if (!out.empty()) out += ':';
    out += raw.substr(i, 2);
  }
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

std::string platform_class(const std::string& platform) {
  const std::string p = lower(platform);
  if (p.find("server") != std::string::npos || p.find("linux") != std::string::npos) {
    return "Server";
  }
  if (p.starts_with("windows") || p.starts_with("macos")) return "Workstation";
  if (p.starts_with("ios") || p.starts_with("android")) return "Mobile";
  return "Other";
}

std::string id_text(const json& v) {
  return v.is_number() ? std::to_string(v.get<std::int64_t>()) : v.get<std::string>();
}

json text_or_null(const json& v) {
  if (v.is_null()) return nullptr;
  return id_text(v);
}

// Source-only fields are copied as sent (docs/model.md): a declared source-only field
// that the object's rule below does not restate expects the record's member of the same
// name, absent as null, a time as the store writes it. The declaration gives only the
// pairs of names; the values come from the world, so a field the decoder, the mapping or
// the store leaves out fails here without an edit of this file.
template <typename Object>
void add_source_fields(Row& r, const json& record) {
  model::for_each_attribute<Object>([&](const auto& a) {
    using T = typename std::remove_cvref_t<decltype(a)>::value_type;
    if (a.info.group != model::AttrGroup::source) return;
    const std::string column(model::unquoted_column(a.info));
    if (r.contains(column)) return;
    const auto it = record.find(std::string(a.info.name));
    const json value = it == record.end() ? json(nullptr) : *it;
    r[column] = std::is_same_v<T, model::OptTime> ? store_time(value) : value;
  });
}

Row host_row(const json& m) {
  Row r;
  const std::string dns = m.at("computerDnsName").get<std::string>();
  r["uid"] = m.at("id");
  r["name"] = lower(dns);
  const json aad = opt(m, "aadDeviceId");
  r["aad_device_id"] =
      aad.is_null() || aad == "00000000-0000-0000-0000-000000000000" ? json() : aad;
  r["hostnames"] = host_names(dns);
  r["private_dns_names"] = json::array({lower(dns)});  // no public cloud suffix
  r["public_dns_names"] = json::array();
  json ips = json::array();
  auto add_ip = [&](const json& v) {
    if (v.is_null()) return;
    const std::string ip = v.get<std::string>();
    if (ip.starts_with("127.") || ip == "::1") return;
    if (std::find(ips.begin(), ips.end(), json(ip)) == ips.end()) ips.push_back(ip);
  };
  json macs = json::array();
  for (const auto& a : m.at("ipAddresses")) {
    add_ip(a.at("ipAddress"));
    if (!a.at("macAddress").is_null()) {
      const json mac = mac_of(a.at("macAddress").get<std::string>());
      if (std::find(macs.begin(), macs.end(), mac) == macs.end()) macs.push_back(mac);
    }
  }
  add_ip(m.at("lastIpAddress"));
  add_ip(m.at("lastExternalIpAddress"));
  r["ip_addresses"] = ips;
  json private_ips = json::array();
  for (const auto& ip : ips) {
    if (is_private_ip(ip.get<std::string>())) private_ips.push_back(ip);
  }
  r["private_ip_addresses"] = private_ips;
  r["public_ip_address"] = m.at("lastExternalIpAddress");
  r["mac_addresses"] = macs;
  const std::string platform = m.at("osPlatform").get<std::string>();
  const json version = opt(m, "osVersion").is_null() ? m.at("version") : m.at("osVersion");
  const std::string arch = m.at("osArchitecture").get<std::string>();
  const json build = opt(m, "osBuild");
  std::string os = platform + " " + version.get<std::string>() + " " + arch;
  std::string description = platform + " " + arch + " device";
  if (!build.is_null()) {
    os += " build " + std::to_string(build.get<std::int64_t>());
    description += ", build " + std::to_string(build.get<std::int64_t>());
  }
  r["os"] = os;
  r["description"] = description;
  const std::string health = m.at("healthStatus").get<std::string>();
  r["status"] = health == "Inactive" ? "Inactive" : "Active";
  r["source_status"] = health;
  r["last_seen"] = store_time(m.at("lastSeen"));
  r["first_seen"] = store_time(m.at("firstSeen"));
  r["tags"] = m.at("machineTags");
  const json vm = opt(m, "vmMetadata");
  json instance = vm.is_null() ? json() : vm.at("vmId");
  for (const auto& tag : m.at("machineTags")) {
    const std::string t = tag.get<std::string>();
    if (lower(t).starts_with("instanceid:") || lower(t).starts_with("instanceid=")) {
      instance = t.substr(11);
      break;
    }
  }
  r["instance_id"] = instance;
  r["cloud_provider"] = vm.is_null() ? json() : vm.at("cloudProvider");
  json categories = json::array({"Host", platform_class(platform)});
  if (!vm.is_null()) categories.push_back("Cloud instance");
  r["categories"] = categories;
  r["merged_into_machine_id"] = m.at("mergedIntoMachineId");
  r["potential_duplication"] = m.at("isPotentialDuplication");
  r["source_risk_rating"] = m.at("riskScore");
  r["rbac_group_id"] = text_or_null(m.at("rbacGroupId"));
  r["resource_id"] = vm.is_null() ? json() : vm.at("resourceId");
  r["subscription_id"] = vm.is_null() ? json() : vm.at("subscriptionId");
  add_source_fields<model::Host>(r, m);
  return r;
}

Row package_row(const json& s) {
  Row r;
  r["uid"] = s.at("id");
  r["name"] = s.at("name");
  r["status"] = "Active";
  json categories = json::array({"Software"});
  if (s.at("weaknesses").get<std::int64_t>() > 0) categories.push_back("Vulnerable");
  if (s.at("publicExploit").get<bool>()) categories.push_back("Exploitable");
  if (s.at("activeAlert").get<bool>()) categories.push_back("Alerting");
  r["categories"] = categories;
  r["vendor"] = s.at("vendor");
  r["weaknesses"] = s.at("weaknesses");
  r["public_exploit"] = s.at("publicExploit");
  r["active_alert"] = s.at("activeAlert");
  r["exposed_machines"] = s.at("exposedMachines");
  r["impact_score"] = s.at("impactScore");
  // The distributions, ordered by version text (docs/mapping.md, "Package").
  std::vector<json> versions(s.at("distributions").begin(), s.at("distributions").end());
  std::sort(versions.begin(), versions.end(), [](const json& a, const json& b) {
    return a.at("version").get<std::string>() < b.at("version").get<std::string>();
  });
  r["versions"] = versions;
  add_source_fields<model::Package>(r, s);
  return r;
}

std::string software_id(const json& row) {
  return lower(row.at("softwareVendor").get<std::string>()) + "-_-" +
         lower(row.at("softwareName").get<std::string>());
}

Row installed_package_row(const json& i) {
  Row r;
  const std::string device = i.at("deviceId").get<std::string>();
  r["uid"] = device + "_" + software_id(i);
  r["name"] = i.at("softwareName");
  r["type"] = software_id(i);
  r["targets"] = device;
  r["dns_names"] = host_names(i.at("deviceName"));
  r["os"] = i.at("osPlatform");
  r["version"] = json::array({i.at("softwareVersion")});
  r["status"] = "Installed";
  r["first_seen"] = store_time(i.at("softwareFirstSeenTimestamp"));
  r["end_of_support_status"] = i.at("endOfSupportStatus");
  r["end_of_support_date"] = store_time(i.at("endOfSupportDate"));
  r["rbac_group_id"] = text_or_null(i.at("rbacGroupId"));
  r["rbac_group_name"] = i.at("rbacGroupName");
  r["disk_paths"] = i.at("diskPaths");
  r["registry_paths"] = i.at("registryPaths");
  r["number_of_weaknesses"] = i.at("numberOfWeaknesses");
  add_source_fields<model::InstalledPackage>(r, i);
  return r;
}

Row vulnerability_row(const json& f, const std::string& snapshot_time) {
  Row r;
  const std::string device = f.at("deviceId").get<std::string>();
  const std::string vendor = f.at("softwareVendor").get<std::string>();
  const std::string name = f.at("softwareName").get<std::string>();
  const std::string version = f.at("softwareVersion").get<std::string>();
  const std::string cve = f.at("cveId").get<std::string>();
  r["uid"] = device + "_" + lower(vendor) + "_" + lower(name) + "_" + version + "_" + cve;
  r["source_uid"] = f.at("id");
  r["type"] = cve;
  r["targets"] = device;
  r["hostnames"] = host_names(f.at("deviceName"));
  r["first_found"] = store_time(f.at("firstSeenTimestamp"));
  r["last_found"] = store_time(f.at("lastSeenTimestamp"));
  r["source_last_modified"] = nullptr;
  r["last_fixed"] = nullptr;
  r["status"] = "Active";
  r["status_category"] = "Open";
  r["source_status"] = nullptr;
  r["severity"] = severity_of(f.at("vulnerabilitySeverityLevel"));
  r["source_severity"] = f.at("vulnerabilitySeverityLevel");
  std::string results = "Software: " + vendor + " " + name + " " + version;
  for (const auto& p : f.at("diskPaths")) results += "\nPath: " + p.get<std::string>();
  for (const auto& p : f.at("registryPaths")) results += "\nRegistry: " + p.get<std::string>();
  std::string update;
  auto part = [&](const json& v, const std::string& before, const std::string& after) {
    if (v.is_null() || v.get<std::string>().empty()) return;
    if (!update.empty()) update += ' ';
    update += before + v.get<std::string>() + after;
  };
  part(opt(f, "recommendedSecurityUpdate"), "", "");
  part(opt(f, "recommendedSecurityUpdateId"), "(", ")");
  part(opt(f, "recommendedSecurityUpdateUrl"), "", "");
  if (!update.empty()) results += "\nRecommended update: " + update;
  r["results"] = results;
  r["state_time"] = store_time(json(snapshot_time));
  r["rbac_group_id"] = text_or_null(f.at("rbacGroupId"));
  r["rbac_group_name"] = f.at("rbacGroupName");
  r["os_platform"] = f.at("osPlatform");
  r["os_version"] = f.at("osVersion");
  r["os_architecture"] = f.at("osArchitecture");
  r["cvss_score"] = f.at("cvssScore");
  r["exploitability_level"] = f.at("exploitabilityLevel");
  r["recommendation_reference"] = f.at("recommendationReference");
  r["recommended_security_update"] = opt(f, "recommendedSecurityUpdate");
  r["recommended_security_update_id"] = opt(f, "recommendedSecurityUpdateId");
  r["recommended_security_update_url"] = opt(f, "recommendedSecurityUpdateUrl");
  r["security_update_available"] = f.at("securityUpdateAvailable");
  r["is_onboarded"] = opt(f, "isOnboarded");
  r["software_vendor"] = vendor;
  r["software_name"] = name;
  r["software_version"] = version;
  add_source_fields<model::Vulnerability>(r, f);
  return r;
}

// CVSS v3.x metric values by their full names (the specifications' names; v3.0 calls
// AV:A "Adjacent Network", v3.1 "Adjacent").
const std::map<std::string, std::map<std::string, std::string>> k_v3_names = {
    {"AV", {{"N", "Network"}, {"A", "Adjacent"}, {"L", "Local"}, {"P", "Physical"}}},
    {"AC", {{"L", "Low"}, {"H", "High"}}},
    {"PR", {{"N", "None"}, {"L", "Low"}, {"H", "High"}}},
    {"UI", {{"N", "None"}, {"R", "Required"}}},
    {"S", {{"U", "Unchanged"}, {"C", "Changed"}}},
    {"C", {{"N", "None"}, {"L", "Low"}, {"H", "High"}}},
    {"I", {{"N", "None"}, {"L", "Low"}, {"H", "High"}}},
    {"A", {{"N", "None"}, {"L", "Low"}, {"H", "High"}}},
};

Row definition_row(const json& v, const json& recommendations) {
  Row r;
  const std::string id = v.at("id").get<std::string>();
  r["uid"] = id;
  const json cve_ids = id.starts_with("CVE-") ? json::array({id}) : json::array();
  r["cve_ids"] = cve_ids;
  r["cve_records"] = cve_ids;
  r["name"] = v.at("name");
  r["description"] = v.at("description");
  std::string summary = v.at("description").get<std::string>();
  if (summary.starts_with("Summary: ")) summary = summary.substr(9);
  if (const auto end = summary.find(". "); end != std::string::npos) summary.resize(end + 1);
  r["summary"] = summary;
  r["severity"] = severity_of(v.at("severity"));
  r["source_severity"] = v.at("severity");
  r["cvss_v3_base_score"] = v.at("cvssV3");
  r["exploits"] = v.at("exploitUris");
  r["references"] = v.at("exploitUris");
  r["exploitability"] = v.at("exploitInKit").get<bool>()      ? "Actively used"
                        : v.at("exploitVerified").get<bool>() ? "Exploit verified"
                        : v.at("publicExploit").get<bool>()   ? "Public exploit"
                                                              : "No known exploit";
  r["published_date"] = store_time(v.at("publishedOn"));
  r["source_last_modified"] = store_time(v.at("updatedOn"));
  json affected = json::array();
  json names = json::array();
  bool any = false;
  bool unpatchable = false;
  for (const auto& rec : recommendations) {
    const auto& ids = rec.at("cveIds");
    if (std::find(ids.begin(), ids.end(), json(id)) == ids.end()) continue;
    any = true;
    unpatchable = unpatchable || rec.at("hasUnpatchableCve").get<bool>();
    if (std::find(affected.begin(), affected.end(), rec.at("relatedComponent")) == affected.end()) {
      affected.push_back(rec.at("relatedComponent"));
    }
    if (std::find(names.begin(), names.end(), rec.at("recommendationName")) == names.end()) {
      names.push_back(rec.at("recommendationName"));
    }
  }
  r["patch_available"] = any ? json(!unpatchable) : json();
  r["affected"] = affected;
  r["recommendation"] = names;
  r["epss"] = v.at("epss");
  // The vector: "CVSS:3.1/AV:N/AC:L/...", each metric by its full name.
  const std::string vector = v.at("cvssVector").get<std::string>();
  r["cvss_v3_vector"] = vector;
  std::map<std::string, std::string> metrics;
  for (std::size_t start = vector.find('/') + 1; start != 0 && start < vector.size();) {
    const auto slash = vector.find('/', start);
    const std::string part = vector.substr(start, slash - start);
    const auto colon = part.find(':');
    metrics[part.substr(0, colon)] = part.substr(colon + 1);
    start = slash == std::string::npos ? vector.size() : slash + 1;
  }
  for (const auto& [metric, names_of] : k_v3_names) {
    const std::string column = metric == "C"   ? "ci"
                               : metric == "I" ? "ii"
                               : metric == "A" ? "ai"
                                               : lower(metric);
    std::string value = names_of.at(metrics.at(metric));
    if (value == "Adjacent" && vector.starts_with("CVSS:3.0/")) value = "Adjacent Network";
    r["cvss_v3_" + column] = value;
  }
  r["cvss_v3_e"] = nullptr;  // no temporal metrics in the simulator's vectors
  r["cvss_v3_rl"] = nullptr;
  r["cvss_v3_rc"] = nullptr;
  r["cvss_v3_computed_base_score"] = v.at("cvssV3");  // mdesim scores its vectors itself
  r["cvss_v3_temporal_score"] = nullptr;
  for (const char* c : {"vector", "av", "ac", "au", "ci", "ii", "ai", "e", "rl", "rc", "base_score",
                        "temporal_score"}) {
    r[std::string("cvss_v2_") + c] = nullptr;  // no v2 vectors in the simulator
  }
  r["exploit_types"] = v.at("exploitTypes");
  r["exposed_machines"] = v.at("exposedMachines");
  r["first_detected"] = store_time(v.at("firstDetected"));
  r["cve_supportability"] = v.at("cveSupportability");
  r["tags"] = v.at("tags");
  r["public_exploit"] = v.at("publicExploit");
  r["exploit_verified"] = v.at("exploitVerified");
  r["exploit_in_kit"] = v.at("exploitInKit");
  add_source_fields<model::VulnerabilityDefinition>(r, v);
  return r;
}

std::map<std::string, Table> expected_tables(const json& world) {
  std::map<std::string, Table> t;
  for (const auto& m : world.at("machines")) t["host"][m.at("id").get<std::string>()] = host_row(m);
  for (const auto& s : world.at("software")) {
    t["package"][s.at("id").get<std::string>()] = package_row(s);
  }
  for (const auto& i : world.at("inventory")) {
    Row r = installed_package_row(i);
    t["installed_package"][r.at("uid").get<std::string>()] = std::move(r);
  }
  const std::string snapshot = world.at("snapshotTime").get<std::string>();
  for (const auto& f : world.at("findings")) {
    Row r = vulnerability_row(f, snapshot);
    t["vulnerability"][r.at("uid").get<std::string>()] = std::move(r);
  }
  for (const auto& v : world.at("vulnerabilities")) {
    t["vulnerability_definition"][v.at("id").get<std::string>()] =
        definition_row(v, world.at("recommendations"));
  }
  return t;
}

// ---- the store ------------------------------------------------------------------------

Table stored_table(sqlite3* db, const std::string& table) {
  sqlite3_stmt* st = nullptr;
  const std::string sql = "SELECT * FROM " + table;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
    throw std::runtime_error(sqlite3_errmsg(db));
  }
  Table out;
  const int n = sqlite3_column_count(st);
  while (sqlite3_step(st) == SQLITE_ROW) {
    Row row;
    for (int c = 0; c < n; ++c) {
      const std::string name = sqlite3_column_name(st, c);
      if (k_managed.contains(name)) continue;
      switch (sqlite3_column_type(st, c)) {
        case SQLITE_NULL:
          row[name] = nullptr;
          break;
        case SQLITE_INTEGER:
          row[name] = sqlite3_column_int64(st, c);
          break;
        case SQLITE_FLOAT:
          row[name] = sqlite3_column_double(st, c);
          break;
        default:
          row[name] = std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, c)));
      }
    }
    out[row.at("uid").get<std::string>()] = std::move(row);
  }
  sqlite3_finalize(st);
  return out;
}

// Whether the stored value is the expected one: booleans are stored 0/1, lists and
// objects as JSON text, numbers compared to 1e-9.
bool same(const json& expected, const json& stored) {
  if (expected.is_boolean()) return stored.is_number_integer() && stored == (expected ? 1 : 0);
  if (expected.is_array() || expected.is_object()) {
    return stored.is_string() && json::parse(stored.get<std::string>()) == expected;
  }
  if (expected.is_number() && stored.is_number()) {
    return std::fabs(expected.get<double>() - stored.get<double>()) < 1e-9;
  }
  return expected == stored;
}

}  // namespace

void expect_store_matches_world(const std::string& db_path, const std::string& world_json) {
  const auto expected = expected_tables(json::parse(world_json));
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  for (const auto& [table, rows] : expected) {
    const Table stored = stored_table(db, table);
    EXPECT_EQ(stored.size(), rows.size()) << table << ": stored rows vs the world's";
    int shown = 0;
    std::size_t compared = 0;
    for (const auto& [uid, want] : rows) {
      const auto it = stored.find(uid);
      if (it == stored.end()) {
        if (shown++ < 5) ADD_FAILURE() << table << " " << uid << " is not stored";
        continue;
      }
      for (const auto& [column, value] : it->second) {
        const auto w = want.find(column);
        if (w == want.end()) {
          if (shown++ < 5) ADD_FAILURE() << table << "." << column << ": no expected value";
        } else if (!same(w->second, value)) {
          if (shown++ < 5) {
            ADD_FAILURE() << table << " " << uid << " " << column << ": stored " << value.dump()
                          << ", the world says " << w->second.dump();
          }
        } else {
          ++compared;
        }
      }
      for (const auto& [column, value] : want) {
        if (!it->second.contains(column) && shown++ < 5) {
          ADD_FAILURE() << table << "." << column << " is expected but not a stored column";
        }
      }
    }
    for (const auto& [uid, row] : stored) {
      if (!rows.contains(uid) && shown++ < 5) ADD_FAILURE() << table << " " << uid << " is extra";
    }
    EXPECT_GT(compared, rows.size()) << table;
  }
  sqlite3_close(db);
}

}  // namespace mdesync::testing_support
