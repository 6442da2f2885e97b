#pragma once

// Stable content hash of a mapped row: every model attribute and source-only field,
// never the connector-managed RowMeta (nor Vulnerability::state_time). Equal rows hash
// equal across processes and builds; the store compares it to skip unchanged rows.

#include <cstdint>

#include "model/host.hpp"
#include "model/installed_package.hpp"
#include "model/package.hpp"
#include "model/vulnerability.hpp"
#include "model/vulnerability_definition.hpp"

namespace mdesync::model {

using RowHash = std::int64_t;  // signed so that it fits an SQL INTEGER as is

RowHash content_hash(const Host& row) noexcept;
RowHash content_hash(const Package& row) noexcept;
RowHash content_hash(const InstalledPackage& row) noexcept;
RowHash content_hash(const Vulnerability& row) noexcept;
RowHash content_hash(const VulnerabilityDefinition& row) noexcept;

}  // namespace mdesync::model
