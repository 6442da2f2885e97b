#include "source_reader.hpp"

#include <cmath>
#include <string>

namespace mdesync::golden {
namespace {

using nlohmann::json;

const json* member(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

defender::OptString str(const json& j, const char* key) {
  const json* v = member(j, key);
  if (v == nullptr) return std::nullopt;
  if (v->is_string()) return v->get<std::string>();
  if (v->is_number_integer()) return std::to_string(v->get<std::int64_t>());
  return v->dump();
}

defender::OptInt integer(const json& j, const char* key) {
  const json* v = member(j, key);
  if (v == nullptr) return std::nullopt;
  if (v->is_number()) return v->get<std::int64_t>();
  if (v->is_string()) return std::stoll(v->get<std::string>());
  return std::nullopt;
}

defender::OptDouble number(const json& j, const char* key) {
  const json* v = member(j, key);
  if (v == nullptr) return std::nullopt;
  if (v->is_number()) return v->get<double>();
  if (v->is_string() && !v->get<std::string>().empty()) return std::stod(v->get<std::string>());
  return std::nullopt;
}

defender::OptBool boolean(const json& j, const char* key) {
  const json* v = member(j, key);
  if (v == nullptr || !v->is_boolean()) return std::nullopt;
  return v->get<bool>();
}

defender::OptTime time(const json& j, const char* key) {
  const auto s = str(j, key);
  if (!s || s->empty()) return std::nullopt;
  auto t = util::parse_timestamp(*s);
  if (!t) return std::nullopt;
  return *t;
}

std::vector<std::string> strings(const json& j, const char* key) {
  std::vector<std::string> out;
  const json* v = member(j, key);
  if (v == nullptr || !v->is_array()) return out;
  for (const auto& item : *v) {
    if (item.is_string()) out.push_back(item.get<std::string>());
  }
  return out;
}

}  // namespace

defender::Machine read_machine(const json& j) {
  defender::Machine m;
  m.id = str(j, "id").value_or("");
  m.merged_into_machine_id = str(j, "mergedIntoMachineId");
  m.is_potential_duplication = boolean(j, "isPotentialDuplication");
  m.is_excluded = boolean(j, "isExcluded");
  m.exclusion_reason = str(j, "exclusionReason");
  m.computer_dns_name = str(j, "computerDnsName");
  m.first_seen = time(j, "firstSeen");
  m.last_seen = time(j, "lastSeen");
  m.os_platform = str(j, "osPlatform");
  m.os_version = str(j, "osVersion");
  m.os_processor = str(j, "osProcessor");
  m.version = str(j, "version");
  m.last_ip_address = str(j, "lastIpAddress");
  m.last_external_ip_address = str(j, "lastExternalIpAddress");
  m.agent_version = str(j, "agentVersion");
  m.os_build = integer(j, "osBuild");
  m.health_status = str(j, "healthStatus");
  m.device_value = str(j, "deviceValue");
  m.rbac_group_id = str(j, "rbacGroupId");
  m.rbac_group_name = str(j, "rbacGroupName");
  m.risk_score = str(j, "riskScore");
  m.exposure_level = str(j, "exposureLevel");
  m.is_aad_joined = boolean(j, "isAadJoined");
  m.aad_device_id = str(j, "aadDeviceId");
  m.machine_tags = strings(j, "machineTags");
  m.defender_av_status = str(j, "defenderAvStatus");
  m.onboarding_status = str(j, "onboardingStatus");
  m.os_architecture = str(j, "osArchitecture");
  m.managed_by = str(j, "managedBy");
  m.managed_by_status = str(j, "managedByStatus");
  if (const json* ips = member(j, "ipAddresses")) {
    for (const auto& ip : *ips) {
      m.ip_addresses.push_back({str(ip, "ipAddress"), str(ip, "macAddress"), str(ip, "type"),
                                str(ip, "operationalStatus")});
    }
  }
  if (const json* vm = member(j, "vmMetadata")) {
    m.vm_metadata = defender::VmMetadata{str(*vm, "vmId"), str(*vm, "cloudProvider"),
                                         str(*vm, "resourceId"), str(*vm, "subscriptionId")};
  }
  m.team_id = str(j, "team_id");
  m.team_name = str(j, "team_name");
  m.uptime = str(j, "uptime");
  return m;
}

defender::Software read_software(const json& j) {
  defender::Software s;
  s.id = str(j, "id").value_or("");
  s.name = str(j, "name");
  s.vendor = str(j, "vendor");
  s.weaknesses = integer(j, "weaknesses");
  s.public_exploit = boolean(j, "publicExploit");
  s.active_alert = boolean(j, "activeAlert");
  s.exposed_machines = integer(j, "exposedMachines");
  s.impact_score = number(j, "impactScore");
  return s;
}

defender::Distribution read_distribution(const json& j) {
  return {str(j, "version").value_or(""), integer(j, "installations"),
          integer(j, "vulnerabilities")};
}

defender::InventoryRow read_inventory_row(const json& j) {
  defender::InventoryRow r;
  r.device_id = str(j, "deviceId").value_or("");
  r.device_name = str(j, "deviceName");
  r.os_platform = str(j, "osPlatform");
  r.rbac_group_name = str(j, "rbacGroupName");
  r.rbac_group_id = str(j, "rbacGroupId");
  r.software_vendor = str(j, "softwareVendor");
  r.software_name = str(j, "softwareName");
  r.software_version = str(j, "softwareVersion");
  r.number_of_weaknesses = integer(j, "numberOfWeaknesses");
  r.disk_paths = strings(j, "diskPaths");
  r.registry_paths = strings(j, "registryPaths");
  r.software_first_seen_timestamp = time(j, "softwareFirstSeenTimestamp");
  r.end_of_support_status = str(j, "endOfSupportStatus");
  r.end_of_support_date = time(j, "endOfSupportDate");
  r.software_last_seen_timestamp = time(j, "softwareLastSeenTimestamp");
  r.registry_path = str(j, "registryPath");
  return r;
}

defender::MachineReference read_machine_reference(const json& j) {
  return {str(j, "id").value_or(""), str(j, "computerDnsName"), str(j, "osPlatform"),
          str(j, "rbacGroupName"), str(j, "rbacGroupId")};
}

defender::VulnerabilityRow read_vulnerability_row(const json& j) {
  defender::VulnerabilityRow r;
  r.id = str(j, "id");
  r.device_id = str(j, "deviceId").value_or("");
  r.device_name = str(j, "deviceName");
  r.rbac_group_name = str(j, "rbacGroupName");
  r.rbac_group_id = str(j, "rbacGroupId");
  r.os_platform = str(j, "osPlatform");
  r.os_version = str(j, "osVersion");
  r.os_architecture = str(j, "osArchitecture");
  r.software_vendor = str(j, "softwareVendor");
  r.software_name = str(j, "softwareName");
  r.software_version = str(j, "softwareVersion");
  r.cve_id = str(j, "cveId");
  r.cvss_score = number(j, "cvssScore");
  r.vulnerability_severity_level = str(j, "vulnerabilitySeverityLevel");
  r.recommended_security_update = str(j, "recommendedSecurityUpdate");
  r.recommended_security_update_id = str(j, "recommendedSecurityUpdateId");
  r.recommended_security_update_url = str(j, "recommendedSecurityUpdateUrl");
  r.disk_paths = strings(j, "diskPaths");
  r.registry_paths = strings(j, "registryPaths");
  r.first_seen_timestamp = time(j, "firstSeenTimestamp");
  r.last_seen_timestamp = time(j, "lastSeenTimestamp");
  r.exploitability_level = str(j, "exploitabilityLevel");
  r.recommendation_reference = str(j, "recommendationReference");
  r.security_update_available = boolean(j, "securityUpdateAvailable");
  r.is_onboarded = boolean(j, "isOnboarded");
  r.status = str(j, "status");
  r.event_timestamp = time(j, "eventTimestamp");
  return r;
}

defender::Vulnerability read_vulnerability(const json& j) {
  defender::Vulnerability v;
  v.id = str(j, "id").value_or("");
  v.name = str(j, "name");
  v.description = str(j, "description");
  v.severity = str(j, "severity");
  v.cvss_v3 = number(j, "cvssV3");
  v.cvss_vector = str(j, "cvssVector");
  v.cvss_v2_vector = str(j, "cvssV2Vector");
  v.exposed_machines = integer(j, "exposedMachines");
  v.published_on = time(j, "publishedOn");
  v.updated_on = time(j, "updatedOn");
  v.first_detected = time(j, "firstDetected");
  v.public_exploit = boolean(j, "publicExploit");
  v.exploit_verified = boolean(j, "exploitVerified");
  v.exploit_in_kit = boolean(j, "exploitInKit");
  v.exploit_types = strings(j, "exploitTypes");
  v.exploit_uris = strings(j, "exploitUris");
  v.cve_supportability = str(j, "cveSupportability");
  v.tags = strings(j, "tags");
  v.epss = number(j, "epss");
  return v;
}

defender::Recommendation read_recommendation(const json& j) {
  defender::Recommendation r;
  r.id = str(j, "id").value_or("");
  r.recommendation_name = str(j, "recommendationName");
  r.related_component = str(j, "relatedComponent");
  r.has_unpatchable_cve = boolean(j, "hasUnpatchableCve");
  r.product_name = str(j, "productName");
  r.vendor = str(j, "vendor");
  return r;
}

}  // namespace mdesync::golden
