#include "model/common.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

namespace mdesync::model {
namespace {

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

template <typename E, std::size_t N>
std::optional<E> lookup(const std::array<std::pair<E, std::string_view>, N>& table,
                        std::string_view text) noexcept {
  for (const auto& [value, name] : table) {
    if (iequals(name, text)) return value;
  }
  return std::nullopt;
}

template <typename E, std::size_t N>
std::string_view name_of(const std::array<std::pair<E, std::string_view>, N>& table,
                         E value) noexcept {
  for (const auto& [v, name] : table) {
    if (v == value) return name;
  }
  return {};
}

constexpr std::array<std::pair<ObjectType, std::string_view>, 5> k_objects{{
    {ObjectType::host, "host"},
    {ObjectType::package, "package"},
    {ObjectType::installed_package, "installed_package"},
    {ObjectType::vulnerability, "vulnerability"},
    {ObjectType::vulnerability_definition, "vulnerability_definition"},
}};
constexpr std::array<std::pair<Severity, std::string_view>, 5> k_severities{{
    {Severity::critical, "Critical"},
    {Severity::high, "High"},
    {Severity::medium, "Medium"},
    {Severity::low, "Low"},
    {Severity::unknown, "Unknown"},
}};
constexpr std::array<std::pair<HostStatus, std::string_view>, 4> k_host_statuses{{
    {HostStatus::active, "Active"},
    {HostStatus::inactive, "Inactive"},
    {HostStatus::unknown, "Unknown"},
    {HostStatus::removed, "Removed"},
}};
constexpr std::array<std::pair<PackageStatus, std::string_view>, 2> k_package_statuses{{
    {PackageStatus::active, "Active"},
    {PackageStatus::removed, "Removed"},
}};
constexpr std::array<std::pair<InstalledPackageStatus, std::string_view>, 2> k_installed_statuses{{
    {InstalledPackageStatus::installed, "Installed"},
    {InstalledPackageStatus::removed, "Removed"},
}};
constexpr std::array<std::pair<VulnerabilityStatus, std::string_view>, 3> k_vuln_statuses{{
    {VulnerabilityStatus::active, "Active"},
    {VulnerabilityStatus::fixed, "Fixed"},
    {VulnerabilityStatus::reopened, "Reopened"},
}};
constexpr std::array<std::pair<StatusCategory, std::string_view>, 2> k_categories{{
    {StatusCategory::open, "Open"},
    {StatusCategory::closed, "Closed"},
}};

}  // namespace

std::string_view to_string(ObjectType type) noexcept {
  return name_of(k_objects, type);
}

std::optional<ObjectType> parse_object_type(std::string_view text) noexcept {
  if (iequals(text, "machine")) return ObjectType::host;
  return lookup(k_objects, text);
}

std::string_view to_string(Severity s) noexcept {
  return name_of(k_severities, s);
}
std::optional<Severity> parse_severity(std::string_view text) noexcept {
  auto s = lookup(k_severities, text);
  if (s == Severity::unknown) return std::nullopt;
  return s;
}

std::string_view to_string(HostStatus s) noexcept {
  return name_of(k_host_statuses, s);
}
std::optional<HostStatus> parse_host_status(std::string_view text) noexcept {
  return lookup(k_host_statuses, text);
}

std::string_view to_string(PackageStatus s) noexcept {
  return name_of(k_package_statuses, s);
}
std::optional<PackageStatus> parse_package_status(std::string_view text) noexcept {
  return lookup(k_package_statuses, text);
}

std::string_view to_string(InstalledPackageStatus s) noexcept {
  return name_of(k_installed_statuses, s);
}
std::optional<InstalledPackageStatus> parse_installed_package_status(
    std::string_view text) noexcept {
  return lookup(k_installed_statuses, text);
}

std::string_view to_string(VulnerabilityStatus s) noexcept {
  return name_of(k_vuln_statuses, s);
}
std::optional<VulnerabilityStatus> parse_vulnerability_status(std::string_view text) noexcept {
  return lookup(k_vuln_statuses, text);
}

std::string_view to_string(StatusCategory s) noexcept {
  return name_of(k_categories, s);
}
std::optional<StatusCategory> parse_status_category(std::string_view text) noexcept {
  return lookup(k_categories, text);
}

StatusCategory category_of(VulnerabilityStatus s) noexcept {
  return s == VulnerabilityStatus::fixed ? StatusCategory::closed : StatusCategory::open;
}

}  // namespace mdesync::model
