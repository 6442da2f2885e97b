#include "store/views.hpp"

#include <fmt/format.h>

namespace mdesync::store {

// The connector columns and the joins that end the view of a narrow table `table` (alias
// `a`) whose small tables are named `<prefix>_target`, `_item`, `_host_context` and
// `_item_context`.
std::string narrow_view_tail(std::string_view prefix, std::string_view table, std::string_view a,
                             std::string (*time_text)(std::string_view), bool device_seen) {
  const std::string a_dot = fmt::format("{}.", a);
  return fmt::format(
      R"sql(  {3} AS first_synced_at,
  {4} AS last_changed_at,
  {5} AS last_run_id,
  {6} AS row_hash
FROM {1} {2}
JOIN {0}_target t ON t.id = {2}.host
JOIN {0}_item i ON i.id = {2}.item
JOIN {0}_host_context hc ON hc.id = {2}.host_context
JOIN {0}_item_context ic ON ic.id = {2}.item_context{7};
)sql",
      prefix, table, a, time_text(a_dot + "first_synced_at"),
      time_text(device_seen ? shown_last_changed_at(a) : a_dot + "last_changed_at"),
      device_seen ? shown_last_run_id(a) : a_dot + "last_run_id",
      device_seen ? shown_row_hash(a) : a_dot + "row_hash",
      device_seen ? "\n" + device_seen_join(a) : std::string());
}

std::string device_seen_table_sql(std::string_view integer) {
  return fmt::format(
      R"sql(
CREATE TABLE {0} (
  host        {1} PRIMARY KEY,
  last_found  {1} NOT NULL,
  changed_at  {1} NOT NULL,
  run_id      {1} NOT NULL
);
)sql",
      k_device_seen_table, integer);
}

namespace {

// Whether the finding `a` follows the device row `ds`.
std::string follows(std::string_view a) {
  return fmt::format(
      "ds.host = {0}.host AND {0}.status_category = 'Open' AND {0}.last_run_id <= ds.run_id", a);
}

}  // namespace

std::string device_seen_join(std::string_view a) {
  return fmt::format("LEFT JOIN {} ds ON {}", k_device_seen_table, follows(a));
}

std::string shown_last_found(std::string_view a) {
  return fmt::format("CASE WHEN ds.host IS NULL THEN {0}.last_found ELSE ds.last_found END", a);
}

std::string shown_last_changed_at(std::string_view a) {
  return fmt::format(
      "CASE WHEN ds.host IS NULL OR {0}.last_changed_at >= ds.changed_at THEN "
      "{0}.last_changed_at ELSE ds.changed_at END",
      a);
}

std::string shown_last_run_id(std::string_view a) {
  return fmt::format("CASE WHEN ds.host IS NULL THEN {0}.last_run_id ELSE ds.run_id END", a);
}

std::string shown_row_hash(std::string_view a) {
  return fmt::format(
      "CASE WHEN ds.host IS NULL OR {0}.last_found IS NOT DISTINCT FROM ds.last_found THEN "
      "{0}.row_hash END",
      a);
}

std::string stored_row_hash(std::string_view a) {
  return fmt::format(
      "CASE WHEN EXISTS (SELECT 1 FROM {1} ds WHERE {2} AND {0}.last_found IS DISTINCT FROM "
      "ds.last_found) THEN NULL ELSE {0}.row_hash END",
      a, k_device_seen_table, follows(a));
}

std::string last_found_now(std::string_view a) {
  return fmt::format("coalesce((SELECT ds.last_found FROM {1} ds WHERE {2}), {0}.last_found)", a,
                     k_device_seen_table, follows(a));
}

std::string_view history_backfill() {
  // What an existing store already knows of its history: each finding's last fix and its
  // reopening (earlier fixes and reopenings were not kept before the history existed).
  return R"sql(
INSERT INTO vulnerability_event (finding, event, event_time, severity, host_context, run_id)
SELECT id, 'Fixed', coalesce(last_fixed, state_time), severity, host_context, last_run_id
FROM vulnerability_finding
WHERE status_category = 'Closed' OR (status = 'Reopened' AND last_fixed IS NOT NULL);
INSERT INTO vulnerability_event (finding, event, event_time, severity, host_context, run_id)
SELECT id, 'Reopened', state_time, severity, host_context, last_run_id
FROM vulnerability_finding WHERE status = 'Reopened';
)sql";
}

std::string history_view(std::string_view uid, std::string (*time_text)(std::string_view)) {
  return fmt::format(
      R"sql(
CREATE VIEW vulnerability_history AS
SELECT f.id AS vulnerability_id, {0} AS uid, i.type AS type, t.targets AS targets,
  CAST('New' AS TEXT) AS event, {1} AS event_time, f.severity AS severity,
  hc.rbac_group_name AS rbac_group_name, CAST(NULL AS BIGINT) AS run_id
FROM vulnerability_finding f
JOIN vulnerability_target t ON t.id = f.host
JOIN vulnerability_item i ON i.id = f.item
JOIN vulnerability_host_context hc ON hc.id = coalesce(
  (SELECT m.from_host_context FROM vulnerability_event m
   WHERE m.finding = f.id AND m.event = 'Moved' ORDER BY m.event_time, m.id LIMIT 1),
  f.host_context)
UNION ALL
SELECT f.id, {0}, i.type, t.targets, e.event, {2}, e.severity, hc.rbac_group_name, e.run_id
FROM vulnerability_event e
JOIN vulnerability_finding f ON f.id = e.finding
JOIN vulnerability_target t ON t.id = f.host
JOIN vulnerability_item i ON i.id = f.item
JOIN vulnerability_host_context hc ON hc.id = e.host_context;
)sql",
      uid, time_text("coalesce(f.first_found, f.state_time)"), time_text("e.event_time"));
}

}  // namespace mdesync::store
