#include "store/schema.hpp"

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

}  // namespace

const std::vector<Migration>& migrations() {
  static const std::vector<Migration> k_migrations = {
      {1, "object tables (source-only fields as columns), sync_run, checkpoint", k_v1},
      {2, "inventory_digest, inventory_versions: unchanged inventory lines are not decoded again",
       k_v2},
      {3, "vulnerability_open_idx: open findings only, keyed (severity, targets)", k_v3},
  };
  return k_migrations;
}

int latest_schema_version() {
  return migrations().back().version;
}

}  // namespace mdesync::store::sqlite
