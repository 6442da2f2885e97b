#pragma once

// What `mdesync sync` does for running as a service (README "Operating mdesync"): the
// log format, the metrics file (docs/adr/0083), and waiting for another sync of the
// same store (docs/adr/0085). Kept apart from cmd_sync.cpp, which runs the sync itself.

#include <functional>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/metrics.hpp"
#include "config/config.hpp"
#include "store/store.hpp"
#include "util/cancel.hpp"

namespace mdesync::cli {

struct ServiceOptions {
  std::string log_format = "text";  // text | json
  std::string metrics_file;         // empty: none
  int lock_wait_seconds = 0;        // 0: skip at once when another sync holds the store
};

// --log-format, --metrics-file, --lock-wait-seconds (env MDESYNC_LOG_FORMAT,
// MDESYNC_METRICS_FILE, MDESYNC_LOCK_WAIT_SECONDS).
void add_service_flags(CLI::App& app, ServiceOptions& options);

// Sets up logging in the chosen format, runs `body` (the sync, which fills the records
// as it goes: one, or one per tenant of a multi-tenant config), logs the end of each
// run with its figures (unless body did: finish_record) and writes the metrics file
// with every tenant's series (not for a dry run). Returns body's exit code; a metrics
// file that cannot be written is an error on stderr but does not change it. `records`
// holds one record when body begins.
int run_recorded(const ServiceOptions& options, bool verbose, bool quiet, bool dry_run,
                 const std::function<int(std::vector<RunRecord>&)>& body);

// Logs the end of one tenant's run (its exit_code set) with its figures, taking the
// run's times and outcome from its summary, if any. Once per record.
void finish_record(RunRecord& record);

// The wall clock, as the records hold it.
util::Timestamp now();

// Notes the loaded configuration in the record (tenant, objects, store) and in the log
// context (the `tenant` field).
void note_config(RunRecord& record, const config::Config& config);

// Opens the store for a sync, holding its lock. When another sync holds it, tries again
// every second for up to `wait_seconds` (0: not at all), then fails with store_locked.
// A cancel (SIGINT/SIGTERM) ends the wait at once, with the store_locked error.
util::Result<std::unique_ptr<store::Store>> open_exclusive(const config::Config& config,
                                                           int wait_seconds,
                                                           const util::CancelToken* cancel);

// The message of a sync that did not get the store's lock.
std::string skipped_for_lock(int wait_seconds);

}  // namespace mdesync::cli
