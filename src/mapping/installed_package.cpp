#include <algorithm>

#include "mapping/mapping.hpp"
#include "mapping/text.hpp"

namespace mdesync::mapping {
namespace {

// Appends the trimmed, lower-cased value with spaces as '_'.
void append_id_part(std::string& out, const std::optional<std::string>& v) {
  if (!v) return;
  for (const char c : trim(*v)) {
    if (c >= 'A' && c <= 'Z') {
      out += static_cast<char>(c + ('a' - 'A'));
    } else {
      out += c == ' ' ? '_' : c;
    }
  }
}

}  // namespace

std::string software_id(const std::optional<std::string>& vendor,
                        const std::optional<std::string>& name) {
  std::string out;
  out.reserve((vendor ? vendor->size() : 0) + (name ? name->size() : 0) + 3);
  append_id_part(out, vendor);
  out += "-_-";
  append_id_part(out, name);
  return out;
}

Mapped<model::InstalledPackage> map_installed_package(const defender::InventoryRow& row,
                                                      const InstalledPackageOptions& options) {
  return map_installed_package(defender::InventoryRow(row), options);
}

Mapped<model::InstalledPackage> map_installed_package(defender::InventoryRow&& r,
                                                      const InstalledPackageOptions& options) {
  Mapped<model::InstalledPackage> out;
  if (options.non_cpe && !options.include_non_cpe) {
    out.skip_reason = "non-CPE software (include_non_cpe is off)";
    return out;
  }
  // The row is consumed: its strings move into the model row.
  model::InstalledPackage p;
  p.type = software_id(r.software_vendor, r.software_name);
  p.uid.reserve(r.device_id.size() + 1 + p.type.size());
  p.uid += r.device_id;
  p.uid += '_';
  p.uid += p.type;
  p.name = std::move(r.software_name);
  p.targets = std::move(r.device_id);
  p.dns_names = r.device_name ? host_names(*r.device_name) : std::vector<std::string>{};
  p.os = std::move(r.os_platform);
  if (r.software_version && !trim(*r.software_version).empty()) {
    p.version.emplace_back(trim(*r.software_version));
  }
  p.status = model::InstalledPackageStatus::installed;
  p.first_seen = r.software_first_seen_timestamp;
  p.end_of_support_status = std::move(r.end_of_support_status);
  p.end_of_support_date = r.end_of_support_date;
  auto& s = p.source;
  s.rbac_group_id = std::move(r.rbac_group_id);
  s.rbac_group_name = std::move(r.rbac_group_name);
  s.disk_paths = std::move(r.disk_paths);
  s.registry_paths = std::move(r.registry_paths);
  if (r.registry_path && !trim(*r.registry_path).empty()) {
    push_distinct(s.registry_paths, std::string(trim(*r.registry_path)));
  }
  s.number_of_weaknesses = r.number_of_weaknesses;
  out.row = std::move(p);
  return out;
}

Mapped<model::InstalledPackage> map_installed_package(const defender::MachineReference& ref,
                                                      const defender::Software& software) {
  Mapped<model::InstalledPackage> out;
  model::InstalledPackage p;
  p.type = software.id;
  p.uid = ref.id + "_" + software.id;
  p.name = software.name;
  p.targets = ref.id;
  p.dns_names =
      ref.computer_dns_name ? host_names(*ref.computer_dns_name) : std::vector<std::string>{};
  p.os = ref.os_platform;
  p.status = model::InstalledPackageStatus::installed;
  p.source.rbac_group_id = ref.rbac_group_id;
  p.source.rbac_group_name = ref.rbac_group_name;
  out.row = std::move(p);
  return out;
}

void merge_into(model::InstalledPackage& into, const model::InstalledPackage& other) {
  for (const auto& v : other.version) push_distinct(into.version, v);
  for (const auto& n : other.dns_names) push_distinct(into.dns_names, n);
  for (const auto& d : other.source.disk_paths) push_distinct(into.source.disk_paths, d);
  for (const auto& r : other.source.registry_paths) push_distinct(into.source.registry_paths, r);
  if (other.first_seen && (!into.first_seen || *other.first_seen < *into.first_seen)) {
    into.first_seen = other.first_seen;
  }
  auto fill = [](auto& a, const auto& b) {
    if (!a && b) a = b;
  };
  fill(into.name, other.name);
  fill(into.os, other.os);
  fill(into.end_of_support_status, other.end_of_support_status);
  fill(into.end_of_support_date, other.end_of_support_date);
  fill(into.source.rbac_group_id, other.source.rbac_group_id);
  fill(into.source.rbac_group_name, other.source.rbac_group_name);
  if (other.source.number_of_weaknesses &&
      (!into.source.number_of_weaknesses ||
       *other.source.number_of_weaknesses > *into.source.number_of_weaknesses)) {
    into.source.number_of_weaknesses = other.source.number_of_weaknesses;
  }
}

}  // namespace mdesync::mapping
