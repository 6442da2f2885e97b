#pragma once

// Shared vocabulary of the unified model (docs/model.md, "Conventions"): object kinds, the
// enums the connector itself defines, and the connector-managed fields of every row.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/time.hpp"

namespace mdesync::model {

using util::Timestamp;
using OptString = std::optional<std::string>;
using OptBool = std::optional<bool>;
using OptInt = std::optional<std::int64_t>;
using OptDouble = std::optional<double>;
using OptTime = std::optional<Timestamp>;
using Strings = std::vector<std::string>;

// Id of a sync run (sync_run.id in the store).
using RunId = std::int64_t;

enum class ObjectType { host, package, installed_package, vulnerability, vulnerability_definition };

inline constexpr ObjectType k_all_objects[] = {
    ObjectType::host, ObjectType::package, ObjectType::installed_package, ObjectType::vulnerability,
    ObjectType::vulnerability_definition};

// Table / CLI name: "host", "package", "installed_package", "vulnerability",
// "vulnerability_definition".
std::string_view to_string(ObjectType type) noexcept;
// Accepts the table names and the connector object names ("machine" = host).
std::optional<ObjectType> parse_object_type(std::string_view text) noexcept;

enum class Severity { critical, high, medium, low, unknown };
std::string_view to_string(Severity s) noexcept;  // "Critical", ..., "Unknown"
// Case-insensitive; nullopt for values outside the four levels (empty included).
std::optional<Severity> parse_severity(std::string_view text) noexcept;

enum class HostStatus { active, inactive, unknown, removed };
std::string_view to_string(HostStatus s) noexcept;  // "Active", "Inactive", "Unknown", "Removed"
std::optional<HostStatus> parse_host_status(std::string_view text) noexcept;

enum class PackageStatus { active, removed };
std::string_view to_string(PackageStatus s) noexcept;  // "Active", "Removed"
std::optional<PackageStatus> parse_package_status(std::string_view text) noexcept;

enum class InstalledPackageStatus { installed, removed };
std::string_view to_string(InstalledPackageStatus s) noexcept;  // "Installed", "Removed"
std::optional<InstalledPackageStatus> parse_installed_package_status(
    std::string_view text) noexcept;

enum class VulnerabilityStatus { active, fixed, reopened };
std::string_view to_string(VulnerabilityStatus s) noexcept;  // "Active", "Fixed", "Reopened"
std::optional<VulnerabilityStatus> parse_vulnerability_status(std::string_view text) noexcept;

enum class StatusCategory { open, closed };
std::string_view to_string(StatusCategory s) noexcept;  // "Open", "Closed"
std::optional<StatusCategory> parse_status_category(std::string_view text) noexcept;
// Open for Active/Reopened, Closed for Fixed.
StatusCategory category_of(VulnerabilityStatus s) noexcept;

// Connector-managed fields: set by the store, never by mapping, excluded from the
// content hash.
struct RowMeta {
  OptTime first_synced_at;
  OptTime last_changed_at;
  std::optional<RunId> last_run_id;
};

}  // namespace mdesync::model
