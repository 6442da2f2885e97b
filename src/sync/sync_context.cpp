#include "sync/sync_context.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "mapping/mapping.hpp"
#include "sync/fetch.hpp"
#include "sync/pipeline.hpp"

namespace mdesync::sync {

using util::ErrorCode;
using util::Status;

double seconds_between(std::chrono::steady_clock::time_point a,
                       std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

std::string_view config_name(model::ObjectType object) noexcept {
  return object == model::ObjectType::host ? "machine" : model::to_string(object);
}

const mapping::Filters& SyncContext::filters(const std::string& object) const {
  static const mapping::Filters none;
  auto it = config.filters.find(object);
  return it == config.filters.end() ? none : it->second;
}

bool SyncContext::selected(const std::string& object) const {
  return std::find(config.objects.begin(), config.objects.end(), object) != config.objects.end();
}

Status SyncContext::check_cancel() const {
  if (cancelled()) return util::fail(ErrorCode::cancelled, "interrupted");
  return {};
}

void SyncContext::progress(const ObjectSummary& s, std::chrono::steady_clock::time_point started,
                           bool finishing) const {
  if (!deps.on_progress) return;
  const auto st = client.stats();
  deps.on_progress(Progress{s.object, s.read, st.download_bytes_compressed + st.api_bytes,
                            seconds_between(started, std::chrono::steady_clock::now()), finishing});
}

Status SyncContext::finish(ObjectSummary& s, Finish what, store::Transaction& tx) {
  if (auto st = check_cancel(); !st) return st;
  progress(s, object_started, true);
  if (what.sweep_at) {
    const auto t0 = std::chrono::steady_clock::now();
    auto swept = store.sweep(what.object, write_context(true), *what.sweep_at);
    s.store_seconds += seconds_between(t0, std::chrono::steady_clock::now());
    if (!swept) return tl::unexpected(swept.error());
    s.closed += swept->closed;
    if (auto st = guard_removals(s, what.object, swept->closed); !st) return st;
  }
  store::Checkpoint cp;
  cp.object = what.object;
  cp.run_id = run;
  cp.mode = std::move(what.mode);
  cp.snapshot_time = what.snapshot;
  cp.full_snapshot_time = what.full_snapshot;
  cp.completed_at = now();
  cp.state = std::move(what.state);
  if (auto st = store.save_checkpoint(cp); !st) return st;
  if (auto st = check_cancel(); !st) return st;
  return tx.commit();
}

namespace {

// What the sweep does to `object`'s rows, and what they are called, for the message.
std::pair<std::string_view, std::string_view> removal_words(model::ObjectType object) {
  switch (object) {
    case model::ObjectType::host:
      return {"active hosts", "Removed"};
    case model::ObjectType::package:
      return {"active packages", "Removed"};
    case model::ObjectType::installed_package:
      return {"active installed packages", "Removed"};
    case model::ObjectType::vulnerability:
      return {"open findings", "Fixed"};
    case model::ObjectType::vulnerability_definition:
      break;
  }
  return {"rows", "Removed"};
}

}  // namespace

Status SyncContext::guard_removals(const ObjectSummary& s, model::ObjectType object,
                                   std::int64_t closed) {
  if (closed <= 0 || config.accept_removals || config.removal_guard >= 1.0) return {};
  // An empty read that closes rows would close all of them: counted whatever the minimum.
  const bool empty_read = s.read == 0;
  if (closed < config.removal_guard_min_rows && !empty_read) return {};
  auto remaining = store::count_active(store, object);
  if (!remaining) return tl::unexpected(remaining.error());
  const std::int64_t before = closed + *remaining;
  const double share = static_cast<double>(closed) / static_cast<double>(before);
  const bool everything = *remaining == 0;
  if (!everything && (closed < config.removal_guard_min_rows || share <= config.removal_guard)) {
    return {};
  }
  const auto [rows, verb] = removal_words(object);
  const std::string why =
      everything ? fmt::format("this read would mark every one of the {} {} {}{}", before, rows,
                               verb, empty_read ? " (the listing was empty)" : "")
                 : fmt::format(
                       "this read would mark {} of the {} {} {} ({:.0f}%), more than "
                       "removal_guard allows ({:.0f}%)",
                       closed, before, rows, verb, share * 100, config.removal_guard * 100);
  return util::fail(
      ErrorCode::removal_guard,
      fmt::format("{}: removal guard: {}. If the removals are real, run again with "
                  "--accept-removals, or set removal_guard higher (1 turns it off) or "
                  "removal_guard_min_rows",
                  s.object, why));
}

std::uint64_t SyncContext::digest_seed(std::string_view rules, const std::string& object) const {
  std::string text(rules);
  text += " filters=";
  for (const auto& [key, values] : filters(object)) {
    text += key;
    for (const auto& v : values) text += fmt::format("\x1f{}", v);
    text += '\x1e';
  }
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a: stable across builds
  for (const char c : text) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  return h;
}

util::Result<std::vector<defender::Software>> SyncContext::list_software(
    const std::string& object) {
  std::vector<defender::Software> all;
  defender::ODataQuery q;
  q.filter = mapping::software_odata_filter(filters(object));
  auto r = client.for_each_software(q, [&](defender::Software&& sw) -> Status {
    if (auto st = check_cancel(); !st) return st;
    all.push_back(std::move(sw));
    return {};
  });
  if (!r) return tl::unexpected(r.error());
  return all;
}

std::vector<std::string> ids_of(const std::vector<defender::Software>& software) {
  std::vector<std::string> ids;
  ids.reserve(software.size());
  for (const auto& sw : software) ids.push_back(sw.id);
  return ids;
}

namespace {

std::string_view diagnostic_name(mapping::DiagnosticKind kind) {
  switch (kind) {
    case mapping::DiagnosticKind::unknown_enum_value:
      return "unknown enum value";
    case mapping::DiagnosticKind::unparseable_vector:
      return "unparseable CVSS vector";
    case mapping::DiagnosticKind::score_mismatch:
      return "CVSS score mismatch";
    case mapping::DiagnosticKind::unexpected_value:
      return "unexpected value";
  }
  return "diagnostic";
}

}  // namespace

void skip(ObjectSummary& s, const std::string& reason) {
  ++s.skipped;
  ++s.skipped_reasons[reason];
}

void note(ObjectSummary& s, const std::vector<mapping::Diagnostic>& diagnostics, bool skipped,
          const std::string& skip_reason) {
  for (const auto& d : diagnostics) {
    ++s.diagnostics[fmt::format("{} ({})", diagnostic_name(d.kind), d.field)];
    if (s.diagnostic_samples.size() < 5) s.diagnostic_samples.push_back(d.message);
  }
  if (skipped) skip(s, skip_reason);
}

void merge_tally(ObjectSummary& into, const ObjectSummary& from) {
  into.read += from.read;
  into.skipped += from.skipped;
  into.map_seconds += from.map_seconds;
  for (const auto& [k, v] : from.skipped_reasons) into.skipped_reasons[k] += v;
  for (const auto& [k, v] : from.diagnostics) into.diagnostics[k] += v;
  for (const auto& m : from.diagnostic_samples) {
    if (into.diagnostic_samples.size() < 5) into.diagnostic_samples.push_back(m);
  }
}

}  // namespace mdesync::sync
