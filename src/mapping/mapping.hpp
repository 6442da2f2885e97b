#pragma once

// Source record -> model row, one pure function per object (docs/model.md). No I/O,
// no logging, thread-safe. docs/mapping.md lists the rules we chose where
// docs/model.md is silent.

#include <optional>
#include <span>

#include "defender/records.hpp"
#include "mapping/mapped.hpp"
#include "model/model.hpp"

namespace mdesync::mapping {

// Host from a Machine (docs/model.md, "Host").
Mapped<model::Host> map_host(const defender::Machine& machine);

// Package from a software entry and its version distribution (docs/model.md, "Package").
Mapped<model::Package> map_package(const defender::Software& software,
                                   std::span<const defender::Distribution> distributions = {});

struct InstalledPackageOptions {
  bool non_cpe = false;          // the row comes from the non-CPE inventory (8.2)
  bool include_non_cpe = false;  // Config::include_non_cpe
};

// Revision of the rules below that turn inventory rows into Installed Package rows. Bump it
// with any change to their output: the sync engine's inventory digests (ADR 0060) include
// it, so rows stored by earlier rules are rebuilt from their lines on the next read.
// tests/golden (InstalledPackageRules) records the rules' output per revision and fails
// when it changes under the same revision.
inline constexpr int k_installed_package_rules = 1;
// The same for the rules that turn export finding rows into Vulnerability rows: the
// finding digests (ADR 0068) include it. tests/golden (VulnerabilityRules) keeps it
// honest.
inline constexpr int k_vulnerability_rules = 1;

// Installed Package from one inventory row (docs/model.md). Non-CPE rows are skipped unless
// include_non_cpe. Several rows of one uid (several versions) combine with merge_into.
Mapped<model::InstalledPackage> map_installed_package(const defender::InventoryRow& row,
                                                      const InstalledPackageOptions& options = {});
// The same, consuming the row (its strings move into the result).
Mapped<model::InstalledPackage> map_installed_package(defender::InventoryRow&& row,
                                                      const InstalledPackageOptions& options = {});

// Installed Package from the api strategy: a machine reference of a software.
Mapped<model::InstalledPackage> map_installed_package(const defender::MachineReference& ref,
                                                      const defender::Software& software);

// Software id of an inventory row: "<vendor>-_-<name>" (lower case, spaces as '_').
std::string software_id(const std::optional<std::string>& vendor,
                        const std::optional<std::string>& name);

// Adds the versions and evidence of `other` (same uid) to `into`: versions and paths
// distinct in first-seen order, earliest firstSeen, first non-null elsewhere.
void merge_into(model::InstalledPackage& into, const model::InstalledPackage& other);

struct VulnerabilityOptions {
  // The snapshot's generation time (full reads): becomes stateTime. Delta rows use their
  // eventTimestamp instead.
  std::optional<util::Timestamp> snapshot_time;
};

// Vulnerability from an export / JSON / delta row (docs/model.md). Rows without cveId are
// skipped ("row without cveId").
Mapped<model::Vulnerability> map_vulnerability(const defender::VulnerabilityRow& row,
                                               const VulnerabilityOptions& options = {});
// The same, consuming the row (its strings move into the result).
Mapped<model::Vulnerability> map_vulnerability(defender::VulnerabilityRow&& row,
                                               const VulnerabilityOptions& options = {});

// The finding uid: <deviceId>_<vendor lower>_<name lower>_<version>_<cveId>.
std::string vulnerability_uid(const defender::VulnerabilityRow& row);

// Vulnerability Definition (docs/model.md). `recommendations`: those covering the CVE;
// nullopt when they could not be fetched (patchAvailable, affected and recommendation
// then stay unknown).
Mapped<model::VulnerabilityDefinition> map_vulnerability_definition(
    const defender::Vulnerability& vulnerability,
    std::optional<std::span<const defender::Recommendation>> recommendations);

// Severity normalisation shared by sections 5 and 6: Critical/High/Medium/Low
// (case-insensitive), Unknown for empty; other values give Unknown and a diagnostic.
model::Severity normalise_severity(const std::optional<std::string>& value, std::string_view field,
                                   std::vector<Diagnostic>& diagnostics);

// First sentence of `description` without a leading "Summary:" label, at most 300
// characters (code points).
std::optional<std::string> summarise(const std::optional<std::string>& description);

}  // namespace mdesync::mapping
