#pragma once

// SQL both backends' schemas share (ADR 0062, ADR 0074): the end of a narrow object's
// view and the finding history's view and backfill. Each backend passes how it turns an
// integer time column into the store's time text.

#include <string>
#include <string_view>

namespace mdesync::store {

// The connector columns and the joins that end the view of a narrow table `table` (alias
// `a`) whose small tables are named `<prefix>_target`, `_item`, `_host_context` and
// `_item_context`; `time_text` turns an integer time column into the store's time text
// (sqlite/schema.cpp, postgres/schema.cpp).
std::string narrow_view_tail(std::string_view prefix, std::string_view table, std::string_view a,
                             std::string (*time_text)(std::string_view));

// The `vulnerability_history` view (docs/adr/0074) over `vulnerability_event`: `uid` is
// the backend's expression of a finding's uid from `t.targets` and `i.uid_suffix`.
std::string history_view(std::string_view uid, std::string (*time_text)(std::string_view));

// The migration's backfill of the history from what the rows know (both backends).
std::string_view history_backfill();

}  // namespace mdesync::store
