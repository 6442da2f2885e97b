#pragma once

// Computes the report's figures from a store: a few streamed reads in SQL that both
// backends understand alike (Store::read_query), inside one read snapshot, with every
// aggregate computed here in integer microseconds. So a SQLite and a PostgreSQL store of
// one history give the same figures, byte for byte once rendered.

#include <string>
#include <vector>

#include "report/figures.hpp"
#include "store/store.hpp"
#include "util/result.hpp"

namespace mdesync::report {

// The device groups the store knows (hosts' rbacGroupName; "(no group)" for none),
// sorted. For `--group` validation.
util::Result<std::vector<std::string>> known_groups(store::Store& store);

// Every figure of the report. ErrorCode::store when a read fails.
util::Result<Figures> compute(store::Store& store, const ReportOptions& options);

// The name a host without a device group is shown and chosen by.
inline constexpr std::string_view k_no_group = "(no group)";

}  // namespace mdesync::report
