// Engine::run: runs the selected objects in order, each in its own transaction, and
// collects their summaries into the run's (sync_run row, outcome).

#include "sync/engine.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "sync/sync_context.hpp"
#include "util/log_context.hpp"

namespace mdesync::sync {
namespace {

using model::ObjectType;
using util::ErrorCode;
using util::Status;

Status run_object(SyncContext& ctx, ObjectType object, const std::string& mode, ObjectSummary& s,
                  bool write) {
  switch (object) {
    case ObjectType::host:
      return sync_machines(ctx, s);
    case ObjectType::installed_package:
      return sync_installed_packages(ctx, s, write);
    case ObjectType::package:
      return sync_packages(ctx, s);
    case ObjectType::vulnerability:
      return sync_vulnerabilities(ctx, s, mode);
    case ObjectType::vulnerability_definition:
      return sync_definitions(ctx, s, mode);
  }
  return util::fail(ErrorCode::internal,
                    fmt::format("no sync for object {}", static_cast<int>(object)));
}

// What the client's counters say about one object's work.
void count_http(ObjectSummary& s, const defender::ClientStatsSnapshot& before,
                const defender::ClientStatsSnapshot& after) {
  for (const auto& [endpoint, n] : after.calls_by_endpoint) {
    auto it = before.calls_by_endpoint.find(endpoint);
    const auto delta = n - (it == before.calls_by_endpoint.end() ? 0 : it->second);
    if (delta > 0) s.calls_by_endpoint[endpoint] = delta;
  }
  s.http_calls = after.api_calls - before.api_calls + after.downloads - before.downloads;
  s.retries = after.retries - before.retries;
  s.throttled = after.throttled - before.throttled;
  s.bytes_downloaded = (after.download_bytes_compressed - before.download_bytes_compressed) +
                       (after.api_bytes - before.api_bytes);
  s.download_seconds =
      std::chrono::duration<double>(after.download_time - before.download_time).count();
  s.decode_seconds = std::chrono::duration<double>(after.decode_time - before.decode_time).count();
}

// The object's outcome from its status; returns the error that stops the run (auth,
// store), if any.
std::optional<util::Error> record_outcome(ObjectSummary& s, const Status& st) {
  if (st) {
    s.outcome = "ok";
    const util::LogFigures figures({{"read", s.read},
                                    {"written", s.written},
                                    {"unchanged", s.unchanged},
                                    {"closed", s.closed},
                                    {"skipped", s.skipped},
                                    {"seconds", s.seconds}});
    spdlog::info("{}: {} read, {} written, {} unchanged, {} closed, {} skipped ({:.1f} s)",
                 s.object, s.read, s.written, s.unchanged, s.closed, s.skipped, s.seconds);
    return std::nullopt;
  }
  if (st.error().code == ErrorCode::cancelled) {
    s.outcome = "interrupted";
    s.error = "interrupted; this object's changes were rolled back";
    return std::nullopt;
  }
  s.outcome = "failed";
  s.error_code = std::string(util::to_string(st.error().code));
  s.error = st.error().describe() +
            "; nothing of this object was written, the store keeps the last good state";
  spdlog::error("{}: {}", s.object, s.error);
  if (st.error().code == ErrorCode::auth || st.error().code == ErrorCode::store ||
      st.error().code == ErrorCode::store_locked) {
    return st.error();
  }
  return std::nullopt;
}

std::string run_outcome(const std::vector<ObjectSummary>& objects) {
  std::size_t ok = 0, failed = 0, interrupted = 0;
  for (const auto& o : objects) {
    if (o.outcome == "ok") ++ok;
    if (o.outcome == "failed" || o.outcome == "not run") ++failed;
    if (o.outcome == "interrupted") ++interrupted;
  }
  if (interrupted > 0) return "interrupted";
  if (failed == 0) return "success";
  if (ok == 0) return "failed";
  return "partial";
}

}  // namespace

Engine::Engine(config::Config config, EngineDeps deps)
    : m_config(std::move(config)), m_deps(std::move(deps)) {
  if (m_deps.clock == nullptr) m_deps.clock = &util::system_clock();
}

util::Result<RunSummary> Engine::run() {
  auto plan_result = plan();
  if (!plan_result) return tl::unexpected(plan_result.error());
  const std::string mode = plan_result->mode;
  store::Store& store = *m_deps.store;
  SyncContext ctx{m_config, store, *m_deps.client, *m_deps.clock, m_deps};

  RunSummary summary;
  summary.mode = mode;
  summary.started_at = ctx.now();
  auto run = store.begin_run(mode, m_config.objects, summary.started_at);
  if (!run) return tl::unexpected(run.error());
  summary.run_id = ctx.run = *run;
  util::set_log_context("run_id", static_cast<std::int64_t>(summary.run_id));  // ADR 0084
  spdlog::info("sync run {} started: {} sync of {}", summary.run_id, mode,
               fmt::join(m_config.objects, ", "));

  std::optional<util::Error> fatal;
  for (const auto type : k_object_order) {
    const std::string object(config_name(type));
    const bool write = ctx.selected(type);
    // The export strategy reads the inventory for package versions even when installed
    // packages are not synced.
    const bool read_only_inventory = type == ObjectType::installed_package && !write &&
                                     ctx.selected(ObjectType::package) &&
                                     m_config.strategy == "export";
    if (!write && !read_only_inventory) continue;

    ObjectSummary s;
    s.object = object;
    s.mode = (type == ObjectType::vulnerability || type == ObjectType::vulnerability_definition)
                 ? mode
                 : "full";
    if (fatal) {
      s.outcome = "not run";
      s.error_code = std::string(util::to_string(fatal->code));
      s.error = "skipped after an earlier error: " + fatal->message;
      summary.objects.push_back(std::move(s));
      continue;
    }
    if (ctx.cancelled()) {
      s.outcome = "interrupted";
      summary.objects.push_back(std::move(s));
      continue;
    }
    const auto before = ctx.client.stats();
    const util::ScopedLogContext log_object("object", object);
    ctx.object_started = std::chrono::steady_clock::now();
    Status st;
    {
      // An interruption also ends the store statement in progress (a sweep, the index
      // build of a first load's commit): the object's transaction is rolled back anyway.
      util::CancelToken::Subscription stop_store;
      if (m_deps.cancel != nullptr) stop_store = m_deps.cancel->on_cancel(store.interrupter());
      st = run_object(ctx, type, mode, s, write);
    }
    if (!st && st.error().code != ErrorCode::cancelled && ctx.cancelled()) {
      // Whatever the object stopped on once the run was interrupted (a transfer cut
      // short, a store statement that ended), it is the interruption.
      spdlog::debug("{}: stopped by the interruption: {}", object, st.error().describe());
      st = util::fail(ErrorCode::cancelled, "interrupted");
    }
    s.seconds = seconds_between(ctx.object_started, std::chrono::steady_clock::now());
    count_http(s, before, ctx.client.stats());

    if (type == ObjectType::installed_package && !st && st.error().code != ErrorCode::cancelled) {
      ctx.inventory_failure = st.error();
    }
    if (type == ObjectType::vulnerability && !st && st.error().code != ErrorCode::cancelled) {
      ctx.findings_failure = st.error();
    }
    if (!write) {
      // Inventory read only for package versions: report failures on the package row.
      if (!st && st.error().code != ErrorCode::cancelled) {
        spdlog::warn("software inventory for package versions failed: {}", st.error().describe());
      }
      continue;
    }
    if (auto stop = record_outcome(s, st)) fatal = std::move(stop);
    summary.objects.push_back(std::move(s));
  }

  const auto stats = ctx.client.stats();
  summary.token_requests = stats.token_requests;
  summary.http_calls = stats.api_calls + stats.downloads + stats.token_requests;
  summary.retries = stats.retries;
  summary.throttled = stats.throttled;
  summary.outcome = run_outcome(summary.objects);
  if (fatal) summary.error = fatal->describe();
  summary.ended_at = ctx.now();
  if (auto st = store.end_run(summary.run_id, summary.ended_at, summary.outcome, to_json(summary));
      !st) {
    spdlog::error("could not record the end of sync run {}: {}", summary.run_id,
                  st.error().describe());
  }
  return summary;
}

}  // namespace mdesync::sync
