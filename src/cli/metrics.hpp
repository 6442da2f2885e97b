#pragma once

// `mdesync sync --metrics-file PATH`: the run's figures in the Prometheus text format,
// written atomically for node_exporter's textfile collector (README "Operating
// mdesync", docs/adr/0083).

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sync/summary.hpp"
#include "util/result.hpp"
#include "util/time.hpp"

namespace mdesync::cli {

// What one run of one tenant leaves in the metrics file.
struct RunRecord {
  // The `tenant` label: the configured tenant id, or the tenant's name in a config of
  // [[tenants]] tables.
  std::string tenant;
  int exit_code = 0;
  // "success", "partial", "failed", "interrupted", or "refused": stopped before the
  // engine ran (configuration, sign-in, a store another sync holds).
  std::string outcome = "refused";
  util::Timestamp started_at{};
  util::Timestamp ended_at{};
  // The engine's summary, when it ran.
  std::optional<sync::RunSummary> summary;
  // The objects of the configuration, for a run refused before the engine ran.
  std::vector<std::string> objects;
  // Where the store is (read_last_success), once the configuration was loaded.
  std::string store_url;
  std::string store_tenant;
  // Per object: the completion time of its checkpoint, i.e. of its last good sync.
  std::map<std::string, util::Timestamp> last_success;
  // The end of the run was logged (cli/sync_service.hpp, finish_record).
  bool finished = false;
};

// The outcomes that mdesync_last_run_outcome has a series for.
const std::vector<std::string>& run_outcomes();

// Fills record.last_success from the store's checkpoints, read without a lock (as
// `status` reads them); a store that cannot be read leaves it empty.
void read_last_success(RunRecord& record, const std::string& store_url, const std::string& tenant);

// The metrics text (Prometheus text exposition format 0.0.4, which node_exporter's
// textfile collector and `promtool check metrics` read). Pure.
std::string metrics_text(const RunRecord& record);
// The same for the tenants of one run: every family once, with each tenant's series.
std::string metrics_text(const std::vector<RunRecord>& records);

// Writes `text` to a temporary file beside `path` (`path` + ".tmp", which the textfile
// collector ignores), syncs it, and renames it over `path`: a scrape sees the old file
// or the new one, never part of one.
util::Status write_metrics_file(const std::string& path, const std::string& text);

}  // namespace mdesync::cli
