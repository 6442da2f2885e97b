#include "store/sqlite/schema.hpp"

#include "store/views.hpp"

#include <fmt/format.h>

#include <string>

namespace mdesync::store::sqlite {

namespace {

constexpr std::string_view k_v1 = R"sql(
CREATE TABLE sync_run (
  id          INTEGER PRIMARY KEY,
  mode        TEXT NOT NULL,
  objects     TEXT NOT NULL,
  started_at  TEXT NOT NULL,
  ended_at    TEXT,
  outcome     TEXT,
  counts      TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE checkpoint (
  object              TEXT PRIMARY KEY,
  run_id              INTEGER NOT NULL,
  mode                TEXT NOT NULL,
  snapshot_time       TEXT,
  full_snapshot_time  TEXT,
  completed_at        TEXT NOT NULL,
  state               TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE host (
  id                      INTEGER PRIMARY KEY,
  uid                     TEXT NOT NULL,
  name                    TEXT NOT NULL,
  aad_device_id           TEXT,
  hostnames               TEXT NOT NULL,
  private_dns_names       TEXT NOT NULL,
  public_dns_names        TEXT NOT NULL,
  ip_addresses            TEXT NOT NULL,
  private_ip_addresses    TEXT NOT NULL,
  public_ip_address       TEXT,
  mac_addresses           TEXT NOT NULL,
  os                      TEXT,
  description             TEXT,
  status                  TEXT NOT NULL,
  source_status           TEXT,
  last_seen               TEXT,
  first_seen              TEXT,
  tags                    TEXT NOT NULL,
  instance_id             TEXT,
  cloud_provider          TEXT,
  categories              TEXT NOT NULL,
  merged_into_machine_id  TEXT,
  potential_duplication   INTEGER,
  source_risk_rating      TEXT,
  agent_version      TEXT,
  defender_av_status TEXT,
  device_value       TEXT,
  exclusion_reason   TEXT,
  exposure_level     TEXT,
  is_aad_joined      INTEGER,
  is_excluded        INTEGER,
  managed_by         TEXT,
  managed_by_status  TEXT,
  onboarding_status  TEXT,
  os_processor       TEXT,
  rbac_group_id      TEXT,
  rbac_group_name    TEXT,
  resource_id        TEXT,
  subscription_id    TEXT,
  team_id            TEXT,
  team_name          TEXT,
  uptime             TEXT,
  first_synced_at         TEXT NOT NULL,
  last_changed_at         TEXT NOT NULL,
  last_run_id             INTEGER NOT NULL,
  row_hash                INTEGER
);
CREATE UNIQUE INDEX host_uid_idx ON host(uid);
CREATE INDEX host_last_seen_idx ON host(last_seen);
CREATE INDEX host_status_idx ON host(status);

CREATE TABLE package (
  id               INTEGER PRIMARY KEY,
  uid              TEXT NOT NULL,
  name             TEXT,
  status           TEXT NOT NULL,
  categories       TEXT NOT NULL,
  vendor            TEXT,
  weaknesses        INTEGER,
  public_exploit    INTEGER,
  active_alert      INTEGER,
  exposed_machines  INTEGER,
  impact_score      REAL,
  versions          TEXT NOT NULL,
  first_synced_at  TEXT NOT NULL,
  last_changed_at  TEXT NOT NULL,
  last_run_id      INTEGER NOT NULL,
  row_hash         INTEGER
);
CREATE UNIQUE INDEX package_uid_idx ON package(uid);

CREATE TABLE installed_package (
  id                     INTEGER PRIMARY KEY,
  uid                    TEXT NOT NULL,
  name                   TEXT,
  type                   TEXT NOT NULL,
  targets                TEXT NOT NULL,
  dns_names              TEXT NOT NULL,
  os                     TEXT,
  version                TEXT NOT NULL,
  status                 TEXT NOT NULL,
  first_seen             TEXT,
  end_of_support_status  TEXT,
  end_of_support_date    TEXT,
  rbac_group_id         TEXT,
  rbac_group_name       TEXT,
  disk_paths            TEXT NOT NULL,
  registry_paths        TEXT NOT NULL,
  number_of_weaknesses  INTEGER,
  first_synced_at        TEXT NOT NULL,
  last_changed_at        TEXT NOT NULL,
  last_run_id            INTEGER NOT NULL,
  row_hash               INTEGER
);
CREATE UNIQUE INDEX installed_package_uid_idx ON installed_package(uid);
CREATE INDEX installed_package_targets_idx ON installed_package(targets);
CREATE INDEX installed_package_type_idx ON installed_package(type);

CREATE TABLE vulnerability (
  id                    INTEGER PRIMARY KEY,
  uid                   TEXT NOT NULL,
  source_uid            TEXT,
  type                  TEXT NOT NULL,
  targets               TEXT NOT NULL,
  hostnames             TEXT NOT NULL,
  first_found           TEXT,
  last_found            TEXT,
  source_last_modified  TEXT,
  last_fixed            TEXT,
  status                TEXT NOT NULL,
  status_category       TEXT NOT NULL,
  source_status         TEXT,
  severity              TEXT NOT NULL,
  source_severity       TEXT,
  results               TEXT,
  state_time            TEXT,
  rbac_group_id                   TEXT,
  rbac_group_name                 TEXT,
  os_platform                     TEXT,
  os_version                      TEXT,
  os_architecture                 TEXT,
  cvss_score                      REAL,
  exploitability_level            TEXT,
  recommendation_reference        TEXT,
  recommended_security_update     TEXT,
  recommended_security_update_id  TEXT,
  recommended_security_update_url TEXT,
  security_update_available       INTEGER,
  is_onboarded                    INTEGER,
  software_vendor                 TEXT,
  software_name                   TEXT,
  software_version                TEXT,
  first_synced_at       TEXT NOT NULL,
  last_changed_at       TEXT NOT NULL,
  last_run_id           INTEGER NOT NULL,
  row_hash              INTEGER
);
CREATE UNIQUE INDEX vulnerability_uid_idx ON vulnerability(uid);
CREATE INDEX vulnerability_open_idx ON vulnerability(status_category, severity, targets);
CREATE INDEX vulnerability_type_idx ON vulnerability(type);

CREATE TABLE vulnerability_definition (
  id                          INTEGER PRIMARY KEY,
  uid                         TEXT NOT NULL,
  cve_ids                     TEXT NOT NULL,
  cve_records                 TEXT NOT NULL,
  name                        TEXT,
  description                 TEXT,
  summary                     TEXT,
  severity                    TEXT NOT NULL,
  source_severity             TEXT,
  cvss_v3_base_score          REAL,
  exploits                    TEXT NOT NULL,
  "references"                TEXT NOT NULL,
  exploitability              TEXT NOT NULL,
  published_date              TEXT,
  source_last_modified        TEXT,
  patch_available             INTEGER,
  affected                    TEXT,
  recommendation              TEXT,
  epss                        REAL,
  cvss_v3_vector              TEXT,
  cvss_v3_av                  TEXT,
  cvss_v3_ac                  TEXT,
  cvss_v3_pr                  TEXT,
  cvss_v3_ui                  TEXT,
  cvss_v3_s                   TEXT,
  cvss_v3_ci                  TEXT,
  cvss_v3_ii                  TEXT,
  cvss_v3_ai                  TEXT,
  cvss_v3_e                   TEXT,
  cvss_v3_rl                  TEXT,
  cvss_v3_rc                  TEXT,
  cvss_v3_computed_base_score REAL,
  cvss_v3_temporal_score      REAL,
  cvss_v2_vector              TEXT,
  cvss_v2_av                  TEXT,
  cvss_v2_ac                  TEXT,
  cvss_v2_au                  TEXT,
  cvss_v2_ci                  TEXT,
  cvss_v2_ii                  TEXT,
  cvss_v2_ai                  TEXT,
  cvss_v2_e                   TEXT,
  cvss_v2_rl                  TEXT,
  cvss_v2_rc                  TEXT,
  cvss_v2_base_score          REAL,
  cvss_v2_temporal_score      REAL,
  exploit_types       TEXT NOT NULL,
  exposed_machines    INTEGER,
  first_detected      TEXT,
  cve_supportability  TEXT,
  tags                TEXT NOT NULL,
  public_exploit      INTEGER,
  exploit_verified    INTEGER,
  exploit_in_kit      INTEGER,
  first_synced_at             TEXT NOT NULL,
  last_changed_at             TEXT NOT NULL,
  last_run_id                 INTEGER NOT NULL,
  row_hash                    INTEGER
);
CREATE UNIQUE INDEX vulnerability_definition_uid_idx ON vulnerability_definition(uid);
CREATE INDEX vulnerability_definition_severity_idx ON vulnerability_definition(severity);

)sql";

// Per device: the digest of its lines in the last inventory export read and the package
// versions they counted, so that unchanged lines need not be decoded again (ADR 0060).
constexpr std::string_view k_v2 = R"sql(
CREATE TABLE inventory_digest (
  device_id     TEXT PRIMARY KEY,
  digest        BLOB NOT NULL,
  has_versions  INTEGER NOT NULL
) WITHOUT ROWID;
-- Apart from the digests, so that reading every digest does not read the versions.
CREATE TABLE inventory_versions (
  device_id  TEXT PRIMARY KEY,
  versions   BLOB NOT NULL
) WITHOUT ROWID;
)sql";

// The open-findings index only holds open findings, keyed (severity, targets): about
// half the build time of (status_category, severity, targets) over every finding, whose
// sort compared two low-cardinality columns first, with the same plans for the
// open-findings queries (ADR 0061).
constexpr std::string_view k_v3 = R"sql(
DROP INDEX vulnerability_open_idx;
CREATE INDEX vulnerability_open_idx ON vulnerability(severity, targets)
  WHERE status_category = 'Open';
)sql";

// The narrow finding (ADR 0062). What a finding repeats from its device (host names,
// device group, OS) and from its software and CVE (severity as the source wrote it,
// CVSS score, recommendation, evidence text) lives once in a context row; the finding
// keeps references, its lifecycle and integer times (microseconds since 1970, UTC).
// `vulnerability` becomes a view with the columns and meanings the table had.
constexpr std::string_view k_v4_tables = R"sql(
CREATE TABLE vulnerability_target (
  id       INTEGER PRIMARY KEY,
  targets  TEXT NOT NULL
);
CREATE UNIQUE INDEX vulnerability_target_idx ON vulnerability_target(targets);

-- uid = targets || uid_suffix; a suffix starting with char(1) is a whole uid that does
-- not start with its targets (char(1) dropped). The syncing process finds items by
-- content in memory: no index on uid_suffix.
CREATE TABLE vulnerability_item (
  id          INTEGER PRIMARY KEY,
  uid_suffix  TEXT NOT NULL,
  type        TEXT NOT NULL
);
CREATE INDEX vulnerability_item_type_idx ON vulnerability_item(type);

CREATE TABLE vulnerability_host_context (
  id               INTEGER PRIMARY KEY,
  hostnames        TEXT NOT NULL,
  rbac_group_id    TEXT,
  rbac_group_name  TEXT,
  os_platform      TEXT,
  os_version       TEXT,
  os_architecture  TEXT,
  is_onboarded     INTEGER
);

-- source_uid_rest: the finding's source_uid is targets || source_uid_rest.
CREATE TABLE vulnerability_item_context (
  id                               INTEGER PRIMARY KEY,
  source_severity                  TEXT,
  results                          TEXT,
  cvss_score                       REAL,
  exploitability_level             TEXT,
  recommendation_reference         TEXT,
  recommended_security_update      TEXT,
  recommended_security_update_id   TEXT,
  recommended_security_update_url  TEXT,
  security_update_available        INTEGER,
  software_vendor                  TEXT,
  software_name                    TEXT,
  software_version                 TEXT,
  source_uid_rest                  TEXT
);

CREATE TABLE vulnerability_finding (
  id                    INTEGER PRIMARY KEY,
  item                  INTEGER NOT NULL,
  host                  INTEGER NOT NULL,
  host_context          INTEGER NOT NULL,
  item_context          INTEGER NOT NULL,
  source_uid            TEXT,
  first_found           INTEGER,
  last_found            INTEGER,
  source_last_modified  INTEGER,
  last_fixed            INTEGER,
  status                TEXT NOT NULL,
  status_category       TEXT NOT NULL,
  source_status         TEXT,
  severity              TEXT NOT NULL,
  state_time            INTEGER,
  first_synced_at       INTEGER NOT NULL,
  last_changed_at       INTEGER NOT NULL,
  last_run_id           INTEGER NOT NULL,
  row_hash              INTEGER
);
)sql";

// Text of an integer time column as the store writes times ("...T08:30:12.000000Z"),
// floor-divided so that times before 1970 format right too.
std::string time_text(std::string_view column) {
  return fmt::format(
      "CASE WHEN {0} IS NULL THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%S', ({0} - (({0} % "
      "1000000) + 1000000) % 1000000) / 1000000, 'unixepoch') || printf('.%06dZ', (({0} % "
      "1000000) + 1000000) % 1000000) END",
      column);
}

// Microseconds of a stored time text (always "YYYY-MM-DDTHH:MM:SS.ffffffZ").
std::string time_micros(std::string_view column) {
  return fmt::format(
      "CASE WHEN {0} IS NULL THEN NULL ELSE CAST(strftime('%s', substr({0}, 1, 19)) AS "
      "INTEGER) * 1000000 + CAST(substr({0}, 21, 6) AS INTEGER) END",
      column);
}

// The findings' view; with `device_seen` (schema v8, ADR 0110) over the devices' last-seen
// rows as well.
std::string vulnerability_view(bool device_seen) {
  const std::string last_found =
      device_seen ? time_text("(" + shown_last_found("f") + ")") : time_text("f.last_found");
  return fmt::format(
      R"sql(
CREATE VIEW vulnerability AS
SELECT f.id AS id,
  CASE WHEN substr(i.uid_suffix, 1, 1) = char(1) THEN substr(i.uid_suffix, 2)
       ELSE t.targets || i.uid_suffix END AS uid,
  coalesce(f.source_uid, t.targets || ic.source_uid_rest) AS source_uid,
  i.type AS type,
  t.targets AS targets,
  hc.hostnames AS hostnames,
  {} AS first_found,
  {} AS last_found,
  {} AS source_last_modified,
  {} AS last_fixed,
  f.status AS status,
  f.status_category AS status_category,
  f.source_status AS source_status,
  f.severity AS severity,
  ic.source_severity AS source_severity,
  ic.results AS results,
  {} AS state_time,
  hc.rbac_group_id AS rbac_group_id,
  hc.rbac_group_name AS rbac_group_name,
  hc.os_platform AS os_platform,
  hc.os_version AS os_version,
  hc.os_architecture AS os_architecture,
  ic.cvss_score AS cvss_score,
  ic.exploitability_level AS exploitability_level,
  ic.recommendation_reference AS recommendation_reference,
  ic.recommended_security_update AS recommended_security_update,
  ic.recommended_security_update_id AS recommended_security_update_id,
  ic.recommended_security_update_url AS recommended_security_update_url,
  ic.security_update_available AS security_update_available,
  hc.is_onboarded AS is_onboarded,
  ic.software_vendor AS software_vendor,
  ic.software_name AS software_name,
  ic.software_version AS software_version,
{})sql",
      time_text("f.first_found"), last_found, time_text("f.source_last_modified"),
      time_text("f.last_fixed"), time_text("f.state_time"),
      narrow_view_tail("vulnerability", "vulnerability_finding", "f", time_text, device_seen));
}

constexpr std::string_view k_host_context_cols =
    "hostnames, rbac_group_id, rbac_group_name, os_platform, os_version, os_architecture, "
    "is_onboarded";
constexpr std::string_view k_item_context_cols =
    "source_severity, results, cvss_score, exploitability_level, recommendation_reference, "
    "recommended_security_update, recommended_security_update_id, "
    "recommended_security_update_url, security_update_available, software_vendor, "
    "software_name, software_version";

// " AND alias.c IS v.c" for each column of a comma-separated list.
std::string same_columns(std::string_view alias, std::string_view cols) {
  std::string out;
  while (!cols.empty()) {
    const auto comma = cols.find(',');
    const auto col = cols.substr(0, comma);
    out += fmt::format(" AND {0}.{1} IS v.{1}", alias, col);
    cols = comma == std::string_view::npos ? std::string_view{} : cols.substr(comma + 2);
  }
  return out;
}

// Tables, then the old rows moved across (same ids), then the view in place of the table.
std::string v4() {
  const std::string suffix =
      "CASE WHEN substr(v.uid, 1, length(v.targets)) = v.targets THEN substr(v.uid, "
      "length(v.targets) + 1) ELSE char(1) || v.uid END";
  const std::string rest =
      "CASE WHEN v.source_uid IS NOT NULL AND substr(v.source_uid, 1, length(v.targets)) = "
      "v.targets THEN substr(v.source_uid, length(v.targets) + 1) END";
  const std::string ic_match = same_columns("ic", k_item_context_cols);
  const std::string hc_match = same_columns("hc", k_host_context_cols);
  std::string sql(k_v4_tables);
  sql += fmt::format(
      R"sql(
INSERT INTO vulnerability_target (targets) SELECT DISTINCT targets FROM vulnerability;
INSERT INTO vulnerability_item (uid_suffix, type)
  SELECT DISTINCT {0}, v.type FROM vulnerability v;
CREATE INDEX temp_item ON vulnerability_item (uid_suffix, type);
INSERT INTO vulnerability_host_context ({2})
  SELECT DISTINCT {2} FROM vulnerability;
INSERT INTO vulnerability_item_context ({3}, source_uid_rest)
  SELECT DISTINCT {3}, {1} FROM vulnerability v;
CREATE INDEX temp_hc ON vulnerability_host_context ({2});
CREATE INDEX temp_ic ON vulnerability_item_context ({3}, source_uid_rest);
INSERT INTO vulnerability_finding (id, item, host, host_context, item_context, source_uid,
  first_found, last_found, source_last_modified, last_fixed, status, status_category,
  source_status, severity, state_time, first_synced_at, last_changed_at, last_run_id, row_hash)
SELECT v.id, i.id, t.id, hc.id, ic.id,
  CASE WHEN ({1}) IS NULL THEN v.source_uid END,
  {4}, {5}, {6}, {7}, v.status, v.status_category, v.source_status, v.severity, {8}, {9}, {10},
  v.last_run_id, v.row_hash
FROM vulnerability v
JOIN vulnerability_target t ON t.targets = v.targets
JOIN vulnerability_item i ON i.uid_suffix = {0} AND i.type = v.type
JOIN vulnerability_host_context hc ON 1{11}
JOIN vulnerability_item_context ic ON ic.source_uid_rest IS ({1}){12};
DROP INDEX temp_item;
DROP INDEX temp_hc;
DROP INDEX temp_ic;
DROP TABLE vulnerability;
CREATE UNIQUE INDEX vulnerability_key_idx ON vulnerability_finding(item, host);
CREATE INDEX vulnerability_open_idx ON vulnerability_finding(severity, host)
  WHERE status_category = 'Open';
)sql",
      suffix, rest, k_host_context_cols, k_item_context_cols, time_micros("v.first_found"),
      time_micros("v.last_found"), time_micros("v.source_last_modified"),
      time_micros("v.last_fixed"), time_micros("v.state_time"), time_micros("v.first_synced_at"),
      time_micros("v.last_changed_at"), hc_match, ic_match);
  sql += vulnerability_view(false);
  return sql;
}

// The narrow installed package (ADR 0062), as schema v4 did for findings: what a row
// shares with its device (DNS names, OS, device group) and with its software (name,
// end of support, paths, weaknesses) in context rows; `installed_package` a view.
constexpr std::string_view k_v5_tables = R"sql(
CREATE TABLE installed_package_target (
  id       INTEGER PRIMARY KEY,
  targets  TEXT NOT NULL
);
CREATE UNIQUE INDEX installed_package_target_idx ON installed_package_target(targets);

CREATE TABLE installed_package_item (
  id          INTEGER PRIMARY KEY,
  uid_suffix  TEXT NOT NULL,
  type        TEXT NOT NULL
);
CREATE INDEX installed_package_item_type_idx ON installed_package_item(type);

CREATE TABLE installed_package_host_context (
  id               INTEGER PRIMARY KEY,
  dns_names        TEXT NOT NULL,
  os               TEXT,
  rbac_group_id    TEXT,
  rbac_group_name  TEXT
);

CREATE TABLE installed_package_item_context (
  id                     INTEGER PRIMARY KEY,
  name                   TEXT,
  end_of_support_status  TEXT,
  end_of_support_date    TEXT,
  disk_paths             TEXT NOT NULL,
  registry_paths         TEXT NOT NULL,
  number_of_weaknesses   INTEGER
);

CREATE TABLE installed_package_entry (
  id               INTEGER PRIMARY KEY,
  item             INTEGER NOT NULL,
  host             INTEGER NOT NULL,
  host_context     INTEGER NOT NULL,
  item_context     INTEGER NOT NULL,
  version          TEXT NOT NULL,
  status           TEXT NOT NULL,
  first_seen       INTEGER,
  first_synced_at  INTEGER NOT NULL,
  last_changed_at  INTEGER NOT NULL,
  last_run_id      INTEGER NOT NULL,
  row_hash         INTEGER
);
)sql";

constexpr std::string_view k_installed_host_cols = "dns_names, os, rbac_group_id, rbac_group_name";
constexpr std::string_view k_installed_item_cols =
    "name, end_of_support_status, end_of_support_date, disk_paths, registry_paths, "
    "number_of_weaknesses";

std::string installed_package_view() {
  return fmt::format(
      R"sql(
CREATE VIEW installed_package AS
SELECT e.id AS id,
  CASE WHEN substr(i.uid_suffix, 1, 1) = char(1) THEN substr(i.uid_suffix, 2)
       ELSE t.targets || i.uid_suffix END AS uid,
  ic.name AS name,
  i.type AS type,
  t.targets AS targets,
  hc.dns_names AS dns_names,
  hc.os AS os,
  e.version AS version,
  e.status AS status,
  {} AS first_seen,
  ic.end_of_support_status AS end_of_support_status,
  ic.end_of_support_date AS end_of_support_date,
  hc.rbac_group_id AS rbac_group_id,
  hc.rbac_group_name AS rbac_group_name,
  ic.disk_paths AS disk_paths,
  ic.registry_paths AS registry_paths,
  ic.number_of_weaknesses AS number_of_weaknesses,
{})sql",
      time_text("e.first_seen"),
      narrow_view_tail("installed_package", "installed_package_entry", "e", time_text));
}

std::string v5() {
  const std::string suffix =
      "CASE WHEN substr(v.uid, 1, length(v.targets)) = v.targets THEN substr(v.uid, "
      "length(v.targets) + 1) ELSE char(1) || v.uid END";
  std::string sql(k_v5_tables);
  sql += fmt::format(
      R"sql(
INSERT INTO installed_package_target (targets) SELECT DISTINCT targets FROM installed_package;
INSERT INTO installed_package_item (uid_suffix, type)
  SELECT DISTINCT {0}, v.type FROM installed_package v;
INSERT INTO installed_package_host_context ({1})
  SELECT DISTINCT {1} FROM installed_package;
INSERT INTO installed_package_item_context ({2})
  SELECT DISTINCT {2} FROM installed_package;
CREATE INDEX temp_item ON installed_package_item (uid_suffix, type);
CREATE INDEX temp_hc ON installed_package_host_context ({1});
CREATE INDEX temp_ic ON installed_package_item_context ({2});
INSERT INTO installed_package_entry (id, item, host, host_context, item_context, version,
  status, first_seen, first_synced_at, last_changed_at, last_run_id, row_hash)
SELECT v.id, i.id, t.id, hc.id, ic.id, v.version, v.status, {3}, {4}, {5}, v.last_run_id,
  v.row_hash
FROM installed_package v
JOIN installed_package_target t ON t.targets = v.targets
JOIN installed_package_item i ON i.uid_suffix = {0} AND i.type = v.type
JOIN installed_package_host_context hc ON 1{6}
JOIN installed_package_item_context ic ON 1{7};
DROP INDEX temp_item;
DROP INDEX temp_hc;
DROP INDEX temp_ic;
DROP TABLE installed_package;
CREATE UNIQUE INDEX installed_package_key_idx ON installed_package_entry(host, item);
CREATE INDEX installed_package_item_idx ON installed_package_entry(item);
)sql",
      suffix, k_installed_host_cols, k_installed_item_cols, time_micros("v.first_seen"),
      time_micros("v.first_synced_at"), time_micros("v.last_changed_at"),
      same_columns("hc", k_installed_host_cols), same_columns("ic", k_installed_item_cols));
  sql += installed_package_view();
  return sql;
}

// Per device: the digest of its lines in the last full read of the vulnerability export,
// so that unchanged devices' lines need not be decoded again (ADR 0068).
constexpr std::string_view k_v6 = R"sql(
CREATE TABLE finding_digest (
  device_id  TEXT PRIMARY KEY,
  digest     BLOB NOT NULL
) WITHOUT ROWID;
)sql";

// The history of each finding's state (ADR 0074): what changed it and when, written by
// triggers in the transaction of the change, whichever write path made it (upserts,
// sweeps, delta events, a sync's or a user's UPDATE), from the lifecycle columns alone,
// so that a write of one event at a time and one of several at once record the same. A finding's
// first state is the finding itself (New at first_found), so a first load writes no history. Fixed
// at last_fixed (a sweep's snapshot time or the event's time); Reopened at state_time; a
// device-group move while open at state_time when the event moved it, else last_found
// (a full read sees the move, not its time). A Fixed undone by the New half of a pair
// at the same timestamp (a group move split across calls) is taken back.
constexpr std::string_view k_v7_tables = R"sql(
CREATE TABLE vulnerability_event (
  id                 INTEGER PRIMARY KEY,
  finding            INTEGER NOT NULL,
  event              TEXT NOT NULL,
  event_time         INTEGER,
  severity           TEXT NOT NULL,
  host_context       INTEGER NOT NULL,
  from_host_context  INTEGER,
  run_id             INTEGER NOT NULL
);
CREATE INDEX vulnerability_event_finding_idx ON vulnerability_event(finding, event_time);
CREATE INDEX vulnerability_event_time_idx ON vulnerability_event(event_time);

CREATE TRIGGER vulnerability_event_created_closed AFTER INSERT ON vulnerability_finding
WHEN new.status_category = 'Closed'
BEGIN
  INSERT INTO vulnerability_event (finding, event, event_time, severity, host_context, run_id)
  VALUES (new.id, 'Fixed', coalesce(new.last_fixed, new.state_time), new.severity,
          new.host_context, new.last_run_id);
END;

CREATE TRIGGER vulnerability_event_fixed AFTER UPDATE ON vulnerability_finding
WHEN old.status_category = 'Open' AND new.status_category = 'Closed'
BEGIN
  INSERT INTO vulnerability_event (finding, event, event_time, severity, host_context, run_id)
  VALUES (new.id, 'Fixed', coalesce(new.last_fixed, new.state_time), new.severity,
          new.host_context, new.last_run_id);
END;

CREATE TRIGGER vulnerability_event_reopened AFTER UPDATE ON vulnerability_finding
WHEN old.status_category = 'Closed' AND new.status_category = 'Open'
  AND new.status = 'Reopened'
BEGIN
  INSERT INTO vulnerability_event (finding, event, event_time, severity, host_context, run_id)
  VALUES (new.id, 'Reopened', new.state_time, new.severity, new.host_context, new.last_run_id);
END;

CREATE TRIGGER vulnerability_event_unfixed AFTER UPDATE ON vulnerability_finding
WHEN old.status_category = 'Closed' AND new.status_category = 'Open'
  AND new.status <> 'Reopened'
BEGIN
  DELETE FROM vulnerability_event
  WHERE finding = new.id AND event = 'Fixed' AND event_time IS new.state_time;
END;

-- A write that applies several events at once (PostgreSQL's set-based merges) shows a
-- fix and the reopening after it as an open finding with a later last_fixed: both.
CREATE TRIGGER vulnerability_event_fixed_and_reopened AFTER UPDATE ON vulnerability_finding
WHEN old.status_category = 'Open' AND new.status_category = 'Open'
  AND new.status = 'Reopened' AND new.last_fixed IS NOT NULL
  AND (old.last_fixed IS NULL OR new.last_fixed > old.last_fixed)
BEGIN
  INSERT INTO vulnerability_event (finding, event, event_time, severity, host_context, run_id)
  VALUES (new.id, 'Fixed', new.last_fixed, new.severity, new.host_context, new.last_run_id);
  INSERT INTO vulnerability_event (finding, event, event_time, severity, host_context, run_id)
  VALUES (new.id, 'Reopened', new.state_time, new.severity, new.host_context, new.last_run_id);
END;

CREATE TRIGGER vulnerability_event_moved AFTER UPDATE ON vulnerability_finding
WHEN old.host_context <> new.host_context
  AND (old.status_category = 'Open' OR new.status_category = 'Open')
  AND (SELECT rbac_group_name FROM vulnerability_host_context WHERE id = old.host_context)
      IS NOT (SELECT rbac_group_name FROM vulnerability_host_context WHERE id = new.host_context)
BEGIN
  INSERT INTO vulnerability_event (finding, event, event_time, severity, host_context,
                                   from_host_context, run_id)
  VALUES (new.id, 'Moved',
          CASE WHEN new.state_time > old.state_time THEN new.state_time
               WHEN new.last_found IS NULL THEN new.state_time
               WHEN new.state_time IS NULL OR new.last_found > new.state_time THEN new.last_found
               ELSE new.state_time END,
          new.severity, new.host_context, old.host_context, new.last_run_id);
END;
)sql";

// Per object, the snapshot time of its first complete full read in this store (of the
// migration, for an older store): the history of findings is complete from there on.
// Not INSERT OR IGNORE: checkpoints are written with INSERT OR REPLACE, whose conflict
// policy SQLite applies to the statements of the triggers it fires.
std::string v7_history_start() {
  return fmt::format(R"sql(
CREATE TABLE history_start (
  object         TEXT PRIMARY KEY,
  snapshot_time  INTEGER NOT NULL
);
CREATE TRIGGER history_start_on_insert AFTER INSERT ON checkpoint
WHEN new.full_snapshot_time IS NOT NULL
BEGIN
  INSERT INTO history_start (object, snapshot_time) SELECT new.object, {0}
  WHERE NOT EXISTS (SELECT 1 FROM history_start WHERE object = new.object);
END;
CREATE TRIGGER history_start_on_update AFTER UPDATE ON checkpoint
WHEN new.full_snapshot_time IS NOT NULL
BEGIN
  INSERT INTO history_start (object, snapshot_time) SELECT new.object, {0}
  WHERE NOT EXISTS (SELECT 1 FROM history_start WHERE object = new.object);
END;
INSERT INTO history_start (object, snapshot_time)
SELECT object, {1} FROM checkpoint WHERE full_snapshot_time IS NOT NULL;
)sql",
                     time_micros("new.full_snapshot_time"), time_micros("full_snapshot_time"));
}

std::string v7() {
  return std::string(k_v7_tables) + std::string(history_backfill()) +
         history_view(
             "CASE WHEN substr(i.uid_suffix, 1, 1) = char(1) THEN substr(i.uid_suffix, 2) "
             "ELSE t.targets || i.uid_suffix END",
             time_text) +
         v7_history_start();
}

// Last-seen per device (ADR 0110): a device whose lines moved only their
// lastSeenTimestamp gets one row here instead of an update of each of its open findings;
// the view shows it for them.
std::string v8() {
  return device_seen_table_sql("INTEGER") + "DROP VIEW vulnerability;\n" + vulnerability_view(true);
}

}  // namespace

const std::vector<Migration>& migrations() {
  static const std::string k_v4_sql = v4();
  static const std::string k_v5_sql = v5();
  static const std::string k_v7_sql = v7();
  static const std::string k_v8_sql = v8();
  static const std::vector<Migration> k_migrations = {
      {1, "object tables (source-only fields as columns), sync_run, checkpoint", k_v1},
      {2, "inventory_digest, inventory_versions: unchanged inventory lines are not decoded again",
       k_v2},
      {3, "vulnerability_open_idx: open findings only, keyed (severity, targets)", k_v3},
      {4, "narrow findings: vulnerability_finding with context tables; vulnerability is a view",
       k_v4_sql},
      {5,
       "narrow installed packages: installed_package_entry with context tables; "
       "installed_package is a view",
       k_v5_sql},
      {6, "finding_digest: unchanged finding lines are not decoded again", k_v6},
      {7,
       "vulnerability_event: each finding's state changes, written by triggers; "
       "vulnerability_history view",
       k_v7_sql},
      {8,
       "vulnerability_device_seen: a device's moved lastSeenTimestamp in one row, shown by the "
       "vulnerability view for its open findings",
       k_v8_sql},
  };
  return k_migrations;
}

int latest_schema_version() {
  return migrations().back().version;
}

}  // namespace mdesync::store::sqlite
