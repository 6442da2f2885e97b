#pragma once

// Host (docs/model.md, "Host"), mapped from a Defender Machine.

#include "model/attributes.hpp"
#include "model/common.hpp"

namespace mdesync::model {

// Source-only fields of a Machine: stored and queryable, not model attributes.
struct HostSource {
  OptString agent_version;
  OptString defender_av_status;
  OptString device_value;
  OptString exclusion_reason;
  OptString exposure_level;
  OptBool is_aad_joined;
  OptBool is_excluded;
  OptString managed_by;
  OptString managed_by_status;
  OptString onboarding_status;
  OptString os_processor;
  OptString rbac_group_id;
  OptString rbac_group_name;
  OptString resource_id;      // vmMetadata.resourceId
  OptString subscription_id;  // vmMetadata.subscriptionId
  OptString team_id;
  OptString team_name;
  OptString uptime;
  OptInt os_build;            // osBuild
  OptString os_architecture;  // osArchitecture
};

struct Host {
  std::string uid;
  std::string name;
  OptString aad_device_id;
  Strings hostnames;
  Strings private_dns_names;
  Strings public_dns_names;
  Strings ip_addresses;
  Strings private_ip_addresses;
  OptString public_ip_address;
  Strings mac_addresses;
  OptString os;
  OptString description;
  HostStatus status = HostStatus::unknown;
  OptString source_status;
  OptTime last_seen;
  OptTime first_seen;
  Strings tags;
  OptString instance_id;
  OptString cloud_provider;
  Strings categories;
  OptString merged_into_machine_id;
  OptBool potential_duplication;
  OptString source_risk_rating;

  HostSource source;
  RowMeta meta;
};

// Host's attributes (model/attributes.hpp): C++ member, export name, store column. A new
// attribute goes at the end of its group.
template <>
struct Attributes<Host> {
  using H = Host;
  using S = HostSource;
  static constexpr auto list = std::tuple{
      attribute(&H::uid, "uid", "uid"),
      attribute(&H::name, "name", "name"),
      attribute(&H::aad_device_id, "aadDeviceId", "aad_device_id"),
      attribute(&H::hostnames, "hostnames", "hostnames"),
      attribute(&H::private_dns_names, "privateDnsNames", "private_dns_names"),
      attribute(&H::public_dns_names, "publicDnsNames", "public_dns_names"),
      attribute(&H::ip_addresses, "ipAddresses", "ip_addresses"),
      attribute(&H::private_ip_addresses, "privateIpAddresses", "private_ip_addresses"),
      attribute(&H::public_ip_address, "publicIpAddress", "public_ip_address"),
      attribute(&H::mac_addresses, "macAddresses", "mac_addresses"),
      attribute(&H::os, "os", "os"),
      attribute(&H::description, "description", "description"),
      attribute(&H::status, "status", "status"),
      attribute(&H::source_status, "sourceStatus", "source_status"),
      attribute(&H::last_seen, "lastSeen", "last_seen"),
      attribute(&H::first_seen, "firstSeen", "first_seen"),
      attribute(&H::tags, "tags", "tags"),
      attribute(&H::instance_id, "instanceId", "instance_id"),
      attribute(&H::cloud_provider, "cloudProvider", "cloud_provider"),
      attribute(&H::categories, "categories", "categories"),
      attribute(&H::merged_into_machine_id, "mergedIntoMachineId", "merged_into_machine_id"),
      attribute(&H::potential_duplication, "potentialDuplication", "potential_duplication"),
      attribute(&H::source_risk_rating, "sourceRiskRating", "source_risk_rating"),
      source_field(&H::source, &S::agent_version, "agentVersion", "agent_version"),
      source_field(&H::source, &S::defender_av_status, "defenderAvStatus", "defender_av_status"),
      source_field(&H::source, &S::device_value, "deviceValue", "device_value"),
      source_field(&H::source, &S::exclusion_reason, "exclusionReason", "exclusion_reason"),
      source_field(&H::source, &S::exposure_level, "exposureLevel", "exposure_level"),
      source_field(&H::source, &S::is_aad_joined, "isAadJoined", "is_aad_joined"),
      source_field(&H::source, &S::is_excluded, "isExcluded", "is_excluded"),
      source_field(&H::source, &S::managed_by, "managedBy", "managed_by"),
      source_field(&H::source, &S::managed_by_status, "managedByStatus", "managed_by_status"),
      source_field(&H::source, &S::onboarding_status, "onboardingStatus", "onboarding_status"),
      source_field(&H::source, &S::os_processor, "osProcessor", "os_processor"),
      source_field(&H::source, &S::rbac_group_id, "rbacGroupId", "rbac_group_id"),
      source_field(&H::source, &S::rbac_group_name, "rbacGroupName", "rbac_group_name"),
      source_field(&H::source, &S::resource_id, "resourceId", "resource_id",
                   {.doc = "from `vmMetadata`"}),
      source_field(&H::source, &S::subscription_id, "subscriptionId", "subscription_id",
                   {.doc = "from `vmMetadata`"}),
      source_field(&H::source, &S::team_id, "team_id", "team_id", {.doc = "when sent"}),
      source_field(&H::source, &S::team_name, "team_name", "team_name", {.doc = "when sent"}),
      source_field(&H::source, &S::uptime, "uptime", "uptime", {.doc = "when sent"}),
      source_field(&H::source, &S::os_build, "osBuild", "os_build",
                   {.appended = true, .doc = "the Windows build number; null off Windows"}),
      source_field(&H::source, &S::os_architecture, "osArchitecture", "os_architecture",
                   {.appended = true, .doc = "`32-bit` or `64-bit`, as sent"}),
  };
};

}  // namespace mdesync::model
