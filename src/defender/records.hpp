#pragma once

// Decoded source records: plain structs, one per Defender entity or export row. This
// is what the defender layer hands to the rest of the program; no JSON type leaves
// that layer. Every member the service may omit or send as null is optional (an
// absent boolean is not false). Enum-like strings are kept verbatim. Ids are opaque.

#include <cstdint>
#include <optional>
#include <string>
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

struct IpAddress {
  OptString ip_address;
  OptString mac_address;  // 12 hex digits without separators as the service sends it
  OptString type;
  OptString operational_status;
};

struct VmMetadata {
  OptString vm_id;
  OptString cloud_provider;
  OptString resource_id;
  OptString subscription_id;
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

// GET /api/software/{id}/distributions (5.3).
struct Distribution {
  std::string version;
  OptInt installations;
  OptInt vulnerabilities;
};

// MachineRef of /api/software/{id}/machineReferences and friends (5.4).
struct MachineReference {
  std::string id;
  OptString computer_dns_name;
  OptString os_platform;
  OptString rbac_group_name;
  OptString rbac_group_id;
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

// Response of the file exports (7.2, 8.1, 8.2).
struct ExportFiles {
  std::vector<std::string> urls;
  Timestamp generated_time;
};

}  // namespace mdesync::defender
