#pragma once

// Decoded source records: plain structs, one per Defender entity or export row. This
// is what the defender layer hands to the rest of the program; no JSON type leaves
// that layer. Every member the service may omit or send as null is optional (an
// absent boolean is not false). Enum-like strings are kept verbatim. Ids are opaque.

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "util/time.hpp"

namespace mdesync::defender {

using util::Timestamp;
using OptString = std::optional<std::string>;
using OptBool = std::optional<bool>;
using OptInt = std::optional<std::int64_t>;
using OptDouble = std::optional<double>;
using OptTime = std::optional<Timestamp>;

// A number the decoder dropped because it lies outside the range its field can hold (a
// CVSS score of NaN, -5 or 1e308, an EPSS probability of 2): the member is left empty
// and the mapper reports the value as a diagnostic, so that it is counted, not stored.
struct RejectedValue {
  std::string field;  // JSON name, e.g. "cvssScore"
  std::string value;  // as decoded, e.g. "nan", "-5", "1e+308"
  std::string range;  // e.g. "0..10"
};

// The JSON members each record is read from, declared once beside it (the decoder's
// half of docs/adr/0097): the member's name as the service spells it and the record's
// member it fills. The decoder (defender/decode.cpp) matches the names in any letter
// case (the exports' PascalCase meets the API's camelCase) and reads each value by the
// member's type. A `score` has a documented range: a value outside it (NaN included) is
// not stored but kept in the record's `rejected` list, for the mapper to report.
template <class Rec, class T>
struct Field {
  std::string_view name;
  T Rec::*member;
};
template <class Rec>
struct ScoreField {
  std::string_view name;
  OptDouble Rec::*member;
  double lo;
  double hi;
  std::string_view range;  // as reported: "0..10", ">= 0"
};
template <class Rec, class T>
constexpr Field<Rec, T> field(std::string_view name, T Rec::*member) {
  return {name, member};
}
template <class Rec>
constexpr ScoreField<Rec> score(std::string_view name, OptDouble Rec::*member, double lo, double hi,
                                std::string_view range) {
  return {name, member, lo, hi, range};
}
inline constexpr double k_no_upper_bound = std::numeric_limits<double>::max();

// Specialised after each record: `static constexpr auto list = std::tuple{...}`.
template <class Rec>
struct Fields;

struct IpAddress {
  OptString ip_address;
  OptString mac_address;  // 12 hex digits without separators as the service sends it
  OptString type;
  OptString operational_status;
};
template <>
struct Fields<IpAddress> {
  using R = IpAddress;
  static constexpr auto list = std::tuple{
      field("ipAddress", &R::ip_address),
      field("macAddress", &R::mac_address),
      field("type", &R::type),
      field("operationalStatus", &R::operational_status),
  };
};

struct VmMetadata {
  OptString vm_id;
  OptString cloud_provider;
  OptString resource_id;
  OptString subscription_id;
};
template <>
struct Fields<VmMetadata> {
  using R = VmMetadata;
  static constexpr auto list = std::tuple{
      field("vmId", &R::vm_id),
      field("cloudProvider", &R::cloud_provider),
      field("resourceId", &R::resource_id),
      field("subscriptionId", &R::subscription_id),
  };
};

// GET /api/machines (docs/api.md, "Machines"), documented and observed members.
struct Machine {
  std::string id;
  OptString merged_into_machine_id;
  OptBool is_potential_duplication;
  OptBool is_excluded;
  OptString exclusion_reason;
  OptString computer_dns_name;
  OptTime first_seen;
  OptTime last_seen;
  OptString os_platform;
  OptString os_version;
  OptString os_processor;
  OptString version;
  OptString last_ip_address;
  OptString last_external_ip_address;
  OptString agent_version;
  OptInt os_build;
  OptString health_status;
  OptString device_value;
  OptString rbac_group_id;  // a number in JSON, documented as a string: kept as text
  OptString rbac_group_name;
  OptString risk_score;
  OptString exposure_level;
  OptBool is_aad_joined;
  OptString aad_device_id;
  std::vector<std::string> machine_tags;
  OptString defender_av_status;
  OptString onboarding_status;
  OptString os_architecture;
  OptString managed_by;
  OptString managed_by_status;
  std::vector<IpAddress> ip_addresses;
  std::optional<VmMetadata> vm_metadata;
  OptString team_id;    // present on some tenants only
  OptString team_name;  // present on some tenants only
  OptString uptime;     // present on some tenants only
};
template <>
struct Fields<Machine> {
  using R = Machine;
  static constexpr auto list = std::tuple{
      field("id", &R::id),
      field("mergedIntoMachineId", &R::merged_into_machine_id),
      field("isPotentialDuplication", &R::is_potential_duplication),
      field("isExcluded", &R::is_excluded),
      field("exclusionReason", &R::exclusion_reason),
      field("computerDnsName", &R::computer_dns_name),
      field("firstSeen", &R::first_seen),
      field("lastSeen", &R::last_seen),
      field("osPlatform", &R::os_platform),
      field("osVersion", &R::os_version),
      field("osProcessor", &R::os_processor),
      field("version", &R::version),
      field("lastIpAddress", &R::last_ip_address),
      field("lastExternalIpAddress", &R::last_external_ip_address),
      field("agentVersion", &R::agent_version),
      field("osBuild", &R::os_build),
      field("healthStatus", &R::health_status),
      field("deviceValue", &R::device_value),
      field("rbacGroupId", &R::rbac_group_id),
      field("rbacGroupName", &R::rbac_group_name),
      field("riskScore", &R::risk_score),
      field("exposureLevel", &R::exposure_level),
      field("isAadJoined", &R::is_aad_joined),
      field("aadDeviceId", &R::aad_device_id),
      field("machineTags", &R::machine_tags),
      field("defenderAvStatus", &R::defender_av_status),
      field("onboardingStatus", &R::onboarding_status),
      field("osArchitecture", &R::os_architecture),
      field("managedBy", &R::managed_by),
      field("managedByStatus", &R::managed_by_status),
      field("ipAddresses", &R::ip_addresses),
      field("vmMetadata", &R::vm_metadata),
      field("team_id", &R::team_id),
      field("team_name", &R::team_name),
      field("uptime", &R::uptime),
  };
};

// GET /api/software (5.2).
struct Software {
  std::string id;  // vendor-_-name
  OptString name;
  OptString vendor;
  OptInt weaknesses;
  OptBool public_exploit;
  OptBool active_alert;
  OptInt exposed_machines;
  OptDouble impact_score;
  std::vector<RejectedValue> rejected;  // out-of-range scores, left empty above
};
template <>
struct Fields<Software> {
  using R = Software;
  static constexpr auto list = std::tuple{
      field("id", &R::id),
      field("name", &R::name),
      field("vendor", &R::vendor),
      field("weaknesses", &R::weaknesses),
      field("publicExploit", &R::public_exploit),
      field("activeAlert", &R::active_alert),
      field("exposedMachines", &R::exposed_machines),
      score("impactScore", &R::impact_score, 0.0, k_no_upper_bound, ">= 0"),
  };
};

// GET /api/software/{id}/distributions (5.3).
struct Distribution {
  std::string version;
  OptInt installations;
  OptInt vulnerabilities;
};
template <>
struct Fields<Distribution> {
  using R = Distribution;
  static constexpr auto list = std::tuple{
      field("version", &R::version),
      field("installations", &R::installations),
      field("vulnerabilities", &R::vulnerabilities),
  };
};

// MachineRef of /api/software/{id}/machineReferences and friends (5.4).
struct MachineReference {
  std::string id;
  OptString computer_dns_name;
  OptString os_platform;
  OptString rbac_group_name;
  OptString rbac_group_id;
};
template <>
struct Fields<MachineReference> {
  using R = MachineReference;
  static constexpr auto list = std::tuple{
      field("id", &R::id),
      field("computerDnsName", &R::computer_dns_name),
      field("osPlatform", &R::os_platform),
      field("rbacGroupName", &R::rbac_group_name),
      field("rbacGroupId", &R::rbac_group_id),
  };
};

// GET /api/vulnerabilities (6.3): one CVE (or TVM- id) definition.
struct Vulnerability {
  std::string id;
  OptString name;
  OptString description;
  OptString severity;
  OptDouble cvss_v3;
  OptString cvss_vector;
  OptString cvss_v2_vector;  // not documented; read when a tenant sends one
  OptInt exposed_machines;
  OptTime published_on;
  OptTime updated_on;
  OptTime first_detected;
  OptBool public_exploit;
  OptBool exploit_verified;
  OptBool exploit_in_kit;
  std::vector<std::string> exploit_types;
  std::vector<std::string> exploit_uris;
  OptString cve_supportability;
  std::vector<std::string> tags;
  OptDouble epss;
  std::vector<RejectedValue> rejected;  // out-of-range scores, left empty above
};
template <>
struct Fields<Vulnerability> {
  using R = Vulnerability;
  static constexpr auto list = std::tuple{
      field("id", &R::id),
      field("name", &R::name),
      field("description", &R::description),
      field("severity", &R::severity),
      score("cvssV3", &R::cvss_v3, 0.0, 10.0, "0..10"),
      field("cvssVector", &R::cvss_vector),
      field("cvssV2Vector", &R::cvss_v2_vector),
      field("exposedMachines", &R::exposed_machines),
      field("publishedOn", &R::published_on),
      field("updatedOn", &R::updated_on),
      field("firstDetected", &R::first_detected),
      field("publicExploit", &R::public_exploit),
      field("exploitVerified", &R::exploit_verified),
      field("exploitInKit", &R::exploit_in_kit),
      field("exploitTypes", &R::exploit_types),
      field("exploitUris", &R::exploit_uris),
      field("cveSupportability", &R::cve_supportability),
      field("tags", &R::tags),
      score("epss", &R::epss, 0.0, 1.0, "0..1"),
  };
};

// GET /api/recommendations (9.2).
struct Recommendation {
  std::string id;
  OptString product_name;
  OptString recommendation_name;
  OptInt weaknesses;
  OptString vendor;
  OptString recommended_version;
  OptString recommended_program;
  OptString recommended_vendor;
  OptString recommendation_category;
  OptString sub_category;
  OptDouble severity_score;
  OptBool public_exploit;
  OptBool active_alert;
  std::vector<std::string> associated_threats;
  OptString remediation_type;
  OptString status;
  OptDouble config_score_impact;
  OptDouble exposure_impact;
  OptInt total_machine_count;
  OptInt exposed_machines_count;
  OptInt non_productivity_impacted_assets;
  OptString related_component;
  OptBool has_unpatchable_cve;
  std::vector<std::string> tags;
  OptDouble exposed_critical_devices;
  std::vector<RejectedValue> rejected;  // out-of-range scores, left empty above
};
template <>
struct Fields<Recommendation> {
  using R = Recommendation;
  static constexpr auto list = std::tuple{
      field("id", &R::id),
      field("productName", &R::product_name),
      field("recommendationName", &R::recommendation_name),
      field("weaknesses", &R::weaknesses),
      field("vendor", &R::vendor),
      field("recommendedVersion", &R::recommended_version),
      field("recommendedProgram", &R::recommended_program),
      field("recommendedVendor", &R::recommended_vendor),
      field("recommendationCategory", &R::recommendation_category),
      field("subCategory", &R::sub_category),
      score("severityScore", &R::severity_score, 0.0, 10.0, "0..10"),
      field("publicExploit", &R::public_exploit),
      field("activeAlert", &R::active_alert),
      field("associatedThreats", &R::associated_threats),
      field("remediationType", &R::remediation_type),
      field("status", &R::status),
      score("configScoreImpact", &R::config_score_impact, 0.0, k_no_upper_bound, ">= 0"),
      score("exposureImpact", &R::exposure_impact, 0.0, k_no_upper_bound, ">= 0"),
      field("totalMachineCount", &R::total_machine_count),
      field("exposedMachinesCount", &R::exposed_machines_count),
      field("nonProductivityImpactedAssets", &R::non_productivity_impacted_assets),
      field("relatedComponent", &R::related_component),
      field("hasUnpatchableCve", &R::has_unpatchable_cve),
      field("tags", &R::tags),
      field("exposedCriticalDevices", &R::exposed_critical_devices),
  };
};

// One row of SoftwareVulnerabilitiesByMachine / SoftwareVulnerabilitiesExport (7.1,
// 7.2) and of SoftwareVulnerabilityChangesByMachine (7.3, which adds the last three).
struct VulnerabilityRow {
  OptString id;
  std::string device_id;
  OptString device_name;
  OptString rbac_group_name;
  OptString rbac_group_id;
  OptString os_platform;
  OptString os_version;
  OptString os_architecture;
  OptString software_vendor;
  OptString software_name;
  OptString software_version;
  OptString cve_id;  // null on software-level rows without a CVE
  OptDouble cvss_score;
  OptString vulnerability_severity_level;
  OptString recommended_security_update;
  OptString recommended_security_update_id;
  OptString recommended_security_update_url;
  std::vector<std::string> disk_paths;
  std::vector<std::string> registry_paths;
  OptTime first_seen_timestamp;
  OptTime last_seen_timestamp;
  OptString exploitability_level;
  OptString recommendation_reference;
  OptBool security_update_available;
  // Delta rows only.
  OptBool is_onboarded;
  OptString status;  // New, Fixed, Updated
  OptTime event_timestamp;
  std::vector<RejectedValue> rejected;  // out-of-range scores (cvss_score left empty)
};
template <>
struct Fields<VulnerabilityRow> {
  using R = VulnerabilityRow;
  static constexpr auto list = std::tuple{
      field("id", &R::id),
      field("deviceId", &R::device_id),
      field("deviceName", &R::device_name),
      field("rbacGroupName", &R::rbac_group_name),
      field("rbacGroupId", &R::rbac_group_id),
      field("osPlatform", &R::os_platform),
      field("osVersion", &R::os_version),
      field("osArchitecture", &R::os_architecture),
      field("softwareVendor", &R::software_vendor),
      field("softwareName", &R::software_name),
      field("softwareVersion", &R::software_version),
      field("cveId", &R::cve_id),
      score("cvssScore", &R::cvss_score, 0.0, 10.0, "0..10"),
      field("vulnerabilitySeverityLevel", &R::vulnerability_severity_level),
      field("recommendedSecurityUpdate", &R::recommended_security_update),
      field("recommendedSecurityUpdateId", &R::recommended_security_update_id),
      field("recommendedSecurityUpdateUrl", &R::recommended_security_update_url),
      field("diskPaths", &R::disk_paths),
      field("registryPaths", &R::registry_paths),
      field("firstSeenTimestamp", &R::first_seen_timestamp),
      field("lastSeenTimestamp", &R::last_seen_timestamp),
      field("exploitabilityLevel", &R::exploitability_level),
      field("recommendationReference", &R::recommendation_reference),
      field("securityUpdateAvailable", &R::security_update_available),
      field("isOnboarded", &R::is_onboarded),
      field("status", &R::status),
      field("eventTimestamp", &R::event_timestamp),
  };
};

// One row of SoftwareInventoryByMachine / SoftwareInventoryExport (8.1) or of the
// non-CPE inventory (8.2, which has the last two members and no CPE-only ones).
struct InventoryRow {
  std::string device_id;
  OptString device_name;
  OptString os_platform;
  OptString rbac_group_name;
  OptString rbac_group_id;
  OptString software_vendor;
  OptString software_name;
  OptString software_version;
  OptInt number_of_weaknesses;
  std::vector<std::string> disk_paths;
  std::vector<std::string> registry_paths;
  OptTime software_first_seen_timestamp;
  OptString end_of_support_status;
  OptTime end_of_support_date;
  OptTime software_last_seen_timestamp;  // non-CPE only
  OptString registry_path;               // non-CPE only
};
template <>
struct Fields<InventoryRow> {
  using R = InventoryRow;
  static constexpr auto list = std::tuple{
      field("deviceId", &R::device_id),
      field("deviceName", &R::device_name),
      field("osPlatform", &R::os_platform),
      field("rbacGroupName", &R::rbac_group_name),
      field("rbacGroupId", &R::rbac_group_id),
      field("softwareVendor", &R::software_vendor),
      field("softwareName", &R::software_name),
      field("softwareVersion", &R::software_version),
      field("numberOfWeaknesses", &R::number_of_weaknesses),
      field("diskPaths", &R::disk_paths),
      field("registryPaths", &R::registry_paths),
      field("softwareFirstSeenTimestamp", &R::software_first_seen_timestamp),
      field("endOfSupportStatus", &R::end_of_support_status),
      field("endOfSupportDate", &R::end_of_support_date),
      field("softwareLastSeenTimestamp", &R::software_last_seen_timestamp),
      field("registryPath", &R::registry_path),
  };
};

// GET /api/vulnerabilities/machinesVulnerabilities (6.5).
struct MachineVulnerability {
  std::string id;
  OptString cve_id;
  OptString machine_id;
  OptString fixing_kb_id;
  OptString product_name;
  OptString product_vendor;
  OptString product_version;
  OptString severity;
};
template <>
struct Fields<MachineVulnerability> {
  using R = MachineVulnerability;
  static constexpr auto list = std::tuple{
      field("id", &R::id),
      field("cveId", &R::cve_id),
      field("machineId", &R::machine_id),
      field("fixingKbId", &R::fixing_kb_id),
      field("productName", &R::product_name),
      field("productVendor", &R::product_vendor),
      field("productVersion", &R::product_version),
      field("severity", &R::severity),
  };
};

// Response of the file exports (7.2, 8.1, 8.2).
struct ExportFiles {
  std::vector<std::string> urls;
  Timestamp generated_time;
};

}  // namespace mdesync::defender
