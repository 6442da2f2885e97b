// `mdesync status`: recent runs, checkpoints and row counts of a store. Read-only.
#include <cstdio>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "cli/common.hpp"
#include "store/open.hpp"
#include "store/store.hpp"

namespace mdesync::cli {
namespace {

struct StatusFlags {
  config::Overrides overrides;
  bool json = false;
  int runs = 10;
};

std::string when(const std::optional<util::Timestamp>& t) {
  return t ? util::format_timestamp_seconds(*t) : std::string("-");
}

// What status reports: read once, printed as JSON or as text.
struct StoreStatus {
  std::string store;
  int version = 0;
  std::vector<store::SyncRun> runs;
  std::vector<store::Checkpoint> checkpoints;
  std::vector<store::StatusCount> counts;
};

std::string status_json(const StoreStatus& st) {
  nlohmann::json j;
  j["store"] = st.store;
  j["schemaVersion"] = st.version;
  j["runs"] = nlohmann::json::array();
  for (const auto& r : st.runs) {
    j["runs"].push_back(
        {{"id", r.id},
         {"mode", r.mode},
         {"objects", r.objects},
         {"startedAt", util::format_timestamp(r.started_at)},
         {"endedAt", r.ended_at ? nlohmann::json(util::format_timestamp(*r.ended_at)) : nullptr},
         {"outcome", r.outcome ? nlohmann::json(*r.outcome) : nullptr},
         {"summary",
          nlohmann::json::parse(r.counts_json.empty() ? "null" : r.counts_json, nullptr, false)}});
  }
  j["checkpoints"] = nlohmann::json::array();
  for (const auto& c : st.checkpoints) {
    j["checkpoints"].push_back({{"object", model::to_string(c.object)},
                                {"runId", c.run_id},
                                {"mode", c.mode},
                                {"snapshotTime", when(c.snapshot_time)},
                                {"fullSnapshotTime", when(c.full_snapshot_time)},
                                {"completedAt", util::format_timestamp(c.completed_at)}});
  }
  j["rows"] = nlohmann::json::array();
  for (const auto& c : st.counts) {
    j["rows"].push_back(
        {{"object", model::to_string(c.object)}, {"status", c.status}, {"count", c.count}});
  }
  return j.dump() + "\n";
}

std::string status_text(const StoreStatus& st) {
  std::string out =
      fmt::format("store {} (schema version {})\n\nrecent runs:\n", st.store, st.version);
  if (st.runs.empty()) out += "  none yet\n";
  for (const auto& r : st.runs) {
    const double secs =
        r.ended_at ? std::chrono::duration<double>(*r.ended_at - r.started_at).count() : 0;
    out += fmt::format("  #{:<5} {:<6} {:<12} started {}  {:>7.1f} s  {}\n", r.id, r.mode,
                       r.outcome.value_or("running"), util::format_timestamp_seconds(r.started_at),
                       secs, fmt::join(r.objects, ","));
  }
  out += "\ncheckpoints (last good state per object):\n";
  if (st.checkpoints.empty()) out += "  none yet\n";
  for (const auto& c : st.checkpoints) {
    out += fmt::format("  {:<26} run #{:<5} {:<6} snapshot {}  completed {}\n",
                       model::to_string(c.object), c.run_id, c.mode, when(c.snapshot_time),
                       util::format_timestamp_seconds(c.completed_at));
  }
  out += "\nrows:\n";
  for (const auto& c : st.counts) {
    out += fmt::format("  {:<26} {:<12} {:>10}\n", model::to_string(c.object), c.status, c.count);
  }
  return out;
}

int run_status(StatusFlags& flags) {
  setup_logging(false, true);
  auto cfg = config::load(flags.overrides);
  if (!cfg) return report(cfg.error(), "configuration error");
  auto store = store::open_store(cfg->store, {.read_only = true, .tenant = cfg->tenant_id});
  if (!store) {
    // A locked store is being synced (the first sync of a new store keeps readers out
    // while it commits, docs/schema.md); any other failure usually means no store yet.
    const bool locked = store.error().code == util::ErrorCode::store_locked;
    std::fprintf(stderr, "mdesync: cannot open the store %s: %s\n(%s)\n",
                 store::redact_store_url(cfg->store).c_str(), store.error().describe().c_str(),
                 locked ? "a sync is writing it: try again when it has committed"
                        : "run `mdesync sync` first to create it");
    return k_exit_store;
  }
  auto& s = **store;
  // A damaged file is said so, not summarised as if it were sound.
  if (auto ok = s.check(); !ok) return report(ok.error(), "the store is damaged");
  auto version = s.schema_version();
  auto runs = s.recent_runs(flags.runs);
  auto checkpoints = s.checkpoints();
  auto counts = s.count_by_status();
  for (const util::Error* e :
       {version ? nullptr : &version.error(), runs ? nullptr : &runs.error(),
        checkpoints ? nullptr : &checkpoints.error(), counts ? nullptr : &counts.error()}) {
    if (e != nullptr) return report(*e, "cannot read the store");
  }

  const StoreStatus status{store::redact_store_url(cfg->store), *version, std::move(*runs),
                           std::move(*checkpoints), std::move(*counts)};
  const std::string out = flags.json ? status_json(status) : status_text(status);
  std::fputs(out.c_str(), stdout);
  return k_exit_ok;
}

const bool k_registered = register_command(
    {"status", "Show recent sync runs, checkpoints and row counts of the store", [](CLI::App& sub) {
       auto flags = std::make_shared<StatusFlags>();
       config::add_flags(sub, flags->overrides, {false, true, false});
       add_tenant_flag(sub, flags->overrides);
       sub.add_flag("--json", flags->json, "Print as JSON");
       sub.add_option("--runs", flags->runs, "How many recent runs to show")
           ->check(CLI::Range(1, 1000));
       return CommandAction([flags] { return run_status(*flags); });
     }});

}  // namespace
}  // namespace mdesync::cli
