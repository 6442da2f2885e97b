#include "model/json.hpp"

namespace mdesync::model {
namespace {

using nlohmann::json;

template <typename T>
json opt(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}
json opt(const OptTime& v) {
  return v ? json(util::format_timestamp(*v)) : json(nullptr);
}

}  // namespace

json to_json(const Host& r) {
  const auto& s = r.source;
  return {{"uid", r.uid},
          {"name", r.name},
          {"aadDeviceId", opt(r.aad_device_id)},
          {"hostnames", r.hostnames},
          {"privateDnsNames", r.private_dns_names},
          {"publicDnsNames", r.public_dns_names},
          {"ipAddresses", r.ip_addresses},
          {"privateIpAddresses", r.private_ip_addresses},
          {"publicIpAddress", opt(r.public_ip_address)},
          {"macAddresses", r.mac_addresses},
          {"os", opt(r.os)},
          {"description", opt(r.description)},
          {"status", to_string(r.status)},
          {"sourceStatus", opt(r.source_status)},
          {"lastSeen", opt(r.last_seen)},
          {"firstSeen", opt(r.first_seen)},
          {"tags", r.tags},
          {"instanceId", opt(r.instance_id)},
          {"cloudProvider", opt(r.cloud_provider)},
          {"categories", r.categories},
          {"mergedIntoMachineId", opt(r.merged_into_machine_id)},
          {"potentialDuplication", opt(r.potential_duplication)},
          {"sourceRiskRating", opt(r.source_risk_rating)},
          {"source",
           {{"agentVersion", opt(s.agent_version)},
            {"defenderAvStatus", opt(s.defender_av_status)},
            {"deviceValue", opt(s.device_value)},
            {"exclusionReason", opt(s.exclusion_reason)},
            {"exposureLevel", opt(s.exposure_level)},
            {"isAadJoined", opt(s.is_aad_joined)},
            {"isExcluded", opt(s.is_excluded)},
            {"managedBy", opt(s.managed_by)},
            {"managedByStatus", opt(s.managed_by_status)},
            {"onboardingStatus", opt(s.onboarding_status)},
            {"osProcessor", opt(s.os_processor)},
            {"rbacGroupId", opt(s.rbac_group_id)},
            {"rbacGroupName", opt(s.rbac_group_name)},
            {"resourceId", opt(s.resource_id)},
            {"subscriptionId", opt(s.subscription_id)},
            {"team_id", opt(s.team_id)},
            {"team_name", opt(s.team_name)},
            {"uptime", opt(s.uptime)}}}};
}

json to_json(const Package& r) {
  const auto& s = r.source;
  json versions = json::array();
  for (const auto& v : s.versions) {
    versions.push_back({{"version", v.version},
                        {"installations", opt(v.installations)},
                        {"vulnerabilities", opt(v.vulnerabilities)}});
  }
  return {{"uid", r.uid},
          {"name", opt(r.name)},
          {"status", to_string(r.status)},
          {"categories", r.categories},
          {"source",
           {{"vendor", opt(s.vendor)},
            {"weaknesses", opt(s.weaknesses)},
            {"publicExploit", opt(s.public_exploit)},
            {"activeAlert", opt(s.active_alert)},
            {"exposedMachines", opt(s.exposed_machines)},
            {"impactScore", opt(s.impact_score)},
            {"versions", versions}}}};
}

json to_json(const InstalledPackage& r) {
  const auto& s = r.source;
  return {{"uid", r.uid},
          {"name", opt(r.name)},
          {"type", r.type},
          {"targets", r.targets},
          {"dnsNames", r.dns_names},
          {"os", opt(r.os)},
          {"version", r.version},
          {"status", to_string(r.status)},
          {"firstSeen", opt(r.first_seen)},
          {"endOfSupportStatus", opt(r.end_of_support_status)},
          {"endOfSupportDate", opt(r.end_of_support_date)},
          {"source",
           {{"rbacGroupId", opt(s.rbac_group_id)},
            {"rbacGroupName", opt(s.rbac_group_name)},
            {"diskPaths", s.disk_paths},
            {"registryPaths", s.registry_paths},
            {"numberOfWeaknesses", opt(s.number_of_weaknesses)}}}};
}

json to_json(const Vulnerability& r) {
  const auto& s = r.source;
  return {{"uid", r.uid},
          {"sourceUid", opt(r.source_uid)},
          {"type", r.type},
          {"targets", r.targets},
          {"hostnames", r.hostnames},
          {"firstFound", opt(r.first_found)},
          {"lastFound", opt(r.last_found)},
          {"sourceLastModified", opt(r.source_last_modified)},
          {"lastFixed", opt(r.last_fixed)},
          {"status", to_string(r.status)},
          {"statusCategory", to_string(r.status_category)},
          {"sourceStatus", opt(r.source_status)},
          {"severity", to_string(r.severity)},
          {"sourceSeverity", opt(r.source_severity)},
          {"results", opt(r.results)},
          {"stateTime", opt(r.state_time)},
          {"source",
           {{"rbacGroupId", opt(s.rbac_group_id)},
            {"rbacGroupName", opt(s.rbac_group_name)},
            {"osPlatform", opt(s.os_platform)},
            {"osVersion", opt(s.os_version)},
            {"osArchitecture", opt(s.os_architecture)},
            {"cvssScore", opt(s.cvss_score)},
            {"exploitabilityLevel", opt(s.exploitability_level)},
            {"recommendationReference", opt(s.recommendation_reference)},
            {"recommendedSecurityUpdate", opt(s.recommended_security_update)},
            {"recommendedSecurityUpdateId", opt(s.recommended_security_update_id)},
            {"recommendedSecurityUpdateUrl", opt(s.recommended_security_update_url)},
            {"securityUpdateAvailable", opt(s.security_update_available)},
            {"isOnboarded", opt(s.is_onboarded)}}}};
}

json to_json(const VulnerabilityDefinition& r) {
  const auto& c3 = r.cvss_v3;
  const auto& c2 = r.cvss_v2;
  const auto& s = r.source;
  return {{"uid", r.uid},
          {"cveIds", r.cve_ids},
          {"cveRecords", r.cve_records},
          {"name", opt(r.name)},
          {"description", opt(r.description)},
          {"summary", opt(r.summary)},
          {"severity", to_string(r.severity)},
          {"sourceSeverity", opt(r.source_severity)},
          {"cvssV3BaseScore", opt(r.cvss_v3_base_score)},
          {"exploits", r.exploits},
          {"references", r.references},
          {"exploitability", r.exploitability},
          {"publishedDate", opt(r.published_date)},
          {"sourceLastModified", opt(r.source_last_modified)},
          {"patchAvailable", opt(r.patch_available)},
          {"affected", opt(r.affected)},
          {"recommendation", opt(r.recommendation)},
          {"epss", opt(r.epss)},
          {"CVSS_V3_VECTOR", opt(c3.vector)},
          {"CVSS_V3_AV", opt(c3.av)},
          {"CVSS_V3_AC", opt(c3.ac)},
          {"CVSS_V3_PR", opt(c3.pr)},
          {"CVSS_V3_UI", opt(c3.ui)},
          {"CVSS_V3_S", opt(c3.s)},
          {"CVSS_V3_CI", opt(c3.ci)},
          {"CVSS_V3_II", opt(c3.ii)},
          {"CVSS_V3_AI", opt(c3.ai)},
          {"CVSS_V3_E", opt(c3.e)},
          {"CVSS_V3_RL", opt(c3.rl)},
          {"CVSS_V3_RC", opt(c3.rc)},
          {"CVSS_V3_BASE_SCORE", opt(c3.base_score)},
          {"CVSS_V3_TEMPORAL_SCORE", opt(c3.temporal_score)},
          {"CVSS_V2_VECTOR", opt(c2.vector)},
          {"CVSS_V2_AV", opt(c2.av)},
          {"CVSS_V2_AC", opt(c2.ac)},
          {"CVSS_V2_AU", opt(c2.au)},
          {"CVSS_V2_CI", opt(c2.ci)},
          {"CVSS_V2_II", opt(c2.ii)},
          {"CVSS_V2_AI", opt(c2.ai)},
          {"CVSS_V2_E", opt(c2.e)},
          {"CVSS_V2_RL", opt(c2.rl)},
          {"CVSS_V2_RC", opt(c2.rc)},
          {"CVSS_V2_BASE_SCORE", opt(c2.base_score)},
          {"CVSS_V2_TEMPORAL_SCORE", opt(c2.temporal_score)},
          {"source",
           {{"exploitTypes", s.exploit_types},
            {"exposedMachines", opt(s.exposed_machines)},
            {"firstDetected", opt(s.first_detected)},
            {"cveSupportability", opt(s.cve_supportability)},
            {"tags", s.tags},
            {"publicExploit", opt(s.public_exploit)},
            {"exploitVerified", opt(s.exploit_verified)},
            {"exploitInKit", opt(s.exploit_in_kit)}}}};
}

}  // namespace mdesync::model
