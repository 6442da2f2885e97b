// `mdesync sync`: full or delta sync of the configured objects into the store.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <mutex>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cli/command.hpp"
#include "cli/common.hpp"
#include "cli/metrics.hpp"
#include "cli/signals.hpp"
#include "cli/signin_text.hpp"
#include "cli/sync_service.hpp"
#include "defender/client.hpp"
#include "store/store.hpp"
#include "sync/engine.hpp"

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

int run_sync(SyncFlags& flags, RunRecord& record) {
  auto cfg = config::load(flags.overrides);
  if (!cfg) return report(cfg.error(), "configuration error");
  note_config(record, *cfg);

  if (flags.dry_run) {
    // Planning reads checkpoints only; without a store yet the first sync is a full one,
    // planned against an empty in-memory store.
    auto store = store::open_store(cfg->store, {.read_only = true, .tenant = cfg->tenant_id});
    if (!store) store = store::open_store("sqlite::memory:");
    if (!store) return report(store.error(), "store error");
    sync::Engine engine(*cfg, {store->get(), nullptr, nullptr, {}, nullptr});
    auto plan = engine.plan();
    if (!plan) return report(plan.error(), "cannot plan the sync");
    std::fputs(("sign-in:\n" + signin_text(*cfg)).c_str(), stdout);
    std::fputs(sync::to_text(*plan).c_str(), stdout);
    return k_exit_ok;
  }

  if (auto st = config::require_credentials(*cfg); !st)
    return report(st.error(), "configuration error");
  // From here on SIGINT/SIGTERM stop the run cleanly (before the first request, the
  // token request included): every wait and transfer watches `cancel`.
  util::CancelToken cancel;
  StopOnSignals stop_on_signals(cancel);
  const auto interrupted_before_writing = [] {
    std::fprintf(stderr, "mdesync: interrupted before the sync started (nothing was written)\n");
    return k_exit_interrupted;
  };
  // Everything that can refuse the run before it writes is checked before the store is
  // opened for writing, which creates and migrates it: a run refused for a bad filter,
  // a delta without a base or a wrong secret must leave no empty store behind.
  bool no_store_yet = false;
  if (auto st = plan_without_writing(*cfg, no_store_yet); !st) {
    return report(st.error(), "sync not started");
  }
  defender::ClientDeps client_deps;
  client_deps.cancel = &cancel;
  auto client = defender::Client::create(*cfg, std::move(client_deps));
  if (!client) return report(client.error(), "configuration error");
  if (auto roles = (*client)->granted_roles(); !roles && is_final(roles.error().code)) {
    if (const auto hint = cloud_mismatch_hint(*cfg, roles.error()); !hint.empty()) {
      roles.error().message += "; " + hint;
    }
    return report(roles.error(), "sync not started (nothing was written)");
  }
  // Interrupted before the store was opened for writing: a store that exists records
  // the interrupted run (the engine stops before its first object); none is created.
  if (cancel.cancelled() && no_store_yet) return interrupted_before_writing();
  auto store = open_exclusive(*cfg, flags.service.lock_wait_seconds, &cancel);
  if (!store) {
    if (cancel.cancelled()) return interrupted_before_writing();
    if (store.error().code == util::ErrorCode::store_locked) {
      tell(spdlog::level::err, store.error().describe());
      tell(spdlog::level::err, skipped_for_lock(flags.service.lock_wait_seconds));
      return k_exit_store;
    }
    return report(store.error(), "cannot open the store");
  }

  ProgressLine progress;
  const bool show_progress = stderr_is_terminal() && !flags.quiet && !json_logs();
  sync::EngineDeps deps{store->get(), client->get(), nullptr, {}, &cancel};
  if (show_progress) deps.on_progress = [&](const sync::Progress& p) { progress.update(p); };
  sync::Engine engine(*cfg, deps);
  auto summary = engine.run();
  progress.clear();
  if (!summary) {
    if (cancel.cancelled()) {
      tell(spdlog::level::warn, "interrupted: " + summary.error().describe());
      return k_exit_interrupted;
    }
    return report(summary.error(), "sync not started");
  }
  record.summary = *summary;

  if (flags.json) {
    std::printf("%s\n", sync::to_json(*summary).c_str());
  } else {
    std::fputs(sync::to_table(*summary).c_str(), stdout);
  }
  std::fflush(stdout);

  if (summary->outcome == "success") return k_exit_ok;
  if (summary->outcome == "interrupted") {
    tell(spdlog::level::warn,
         "interrupted: objects already committed are kept, the one in flight was rolled back; "
         "the next run continues from there");
    return k_exit_interrupted;
  }
  // A run in which no object was stored is a failure, not a partial success: scripts
  // that accept 5 ("the rest was stored") must not take it for one.
  int code = summary->outcome == "failed" ? k_exit_failed : k_exit_partial;
  // Objects held back by the removal guard were read and stored nothing on purpose: a
  // run of no other failure is partial (5), whatever else it stored.
  const bool only_guarded = std::all_of(
      summary->objects.begin(), summary->objects.end(), [](const sync::ObjectSummary& o) {
        return o.outcome == "ok" || o.error_code == "removal_guard";
      });
  if (only_guarded) code = k_exit_partial;
  for (const auto& o : summary->objects) {
    if (o.error_code == "auth" || o.error_code == "permission" ||
        o.error_code == "tls_certificate") {
      return k_exit_auth;
    }
    if (o.error_code == "store" || o.error_code == "store_locked") code = k_exit_store;
  }
  return code;
}

const bool k_registered = register_command(
    {"sync", "Sync Defender data into the store (full or delta)", [](CLI::App& sub) {
       auto flags = std::make_shared<SyncFlags>();
       config::add_flags(sub, flags->overrides, {true, true, true});
       sub.add_flag(
           "--dry-run", flags->dry_run,
           "Print the plan (objects, endpoints, filters, expected calls) and write nothing");
       sub.add_flag("--json", flags->json, "Print the run summary as JSON");
       sub.add_flag("-v,--verbose", flags->verbose, "Log every request (DEBUG)");
       sub.add_flag("-q,--quiet", flags->quiet, "Only warnings and errors; no progress line");
       add_service_flags(sub, flags->service);
       return CommandAction([flags] {
         return run_recorded(flags->service, flags->verbose, flags->quiet, flags->dry_run,
                             [&](RunRecord& record) { return run_sync(*flags, record); });
       });
     }});

}  // namespace
}  // namespace mdesync::cli
