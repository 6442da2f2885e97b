#pragma once

// Installed Package (docs/model.md, "Installed Package"): one software on one machine.

#include "model/attributes.hpp"
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

// InstalledPackage's attributes (model/attributes.hpp), with the narrow table (ADR 0062)
// that holds each column; the `installed_package` view has them all.
template <>
struct Attributes<InstalledPackage> {
  using R = InstalledPackage;
  using S = InstalledPackageSource;
  static constexpr AttrFlags k_item{.place = Place::item};
  static constexpr AttrFlags k_target{.place = Place::target};
  static constexpr AttrFlags k_host{.place = Place::host_context};
  static constexpr AttrFlags k_ctx{.place = Place::item_context};
  static constexpr auto list = std::tuple{
      attribute(&R::uid, "uid", "uid", k_item),
      attribute(&R::name, "name", "name", k_ctx),
      attribute(&R::type, "type", "type", k_item),
      attribute(&R::targets, "targets", "targets", k_target),
      attribute(&R::dns_names, "dnsNames", "dns_names", k_host),
      attribute(&R::os, "os", "os", k_host),
      attribute(&R::version, "version", "version"),
      attribute(&R::status, "status", "status"),
      attribute(&R::first_seen, "firstSeen", "first_seen"),
      attribute(&R::end_of_support_status, "endOfSupportStatus", "end_of_support_status", k_ctx),
      attribute(&R::end_of_support_date, "endOfSupportDate", "end_of_support_date", k_ctx),
      source_field(&R::source, &S::rbac_group_id, "rbacGroupId", "rbac_group_id", k_host),
      source_field(&R::source, &S::rbac_group_name, "rbacGroupName", "rbac_group_name", k_host),
      source_field(&R::source, &S::disk_paths, "diskPaths", "disk_paths", k_ctx),
      source_field(&R::source, &S::registry_paths, "registryPaths", "registry_paths", k_ctx),
      source_field(&R::source, &S::number_of_weaknesses, "numberOfWeaknesses",
                   "number_of_weaknesses", k_ctx),
  };
};

}  // namespace mdesync::model
