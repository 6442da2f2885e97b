#pragma once

// Installed Package (docs/model.md, "Installed Package"): one software on one machine.

#include "model/common.hpp"

namespace mdesync::model {

// Source-only fields of an inventory row (or a machine reference).
struct InstalledPackageSource {
  OptString rbac_group_id;
  OptString rbac_group_name;
  Strings disk_paths;
  Strings registry_paths;
  OptInt number_of_weaknesses;
};

struct InstalledPackage {
  std::string uid;      // <machine id>_<software id>
  OptString name;       // software name
  std::string type;     // software id (vendor-_-name): Package uid
  std::string targets;  // machine id: Host uid
  Strings dns_names;
  OptString os;
  Strings version;  // every installed version, in first-seen order
  InstalledPackageStatus status = InstalledPackageStatus::installed;
  OptTime first_seen;
  OptString end_of_support_status;
  OptTime end_of_support_date;

  InstalledPackageSource source;
  RowMeta meta;
};

}  // namespace mdesync::model
