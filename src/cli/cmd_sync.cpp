// `mdesync sync`: full or delta sync of the configured objects into the store.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "cli/common.hpp"
#include "cli/metrics.hpp"
#include "cli/signals.hpp"
#include "cli/signin_text.hpp"
#include "cli/sync_service.hpp"
#include "defender/client.hpp"
#include "store/open.hpp"
#include "store/store.hpp"
#include "sync/engine.hpp"
#include "util/log_context.hpp"

namespace mdesync::cli {
namespace {

struct SyncFlags {
  config::Overrides overrides;
  bool dry_run = false;
  bool json = false;
  bool verbose = false;
  bool quiet = false;
  ServiceOptions service;  // --log-format, --metrics-file, --lock-wait-seconds
};

// A one-line progress display on a terminal, redrawn at most four times a second.
class ProgressLine {
 public:
  void update(const sync::Progress& p) {
    const auto now = std::chrono::steady_clock::now();
    if (p.finishing) {
      // Shown at once: the line then stays still while the store commits.
      m_last = now;
      std::fprintf(stderr, "\r\033[K%s: %lld rows read, committing to the store", p.object.c_str(),
                   static_cast<long long>(p.rows));
      std::fflush(stderr);
      m_shown = true;
      return;
    }
    if (now - m_last < std::chrono::milliseconds(250)) return;
    m_last = now;
    const double rate = p.seconds > 0 ? static_cast<double>(p.rows) / p.seconds : 0;
    std::fprintf(stderr, "\r\033[K%s: %lld rows (%.0f rows/s), %.1f MB downloaded",
                 p.object.c_str(), static_cast<long long>(p.rows), rate,
                 static_cast<double>(p.bytes) / 1048576.0);
    std::fflush(stderr);
    m_shown = true;
  }
  void clear() {
    if (m_shown) std::fprintf(stderr, "\r\033[K");
    m_shown = false;
  }

 private:
  std::chrono::steady_clock::time_point m_last{};
  bool m_shown = false;
};

// Plans the run (filters, a delta's base) against the existing store read-only, or an
// empty in-memory one when its file does not exist yet, so nothing is created. A store
// that cannot be read here (another sync holds it, an older schema, a URI path) is left
// to the real open and the engine's own plan, which say what is wrong. `absent` says
// whether there is no store yet (no SQLite file, no PostgreSQL schema).
util::Status plan_without_writing(const config::Config& cfg, bool& absent) {
  absent = false;
  auto store = store::open_store(cfg.store, {.read_only = true, .tenant = cfg.tenant_id});
  if (!store) {
    if (store.error().code == util::ErrorCode::not_found) absent = true;
    constexpr std::string_view k_sqlite = "sqlite:";
    const bool sqlite = cfg.store.rfind(k_sqlite, 0) == 0;
    const std::string path = sqlite ? cfg.store.substr(k_sqlite.size()) : std::string{};
    std::error_code ec;
    absent = absent ||
             (sqlite && path.rfind("file:", 0) != 0 && !std::filesystem::exists(path, ec) && !ec);
    if (!absent) return {};
    store = store::open_store("sqlite::memory:");
  }
  if (!store) return util::fail(store.error());
  sync::Engine engine(cfg, {store->get(), nullptr, nullptr, {}, nullptr});
  auto plan = engine.plan();
  if (!plan) return util::fail(plan.error());
  return {};
}

// Failures of the first token request that no later attempt in this run would get past.
// Anything else (an unreachable token service, say) is left to the run, which records
// it in the store's run history.
bool is_final(util::ErrorCode code) {
  using util::ErrorCode;
  return code == ErrorCode::auth || code == ErrorCode::permission ||
         code == ErrorCode::tls_certificate || code == ErrorCode::config;
}

// The exit code of a run from its summary (README "Exit codes").
int exit_code_of(const sync::RunSummary& summary) {
  if (summary.outcome == "success") return k_exit_ok;
  if (summary.outcome == "interrupted") return k_exit_interrupted;
  // A run in which no object was stored is a failure, not a partial success: scripts
  // that accept 5 ("the rest was stored") must not take it for one.
  int code = summary.outcome == "failed" ? k_exit_failed : k_exit_partial;
  // Objects held back by the removal guard were read and stored nothing on purpose: a
  // run of no other failure is partial (5), whatever else it stored.
  const bool only_guarded =
      std::all_of(summary.objects.begin(), summary.objects.end(), [](const sync::ObjectSummary& o) {
        return o.outcome == "ok" || o.error_code == "removal_guard";
      });
  if (only_guarded) code = k_exit_partial;
  for (const auto& o : summary.objects) {
    if (o.error_code == "auth" || o.error_code == "permission" ||
        o.error_code == "tls_certificate") {
      return k_exit_auth;
    }
    if (o.error_code == "store" || o.error_code == "store_locked") code = k_exit_store;
  }
  return code;
}

// How one tenant's sync went, for the summary of a run of several (and for a single
// tenant: where its output goes).
struct TenantRun {
  const config::Config* cfg = nullptr;
  bool multi = false;  // one of several tenants: output collected, messages labelled
  RunRecord* record = nullptr;
  int code = k_exit_ok;
  std::string error;   // why it failed, "" when it did not
  std::string output;  // its summary (table or JSON); printed at once for a single tenant
};

// One tenant's sync, from its sign-in to its summary. `cancel` is the tenant's own token
// (cancelled with the run's on SIGINT/SIGTERM).
int sync_tenant(const SyncFlags& flags, TenantRun& t, util::CancelToken& cancel) {
  const config::Config& cfg = *t.cfg;
  RunRecord& record = *t.record;
  const std::string label = t.multi ? fmt::format("tenant '{}': ", cfg.tenant_name) : "";
  const auto fail = [&](const util::Error& e, const std::string& what) {
    t.error = what + ": " + e.describe();
    return report(e, label + what);
  };
  const auto say = [&](spdlog::level::level_enum level, const std::string& text) {
    if (t.error.empty() && level >= spdlog::level::err) t.error = text;
    tell(level, label + text);
  };
  const auto interrupted_before_writing = [&] {
    t.error = "interrupted before the sync started (nothing was written)";
    tell(spdlog::level::warn, label + t.error);
    return k_exit_interrupted;
  };
  // Everything that can refuse the run before it writes is checked before the store is
  // opened for writing, which creates and migrates it: a run refused for a bad filter,
  // a delta without a base or a wrong secret must leave no empty store behind.
  bool no_store_yet = false;
  if (auto st = plan_without_writing(cfg, no_store_yet); !st) {
    return fail(st.error(), "sync not started");
  }
  defender::ClientDeps client_deps;
  client_deps.cancel = &cancel;
  auto client = defender::Client::create(cfg, std::move(client_deps));
  if (!client) return fail(client.error(), "configuration error");
  if (auto roles = (*client)->granted_roles(); !roles && is_final(roles.error().code)) {
    if (const auto hint = cloud_mismatch_hint(cfg, roles.error()); !hint.empty()) {
      roles.error().message += "; " + hint;
    }
    return fail(roles.error(), "sync not started (nothing was written)");
  }
  // Interrupted before the store was opened for writing: a store that exists records
  // the interrupted run (the engine stops before its first object); none is created.
  if (cancel.cancelled() && no_store_yet) return interrupted_before_writing();
  auto store = open_exclusive(cfg, flags.service.lock_wait_seconds, &cancel);
  if (!store) {
    if (cancel.cancelled()) return interrupted_before_writing();
    if (store.error().code == util::ErrorCode::store_locked) {
      say(spdlog::level::err, store.error().describe());
      tell(spdlog::level::err, label + skipped_for_lock(flags.service.lock_wait_seconds));
      return k_exit_store;
    }
    return fail(store.error(), "cannot open the store");
  }

  ProgressLine progress;
  const bool show_progress = stderr_is_terminal() && !flags.quiet && !json_logs() && !t.multi;
  sync::EngineDeps deps{store->get(), client->get(), nullptr, {}, &cancel};
  if (show_progress) deps.on_progress = [&](const sync::Progress& p) { progress.update(p); };
  sync::Engine engine(cfg, deps);
  auto summary = engine.run();
  progress.clear();
  if (!summary) {
    if (cancel.cancelled()) {
      t.error = "interrupted: " + summary.error().describe();
      tell(spdlog::level::warn, label + t.error);
      return k_exit_interrupted;
    }
    return fail(summary.error(), "sync not started");
  }
  record.summary = *summary;
  t.output = flags.json ? sync::to_json(*summary) + "\n" : sync::to_table(*summary);
  if (!t.multi) {
    std::fputs(t.output.c_str(), stdout);
    std::fflush(stdout);
  }
  const int code = exit_code_of(*summary);
  if (summary->outcome == "interrupted") {
    t.error = "interrupted";
    tell(spdlog::level::warn,
         label +
             "interrupted: objects already committed are kept, the one in flight was rolled back; "
             "the next run continues from there");
  } else if (code != k_exit_ok) {
    // The summary's failed objects, for the table across tenants.
    std::vector<std::string> failed;
    for (const auto& o : summary->objects) {
      if (o.outcome != "ok") {
        failed.push_back(o.object + ": " + (o.error.empty() ? o.outcome : o.error));
      }
    }
    t.error = fmt::format("{}", fmt::join(failed, "; "));
  }
  return code;
}

// The worst of the tenants' exit codes (README "Exit codes"): a run that a signal
// interrupted exits 130; otherwise the most severe, from the least: 0 ok, 5 partial,
// 7 failed, 1 other, 6 store, 4 sign-in, 3 configuration (docs/adr/0090).
int worst_exit_code(const std::vector<int>& codes, bool interrupted) {
  if (interrupted) return k_exit_interrupted;
  const auto rank = [](int code) {
    switch (code) {
      case k_exit_ok:
        return 0;
      case k_exit_partial:
        return 1;
      case k_exit_failed:
        return 2;
      case k_exit_store:
        return 4;
      case k_exit_auth:
        return 5;
      case k_exit_config:
        return 6;
      case k_exit_interrupted:
        return -1;  // a tenant's own interruption without the run's: not expected
      default:
        return 3;
    }
  };
  int worst = k_exit_ok;
  for (const int code : codes) {
    if (rank(code) > rank(worst)) worst = code;
  }
  return worst;
}

std::string tenant_outcome(const TenantRun& t) {
  if (t.record->summary) return t.record->summary->outcome;
  return t.code == k_exit_interrupted ? "interrupted" : "refused";
}

// The table across tenants, then each tenant's own table.
std::string tenants_table(const std::vector<TenantRun>& runs, int code) {
  std::string out = fmt::format("{} tenants, exit {}\n", runs.size(), code);
  out += fmt::format("{:<24} {:<11} {:>4} {:>10} {:>10} {:>8} {:>4}  {}\n", "tenant", "outcome",
                     "ok", "failed", "rows", "seconds", "exit", "error");
  for (const auto& t : runs) {
    std::int64_t ok = 0, failed = 0, rows = 0;
    double seconds = 0;
    if (const auto& s = t.record->summary) {
      for (const auto& o : s->objects) {
        (o.outcome == "ok" ? ok : failed) += 1;
        rows += o.read;
      }
      seconds = s->seconds();
    } else {
      failed = static_cast<std::int64_t>(t.cfg->objects.size());
    }
    out += fmt::format("{:<24} {:<11} {:>4} {:>10} {:>10} {:>8.1f} {:>4}  {}\n", t.cfg->tenant_name,
                       tenant_outcome(t), ok, failed, rows, seconds, t.code, t.error);
  }
  for (const auto& t : runs) {
    if (t.output.empty()) continue;
    out += fmt::format("\ntenant {}: ", t.cfg->tenant_name) + t.output;
  }
  return out;
}

// --json for a run of several tenants: {"exitCode", "tenants": {name: {...}}}.
std::string tenants_json(const std::vector<TenantRun>& runs, int code) {
  nlohmann::ordered_json j;
  j["exitCode"] = code;
  j["tenants"] = nlohmann::ordered_json::object();
  for (const auto& t : runs) {
    nlohmann::ordered_json one;
    one["tenantId"] = t.cfg->tenant_id;
    one["outcome"] = tenant_outcome(t);
    one["exitCode"] = t.code;
    one["error"] = t.error.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(t.error);
    one["summary"] =
        t.output.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json::parse(t.output);
    j["tenants"][t.cfg->tenant_name] = std::move(one);
  }
  return j.dump(2) + "\n";
}

// `sync --all` / `--tenant NAME`: each tenant on its own thread, at most
// tenant_concurrency at once, with its own client (and rate limiter), store and cancel
// token; one tenant's failure leaves the others alone (docs/adr/0090).
int run_tenants(const SyncFlags& flags, config::Tenants& tenants, std::vector<RunRecord>& records) {
  records.assign(tenants.tenants.size(), RunRecord{});
  std::vector<TenantRun> runs(tenants.tenants.size());
  for (std::size_t i = 0; i < runs.size(); ++i) {
    runs[i].cfg = &tenants.tenants[i];
    runs[i].multi = true;
    runs[i].record = &records[i];
    note_config(records[i], tenants.tenants[i]);
  }
  util::clear_log_context("tenant");  // note_config set it on this thread: each tenant's own
  // Missing credentials are a configuration error: found before any tenant starts.
  for (const auto& cfg : tenants.tenants) {
    if (auto st = config::require_credentials(cfg); !st) {
      return report(st.error(), fmt::format("configuration error: tenant '{}'", cfg.tenant_name));
    }
  }
  util::CancelToken run_cancel;
  StopOnSignals stop_on_signals(run_cancel);
  set_text_log_tenant(true);

  std::atomic<std::size_t> next{0};
  const auto worker = [&] {
    for (std::size_t i = next++; i < runs.size(); i = next++) {
      TenantRun& t = runs[i];
      const util::ScopedLogContext tenant("tenant", t.cfg->tenant_name);
      util::CancelToken cancel;
      const auto linked = run_cancel.on_cancel([&cancel] { cancel.cancel(); });
      t.record->started_at = now();
      spdlog::info("tenant {}: sync started", t.cfg->tenant_name);
      t.code = sync_tenant(flags, t, cancel);
      t.record->exit_code = t.code;
      t.record->ended_at = now();
      finish_record(*t.record);
      util::clear_log_context("run_id");
    }
  };
  const auto threads =
      std::min<std::size_t>(static_cast<std::size_t>(tenants.tenant_concurrency), runs.size());
  std::vector<std::thread> pool;
  for (std::size_t i = 0; i < threads; ++i) pool.emplace_back(worker);
  for (auto& th : pool) th.join();
  set_text_log_tenant(false);

  std::vector<int> codes;
  for (const auto& t : runs) codes.push_back(t.code);
  const int code = worst_exit_code(codes, run_cancel.cancelled());
  std::fputs((flags.json ? tenants_json(runs, code) : tenants_table(runs, code)).c_str(), stdout);
  std::fflush(stdout);
  for (const auto& t : runs) {
    if (t.code != k_exit_ok) {
      tell(spdlog::level::err,
           fmt::format("tenant '{}' ended with exit {}: {}", t.cfg->tenant_name, t.code, t.error));
    }
  }
  return code;
}

int run_sync(SyncFlags& flags, std::vector<RunRecord>& records) {
  auto tenants = config::load_tenants(flags.overrides);
  if (!tenants) return report(tenants.error(), "configuration error");

  if (flags.dry_run) {
    for (const auto& cfg : tenants->tenants) {
      // Planning reads checkpoints only; without a store yet the first sync is a full one,
      // planned against an empty in-memory store.
      auto store = store::open_store(cfg.store, {.read_only = true, .tenant = cfg.tenant_id});
      if (!store) store = store::open_store("sqlite::memory:");
      if (!store) return report(store.error(), "store error");
      sync::Engine engine(cfg, {store->get(), nullptr, nullptr, {}, nullptr});
      auto plan = engine.plan();
      if (!plan) return report(plan.error(), "cannot plan the sync");
      if (tenants->multi) {
        std::fputs(fmt::format("tenant {} (store {}):\n", cfg.tenant_name, cfg.store).c_str(),
                   stdout);
      }
      std::fputs(("sign-in:\n" + signin_text(cfg)).c_str(), stdout);
      std::fputs(sync::to_text(*plan).c_str(), stdout);
    }
    return k_exit_ok;
  }
  if (tenants->multi) return run_tenants(flags, *tenants, records);

  const config::Config& cfg = tenants->tenants.front();
  RunRecord& record = records.front();
  note_config(record, cfg);
  if (auto st = config::require_credentials(cfg); !st) {
    return report(st.error(), "configuration error");
  }
  // From here on SIGINT/SIGTERM stop the run cleanly (before the first request, the
  // token request included): every wait and transfer watches `cancel`.
  util::CancelToken cancel;
  StopOnSignals stop_on_signals(cancel);
  TenantRun t;
  t.cfg = &cfg;
  t.record = &record;
  return sync_tenant(flags, t, cancel);
}

const bool k_registered = register_command(
    {"sync", "Sync Defender data into the store (full or delta)", [](CLI::App& sub) {
       auto flags = std::make_shared<SyncFlags>();
       config::add_flags(sub, flags->overrides, {true, true, true});
       sub.add_flag(
           "--dry-run", flags->dry_run,
           "Print the plan (objects, endpoints, filters, expected calls) and write nothing");
       sub.add_flag("--json", flags->json, "Print the run summary as JSON");
       sub.add_flag("--all", flags->overrides.all_tenants,
                    "Sync every tenant of the config's [[tenants]] tables, tenant_concurrency "
                    "at once");
       sub.add_flag("-v,--verbose", flags->verbose, "Log every request (DEBUG)");
       sub.add_flag("-q,--quiet", flags->quiet, "Only warnings and errors; no progress line");
       add_service_flags(sub, flags->service);
       return CommandAction([flags] {
         return run_recorded(
             flags->service, flags->verbose, flags->quiet, flags->dry_run,
             [&](std::vector<RunRecord>& records) { return run_sync(*flags, records); });
       });
     }});

}  // namespace
}  // namespace mdesync::cli
