// The world's entities as the OData endpoints show them: machines, machine references,
// software, vulnerabilities, findings (machinesVulnerabilities) and recommendations.

#include <algorithm>
#include <cmath>

#include "world.hpp"
#include "world_catalog.hpp"

namespace mdesim {

nlohmann::ordered_json World::machine_json(std::uint32_t mi) const {
  const Machine& m = machines[mi];
  using json = nlohmann::ordered_json;
  json j = json::object();
  j["id"] = m.id;
  j["mergedIntoMachineId"] = m.merged_into.empty() ? json(nullptr) : json(m.merged_into);
  j["isPotentialDuplication"] = m.potential_dup;
  j["isExcluded"] = m.excluded;
  j["exclusionReason"] = m.excluded ? json("Duplicate") : json(nullptr);
  j["computerDnsName"] = m.dns;
  j["firstSeen"] = iso_time_frac(m.first_seen, static_cast<int>(mix64(mi) % 10000000));
  j["lastSeen"] = iso_time(last_seen(m));
  j["osPlatform"] = m.platform;
  j["osVersion"] = nullptr;
  j["osProcessor"] = m.os_arch == "64-bit" ? "x64" : "x86";
  const Install& os = m.installs.empty() ? Install{} : m.installs[m.os_install];
  const OsSpec& spec = k_os[std::min<std::size_t>(os.product, k_os.size() - 1)];
  j["version"] = spec.releases[std::min<std::size_t>(os.version, 3)];
  j["lastIpAddress"] = m.ipv4;
  j["lastExternalIpAddress"] = m.external_ip;
  j["agentVersion"] = m.agent_version;
  const std::int64_t build = spec.builds[std::min<std::size_t>(os.version, 3)];
  j["osBuild"] = build == 0 ? json(nullptr) : json(build);
  j["healthStatus"] = m.inactive_since != 0 ? "Inactive" : "Active";
  j["deviceValue"] = m.value;
  j["rbacGroupId"] = group_id(m.group);
  j["rbacGroupName"] = m.group == 0 ? json(nullptr) : json(group_name(m));
  j["riskScore"] = m.risk;
  j["exposureLevel"] = m.exposure;
  j["isAadJoined"] = m.aad_joined;
  j["aadDeviceId"] = m.aad.empty() ? json(nullptr) : json(m.aad);
  j["machineTags"] = m.tags;
  j["defenderAvStatus"] = "Updated";
  j["onboardingStatus"] = "Onboarded";
  j["osArchitecture"] = m.os_arch;
  j["managedBy"] = m.managed_by;
  j["managedByStatus"] = "Unknown";
  json ips = json::array();
  ips.push_back({{"ipAddress", m.ipv4},
                 {"macAddress", m.mac},
                 {"type", "Ethernet"},
                 {"operationalStatus", "Up"}});
  ips.push_back({{"ipAddress", m.ipv6},
                 {"macAddress", m.mac},
                 {"type", "Ethernet"},
                 {"operationalStatus", "Up"}});
  ips.push_back({{"ipAddress", "127.0.0.1"},
                 {"macAddress", nullptr},
                 {"type", "SoftwareLoopback"},
                 {"operationalStatus", "Up"}});
  j["ipAddresses"] = ips;
  if (m.vm) {
    j["vmMetadata"] = {{"vmId", m.vm_id},
                       {"cloudProvider", "Azure"},
                       {"resourceId", m.resource_id},
                       {"subscriptionId", m.subscription}};
  } else {
    j["vmMetadata"] = nullptr;
  }
  return j;
}

nlohmann::ordered_json World::machine_ref_json(std::uint32_t mi) const {
  const Machine& m = machines[mi];
  return {{"id", m.id},
          {"computerDnsName", m.dns},
          {"osPlatform", m.platform},
          {"rbacGroupName",
           m.group == 0 ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(group_name(m))}};
}

nlohmann::ordered_json World::software_json(std::uint32_t pi) const {
  const Product& p = products[pi];
  bool exploit = false;
  for (const auto& vc : p.version_cves) {
    for (std::uint32_t c : vc) exploit = exploit || cves[c].public_exploit;
  }
  const double impact =
      product_exposed[pi] == 0
          ? 0.0
          : std::round(static_cast<double>(product_weaknesses[pi]) *
                       static_cast<double>(product_exposed[pi]) * 1000.0 /
                       static_cast<double>(std::max<std::size_t>(1, machines.size()))) /
                1000.0;
  return {{"id", p.id},
          {"name", p.name},
          {"vendor", p.vendor},
          {"weaknesses", product_weaknesses[pi]},
          {"publicExploit", exploit && product_weaknesses[pi] > 0},
          {"activeAlert", p.active_alert},
          {"exposedMachines", product_exposed[pi]},
          {"impactScore", impact}};
}

nlohmann::ordered_json World::cve_json(std::uint32_t ci, bool full) const {
  const Cve& c = cves[ci];
  nlohmann::ordered_json j = {{"id", c.id},
                              {"name", c.id},
                              {"description", c.description},
                              {"severity", c.severity},
                              {"cvssV3", c.cvss},
                              {"cvssVector", c.vector},
                              {"exposedMachines", cve_exposed[ci]},
                              {"publishedOn", iso_time(c.published)},
                              {"updatedOn", iso_time(c.updated)},
                              {"publicExploit", c.public_exploit},
                              {"exploitVerified", c.exploit_verified},
                              {"exploitInKit", c.exploit_in_kit},
                              {"exploitTypes", c.exploit_types},
                              {"exploitUris", c.exploit_uris}};
  if (full) {
    j["firstDetected"] = iso_time(std::max(c.published, m_params.start_time - 30 * k_day));
    j["cveSupportability"] = c.supportability;
    j["tags"] = nlohmann::ordered_json::array();
    j["epss"] = c.epss;
  }
  return j;
}

nlohmann::ordered_json World::finding_json(const FindingRef& f) const {
  const Machine& m = machines[f.machine];
  const Install& in = m.installs[f.install];
  const Product& p = products[in.product];
  const Cve& c = cves[f.cve];
  const std::string& ver = p.versions[in.version];
  return {
      {"id", m.id + "-_-" + c.id + "-_-" + p.vendor + "-_-" + p.name + "-_-" + ver + "-_-" + c.kb},
      {"cveId", c.id},
      {"machineId", m.id},
      {"fixingKbId", c.kb.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(c.kb)},
      {"productName", p.name},
      {"productVendor", p.vendor},
      {"productVersion", ver},
      {"severity", c.severity}};
}

nlohmann::ordered_json World::recommendation_json(std::uint32_t pi) const {
  const Product& p = products[pi];
  bool exploit = false;
  bool unpatchable = false;
  for (const auto& vc : p.version_cves) {
    for (std::uint32_t c : vc) {
      exploit = exploit || cves[c].public_exploit;
      unpatchable = unpatchable || cves[c].fixed_in >= p.versions.size();
    }
  }
  const bool upgrade = p.os;
  return {{"id", "va-_-" + p.vendor + "-_-" + p.name},
          {"productName", p.name},
          {"recommendationName", (upgrade ? "Upgrade " : "Update ") + p.display +
                                     (unpatchable ? "" : " to version " + p.versions.back())},
          {"weaknesses", product_weaknesses[pi]},
          {"vendor", p.vendor},
          {"recommendedVersion", unpatchable ? "" : p.versions.back()},
          {"recommendedVendor", ""},
          {"recommendedProgram", ""},
          {"recommendationCategory", p.os ? "OS" : "Application"},
          {"subCategory", ""},
          {"severityScore", 0},
          {"publicExploit", exploit},
          {"activeAlert", p.active_alert},
          {"associatedThreats", nlohmann::ordered_json::array()},
          {"remediationType", upgrade ? "Upgrade" : "Update"},
          {"status", "Active"},
          {"configScoreImpact", 0},
          {"exposureImpact",
           std::round(static_cast<double>(product_exposed[pi]) * 1000.0 /
                      static_cast<double>(std::max<std::size_t>(1, machines.size()))) /
               1000.0},
          {"totalMachineCount", product_installs[pi]},
          {"exposedMachinesCount", product_exposed[pi]},
          {"nonProductivityImpactedAssets", 0},
          {"relatedComponent", p.display},
          {"hasUnpatchableCve", unpatchable},
          {"tags", nlohmann::ordered_json::array()},
          {"exposedCriticalDevices", product_exposed[pi] / 10}};
}

}  // namespace mdesim
