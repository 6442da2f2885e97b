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

// The device groups the store knows (hosts' and findings' rbacGroupName; "Unassigned"
// for none), sorted. For `--group` validation.
util::Result<std::vector<std::string>> known_groups(store::Store& store);

// The tables compute() reads: check their pages (Store::concurrent_check) before trusting
// the figures.
std::vector<std::string> tables_read();

// Every figure of the report. ErrorCode::store when a read fails.
util::Result<Figures> compute(store::Store& store, const ReportOptions& options);

// The group of a device in none: Defender's exports name it so, its machine list leaves
// the group empty; both are shown and chosen by this name.
inline constexpr std::string_view k_no_group = "Unassigned";

}  // namespace mdesync::report
