#pragma once

// Host (docs/model.md, "Host"), mapped from a Defender Machine.

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

}  // namespace mdesync::model
