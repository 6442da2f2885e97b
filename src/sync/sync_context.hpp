#pragma once

// What every object's sync shares within one run: the configuration, the store, the
// client and the clock; cancellation, progress and the end of an object (sweep,
// checkpoint, commit); and what one object leaves for a later one (package versions
// counted from the inventory, CVE -> recommendation links from the findings).

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "config/config.hpp"
#include "defender/client.hpp"
#include "mapping/filters.hpp"
#include "store/store.hpp"
#include "sync/engine.hpp"
#include "sync/inventory_digests.hpp"
#include "sync/summary.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace mdesync::sync {

// A delta window starts one 6-hour bucket before the last one ended; the change feed
// reaches at most 14 days back.
inline constexpr auto k_bucket = std::chrono::hours{6};
inline constexpr auto k_delta_limit = std::chrono::hours{24 * 14};

// The order objects run in: installed packages before packages (the export strategy
// aggregates package versions from the inventory) and vulnerabilities before their
// definitions (the CVE -> recommendation links come from the vulnerability rows).
inline constexpr model::ObjectType k_object_order[] = {
    model::ObjectType::host, model::ObjectType::installed_package, model::ObjectType::package,
    model::ObjectType::vulnerability, model::ObjectType::vulnerability_definition};

// The object's name in the configuration (`objects`, filters) and in the run summary:
// "machine" for hosts, the table name for the others.
std::string_view config_name(model::ObjectType object) noexcept;

double seconds_between(std::chrono::steady_clock::time_point a,
                       std::chrono::steady_clock::time_point b);

// Orders (cve id, recommendation id) pairs and finds them by string_view pairs too, so a
// link seen on a million rows is looked up without building strings.
struct LinkLess {
  using is_transparent = void;
  template <class A, class B>
  bool operator()(const A& a, const B& b) const {
    const std::string_view a1 = a.first;
    const std::string_view b1 = b.first;
    if (a1 != b1) return a1 < b1;
    return std::string_view(a.second) < std::string_view(b.second);
  }
};
using Links = std::set<std::pair<std::string, std::string>, LinkLess>;

struct SyncContext {
  const config::Config& config;
  store::Store& store;
  defender::Client& client;
  util::Clock& clock;
  const EngineDeps& deps;
  model::RunId run = 0;

  // Left by the vulnerability object for the definitions: the links its rows carried,
  // and whether they are all of them (a complete full read).
  Links links{};
  bool links_complete = false;
  // Left by the inventory read for the packages (export strategy): version counts, or
  // why the read failed (then the counts are incomplete).
  std::optional<VersionAggregate> versions{};
  std::optional<util::Error> inventory_failure{};
  // Left by a failed findings read for the definitions: their CVE -> recommendation links
  // come from this run's findings, so without them the definitions keep their last good
  // state too (fault matrix, issue 27).
  std::optional<util::Error> findings_failure{};
  std::chrono::steady_clock::time_point object_started{};  // of the object in progress

  [[nodiscard]] const mapping::Filters& filters(const std::string& object) const;
  [[nodiscard]] bool selected(const std::string& object) const;
  [[nodiscard]] bool selected(model::ObjectType object) const {
    return selected(std::string(config_name(object)));
  }
  [[nodiscard]] bool cancelled() const { return util::cancelled(deps.cancel); }
  [[nodiscard]] util::Status check_cancel() const;
  [[nodiscard]] util::Timestamp now() const { return util::to_timestamp(clock.now()); }

  // Reports the object's progress to the caller (after each batch, and once finishing).
  void progress(const ObjectSummary& s, std::chrono::steady_clock::time_point started,
                bool finishing = false) const;

  // `track_seen`: record uids for a sweep; `every_row`: a full read that upserts every
  // row it keeps (see store::WriteContext).
  [[nodiscard]] store::WriteContext write_context(bool track_seen, bool every_row = false) const {
    return store::WriteContext{run, now(), track_seen, every_row};
  }

  // The end of one object's sync: the sweep (when `sweep_at`), the checkpoint, the
  // commit of `tx`. Cancellation is checked before and after.
  struct Finish {
    model::ObjectType object = model::ObjectType::host;
    std::string mode = "full";
    std::optional<util::Timestamp> snapshot;
    std::optional<util::Timestamp> full_snapshot;
    std::optional<util::Timestamp> sweep_at;
    std::string state = "{}";
  };
  util::Status finish(ObjectSummary& s, Finish what, store::Transaction& tx);
  // The removal guard, after a sweep that closed `closed` rows of `object` (inside the
  // transaction): ErrorCode::removal_guard when they are more than config.removal_guard
  // of the object's active rows (and at least removal_guard_min_rows), or all of them.
  util::Status guard_removals(const ObjectSummary& s, model::ObjectType object,
                              std::int64_t closed);
  // A full read's end, where snapshot, full snapshot and sweep time are one time.
  util::Status finish_full(ObjectSummary& s, model::ObjectType object, util::Timestamp snapshot,
                           store::Transaction& tx) {
    return finish(s, {object, "full", snapshot, snapshot, snapshot, "{}"}, tx);
  }

  // Seeds the digests of an object's export lines with what shapes its rows besides the
  // lines: the revision of its mapping rules and its operation options (ADR 0060, 0068).
  // A change of either rebuilds every device once. Stable across builds.
  [[nodiscard]] std::uint64_t digest_seed(std::string_view rules, const std::string& object) const;

  // Every software the service lists, with the object's pushed-down filter (the api
  // strategy's packages and installed packages).
  util::Result<std::vector<defender::Software>> list_software(const std::string& object);
};

// Why a read's skips cannot be trusted when a device's `lines` ("inventory", "finding")
// were not in one block of the export.
inline std::string lines_split(std::string_view lines) {
  return "a device's " + std::string(lines) + " lines were not all in one block of the export";
}

// Runs `read(allow_skip, conflict)` of an export whose unchanged devices may be skipped
// (ADR 0060, 0068). When the read finds its skips cannot be trusted, it sets `conflict`
// to why (lines_split, a count the store does not confirm...): the attempt (whose
// transaction was rolled back) is forgotten and the export read again decoding every
// line, with a warning that says why.
template <class Read>
util::Status read_skipping_unchanged(SyncContext& ctx, ObjectSummary& s, const Read& read) {
  const ObjectSummary before = s;
  const Links links_before = ctx.links;
  std::string conflict;
  auto st = read(true, conflict);
  if (!st || conflict.empty()) return st;
  const std::string why = conflict + "; read them again without skipping unchanged devices";
  spdlog::warn("{}: {}", s.object, why);
  s = before;
  ctx.links = links_before;
  s.warnings.push_back(why);
  return read(false, conflict);
}

// One function per object of the model; the engine runs them in its order. Each reads
// its source, writes through one store transaction, and commits or leaves the last good
// state. `write` false (installed packages only): read the inventory for package versions.
util::Status sync_machines(SyncContext& ctx, ObjectSummary& s);
util::Status sync_installed_packages(SyncContext& ctx, ObjectSummary& s, bool write);
util::Status sync_packages(SyncContext& ctx, ObjectSummary& s);
util::Status sync_vulnerabilities(SyncContext& ctx, ObjectSummary& s, const std::string& mode);
util::Status sync_definitions(SyncContext& ctx, ObjectSummary& s, const std::string& mode);

}  // namespace mdesync::sync
