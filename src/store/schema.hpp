#pragma once

#include <string>
#include <string_view>

// Versioned SQLite schema: migrations applied in order, each in its own transaction,
// recorded in schema_version. docs/schema.md describes the result.

#include <string_view>
#include <vector>

namespace mdesync::store::sqlite {

struct Migration {
  int version;
  std::string_view description;
  std::string_view sql;
};

const std::vector<Migration>& migrations();
int latest_schema_version();

// The connector columns and the joins that end the view of a narrow table `table` (alias
// `a`) whose small tables are named `<prefix>_target`, `_item`, `_host_context` and
// `_item_context`; `time_text` turns an integer time column into the store's time text
// (SQLite's here, PostgreSQL's in pg_schema.cpp).
std::string narrow_view_tail(std::string_view prefix, std::string_view table, std::string_view a,
                             std::string (*time_text)(std::string_view));

// The `vulnerability_history` view (docs/adr/0074) over `vulnerability_event`: `uid` is
// the backend's expression of a finding's uid from `t.targets` and `i.uid_suffix`.
std::string history_view(std::string_view uid, std::string (*time_text)(std::string_view));

// The migration's backfill of the history from what the rows know (both backends).
std::string_view history_backfill();

}  // namespace mdesync::store::sqlite
