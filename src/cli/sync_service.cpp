#include "cli/sync_service.hpp"

#include <chrono>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cli/common.hpp"
#include "store/open.hpp"
#include "util/log_context.hpp"

namespace mdesync::cli {

util::Timestamp now() {
  return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
}

void add_service_flags(CLI::App& app, ServiceOptions& options) {
  app.add_option("--log-format", options.log_format,
                 "Log format on stderr: text, or json (one object per line) [default: text]")
      ->check(CLI::IsMember({"text", "json"}))
      ->envname("MDESYNC_LOG_FORMAT");
  app.add_option("--metrics-file", options.metrics_file,
                 "Write the run's metrics (Prometheus text) to this file at the end, atomically")
      ->envname("MDESYNC_METRICS_FILE");
  app.add_option("--lock-wait-seconds", options.lock_wait_seconds,
                 "When another sync holds the store, wait up to this long for it (0-86400) "
                 "[default: 0, skip at once with exit 6]")
      ->check(CLI::Range(0, 86400))
      ->envname("MDESYNC_LOCK_WAIT_SECONDS");
}

void note_config(RunRecord& record, const config::Config& config) {
  // A tenant of [[tenants]] tables is known by its name; a lone tenant by its id.
  record.tenant = config.tenant_name.empty() ? config.tenant_id : config.tenant_name;
  record.objects = config.objects;
  record.store_url = config.store;
  record.store_tenant = config.tenant_id;
  if (!record.tenant.empty()) util::set_log_context("tenant", record.tenant);
}

void finish_record(RunRecord& record) {
  if (record.finished) return;
  record.finished = true;
  if (const auto* s = record.summary ? &*record.summary : nullptr) {
    // The run's own times, so that the metrics agree with its summary.
    record.started_at = s->started_at;
    record.ended_at = s->ended_at;
    record.outcome = s->outcome;
    const util::LogFigures figures({{"outcome", s->outcome},
                                    {"exit_code", std::int64_t{record.exit_code}},
                                    {"seconds", s->seconds()},
                                    {"http_requests", static_cast<std::int64_t>(s->http_calls)},
                                    {"retries", static_cast<std::int64_t>(s->retries)},
                                    {"throttled", static_cast<std::int64_t>(s->throttled)}});
    spdlog::info("sync run {} ended: {} (exit {})", s->run_id, s->outcome, record.exit_code);
  } else {
    const util::LogFigures figures(
        {{"outcome", record.outcome}, {"exit_code", std::int64_t{record.exit_code}}});
    spdlog::info("sync refused before it began (exit {})", record.exit_code);
  }
}

int run_recorded(const ServiceOptions& options, bool verbose, bool quiet, bool dry_run,
                 const std::function<int(std::vector<RunRecord>&)>& body) {
  setup_logging(verbose, quiet, options.log_format == "json" ? LogFormat::json : LogFormat::text);
  std::vector<RunRecord> records(1);
  records.front().started_at = now();
  const int code = body(records);
  if (dry_run) return code;
  if (records.size() == 1 && !records.front().finished) {
    records.front().exit_code = code;
    records.front().ended_at = now();
  }
  for (auto& record : records) {
    // A multi-tenant run that stopped before its tenants began (a configuration error):
    // each tenant's record says so with the run's code.
    if (!record.finished && record.exit_code == 0) record.exit_code = code;
    if (record.ended_at == util::Timestamp{}) {
      record.started_at = records.front().started_at;
      record.ended_at = now();
    }
    finish_record(record);
  }
  if (records.size() > 1) spdlog::info("sync of {} tenants ended (exit {})", records.size(), code);

  if (!options.metrics_file.empty()) {
    for (auto& record : records) {
      if (!record.store_url.empty()) {
        read_last_success(record, record.store_url, record.store_tenant);
      }
    }
    if (auto st = write_metrics_file(options.metrics_file, metrics_text(records)); !st) {
      tell(spdlog::level::err, st.error().describe());
    }
  }
  return code;
}

util::Result<std::unique_ptr<store::Store>> open_exclusive(const config::Config& config,
                                                           int wait_seconds,
                                                           const util::CancelToken* cancel) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait_seconds);
  bool told = false;
  for (;;) {
    auto store = store::open_store(config.store, {.exclusive = true, .tenant = config.tenant_id});
    if (store || store.error().code != util::ErrorCode::store_locked ||
        std::chrono::steady_clock::now() >= deadline || util::cancelled(cancel)) {
      return store;
    }
    if (!told) {
      spdlog::info("another `mdesync sync` is running on this store; waiting up to {} s for it",
                   wait_seconds);
      told = true;
    }
    if (cancel != nullptr) {
      (void)cancel->wait_for(std::chrono::seconds(1));
    } else {
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  }
}

std::string skipped_for_lock(int wait_seconds) {
  if (wait_seconds == 0) {
    return "another `mdesync sync` is running on this store; this run is skipped (nothing was "
           "changed). --lock-wait-seconds makes a run wait for it";
  }
  return fmt::format(
      "another `mdesync sync` is running on this store and still was after {} s of waiting; "
      "this run is skipped (nothing was changed)",
      wait_seconds);
}

}  // namespace mdesync::cli
