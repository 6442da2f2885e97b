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
// (sqlite/schema.cpp, postgres/schema.cpp). With `device_seen`, the findings' connector
// columns follow their device's last-seen row (below).
std::string narrow_view_tail(std::string_view prefix, std::string_view table, std::string_view a,
                             std::string (*time_text)(std::string_view), bool device_seen = false);

// Last-seen per device (ADR 0110). `vulnerability_device_seen` holds, per device (host),
// the lastSeenTimestamp its lines moved to without any other change, when, and by which
// run. An open finding of that device not written since (last_run_id <= run_id)
// *follows* it: the view shows the device's last_found, the later of the two
// last_changed_at and the device's run, instead of the row's own (stale) values. A write
// of the finding gives it its own values again; closing it writes the device's value into
// the row (last_found_now) first. The SQL is the same on both backends.
inline constexpr std::string_view k_device_seen_table = "vulnerability_device_seen";

// The overlay's table in either dialect: `integer` is the backend's 64-bit integer type.
std::string device_seen_table_sql(std::string_view integer);

// The view of findings with the overlay (both backends): the columns that follow a device
// read `ds`, which this join brings in for the followers only.
std::string device_seen_join(std::string_view a);
// A finding's last_found, last_changed_at, last_run_id and row_hash as the view shows
// them (after device_seen_join); the hash is NULL (unknown) for a follower whose own
// last_found is not the device's.
std::string shown_last_found(std::string_view a);
std::string shown_last_changed_at(std::string_view a);
std::string shown_last_run_id(std::string_view a);
std::string shown_row_hash(std::string_view a);

// Without the join: the row hash a writer compares with (shown_row_hash's value, one
// lookup of the device), and the last_found a write that closes the finding keeps.
std::string stored_row_hash(std::string_view a);
std::string last_found_now(std::string_view a);

// The `vulnerability_history` view (docs/adr/0074) over `vulnerability_event`: `uid` is
// the backend's expression of a finding's uid from `t.targets` and `i.uid_suffix`.
std::string history_view(std::string_view uid, std::string (*time_text)(std::string_view));

// The migration's backfill of the history from what the rows know (both backends).
std::string_view history_backfill();

}  // namespace mdesync::store
