// Finding digests in the SQLite store (ADR 0068): which devices' finding lines were
// unchanged since the last full read, and marking their open findings seen.

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "store/narrow_layout.hpp"
#include "store/sqlite/store_impl.hpp"
#include "store/views.hpp"

namespace mdesync::store::sqlite {

util::Status SqliteStore::scan_finding_digests(
    std::optional<Timestamp> changed_after,
    const std::function<void(std::string_view, std::string_view)>& visit) {
  // Devices with a finding an event changed after the last full read.
  std::unordered_set<std::string> changed;
  if (changed_after) {
    auto q = m_db->prepare(
        "SELECT t.targets FROM vulnerability_target t WHERE t.id IN (SELECT DISTINCT host FROM "
        "vulnerability_finding WHERE state_time > ?)");
    if (!q) return fail(q.error());
    q->bind(1, std::int64_t{changed_after->time_since_epoch().count()});
    for (;;) {
      auto more = q->step();
      if (!more) return fail(more.error());
      if (!*more) break;
      changed.emplace(q->text(0));
    }
  }
  auto q = m_db->prepare("SELECT device_id, digest FROM finding_digest");
  if (!q) return fail(q.error());
  for (;;) {
    auto more = q->step();
    if (!more) return fail(more.error());
    if (!*more) return {};
    if (!changed.contains(std::string(q->text(0)))) visit(q->text(0), q->blob(1));
  }
}

util::Status SqliteStore::put_finding_digests(std::span<const InventoryDigest> digests) {
  return write_op([&]() -> util::Status {
    for (const auto& d : digests) {
      auto st =
          run_cached("INSERT OR REPLACE INTO finding_digest (device_id, digest) VALUES (?, ?)",
                     [&](Statement& q) {
                       q.bind(1, std::string_view(d.device_id));
                       q.bind_blob(2, d.digest);
                     });
      if (!st) return st;
    }
    return {};
  });
}

util::Status SqliteStore::erase_finding_digests(std::span<const std::string> device_ids) {
  return write_op([&]() -> util::Status {
    for (const auto& device : device_ids) {
      auto st = run_cached("DELETE FROM finding_digest WHERE device_id = ?",
                           [&](Statement& q) { q.bind(1, std::string_view(device)); });
      if (!st) return st;
    }
    return {};
  });
}

util::Status SqliteStore::clear_finding_digests() {
  return write_op([&]() -> util::Status { return m_db->exec("DELETE FROM finding_digest"); });
}

Result<std::int64_t> SqliteStore::mark_findings_seen(
    const WriteContext& ctx, std::span<const std::string> device_ids,
    const std::function<void(std::string_view, std::string_view)>& link,
    std::span<std::int64_t> open_per_device) {
  std::fill(open_per_device.begin(), open_per_device.end(), 0);
  if (device_ids.empty()) return std::int64_t{0};
  std::unordered_map<std::int64_t, std::size_t> hosts;  // host id -> index of its device
  for (std::size_t i = 0; i < device_ids.size(); ++i) {
    auto q = cached("SELECT id FROM vulnerability_target WHERE targets = ?");
    if (!q) return fail(q.error());
    (*q)->bind(1, std::string_view(device_ids[i]));
    auto more = (*q)->step();
    if (more && *more) hosts.emplace((*q)->int64(0), i);
    (*q)->reset();
    if (!more) return fail(more.error());
  }
  // One pass over the open findings: cheaper than a lookup per device without a
  // host-leading index, when most devices are unchanged.
  auto q = m_db->prepare(
      "SELECT id, host, item, item_context FROM vulnerability_finding "
      "WHERE status_category = 'Open'");
  if (!q) return fail(q.error());
  SeenSet& seen = seen_set(ObjectType::vulnerability, ctx.run_id);
  std::unordered_set<std::uint64_t> pairs;  // (item, item_context) of the marked findings
  std::int64_t n = 0;
  for (;;) {
    auto more = q->step();
    if (!more) return fail(more.error());
    if (!*more) break;
    const auto host = hosts.find(q->int64(1));
    if (host == hosts.end()) continue;
    seen.add(q->int64(0));
    ++n;
    if (host->second < open_per_device.size()) ++open_per_device[host->second];
    const auto item = static_cast<std::uint64_t>(q->int64(2));
    const auto context = static_cast<std::uint64_t>(q->int64(3));
    if (item >> 32 != 0 || context >> 32 != 0) {
      return fail(ErrorCode::internal, "vulnerability_finding: item ids beyond 32 bits");
    }
    pairs.insert(item << 32 | context);
  }
  if (auto st = finding_links(pairs, link); !st) return fail(st.error());
  return n;
}

Result<std::int64_t> SqliteStore::set_findings_last_found(
    const WriteContext& ctx, std::span<const FindingLastFound> devices) {
  if (devices.empty()) return std::int64_t{0};
  return write_op([&]() -> Result<std::int64_t> {
    // The devices' hosts and times in a temporary table.
    if (auto st = m_db->exec(
            "CREATE TEMP TABLE IF NOT EXISTS mdesync_last_found (host INTEGER PRIMARY KEY, "
            "last_found INTEGER NOT NULL); DELETE FROM temp.mdesync_last_found");
        !st) {
      return fail(st.error());
    }
    for (const auto& d : devices) {
      auto st = run_cached(
          "INSERT OR REPLACE INTO temp.mdesync_last_found (host, last_found) SELECT id, ?2 FROM "
          "vulnerability_target WHERE targets = ?1",
          [&](Statement& q) {
            q.bind(1, std::string_view(d.device_id));
            q.bind(2, std::int64_t{d.last_found.time_since_epoch().count()});
          });
      if (!st) return fail(st.error());
    }
    // How many open findings show another time now (one read pass: no host-leading
    // index), then one row per device (ADR 0110): its open findings follow it.
    auto count = m_db->prepare(fmt::format(
        "SELECT count(*) FROM vulnerability_finding f JOIN temp.mdesync_last_found t ON t.host "
        "= f.host {} WHERE f.status_category = 'Open' AND ({}) IS NOT t.last_found",
        device_seen_join("f"), shown_last_found("f")));
    if (!count) return fail(count.error());
    auto counted = count->step();
    if (!counted) return fail(counted.error());
    const std::int64_t changed = *counted ? count->int64(0) : 0;
    count->reset();
    auto q = m_db->prepare(
        fmt::format("INSERT OR REPLACE INTO {} (host, last_found, changed_at, run_id) SELECT host, "
                    "last_found, ?1, ?2 FROM temp.mdesync_last_found",
                    k_device_seen_table));
    if (!q) return fail(q.error());
    q->bind(1, std::int64_t{ctx.now.time_since_epoch().count()});
    q->bind(2, ctx.run_id);
    if (auto r = q->run(); !r) return fail(r.error());
    // A KeyIndex of this read holds the hashes these rows no longer show.
    m_state[ObjectType::vulnerability].keys.reset();
    if (auto st = m_db->exec("DELETE FROM temp.mdesync_last_found"); !st) return fail(st.error());
    return changed;
  });
}

Result<std::int64_t> SqliteStore::close_gone_findings(const WriteContext& ctx,
                                                      Timestamp snapshot_time,
                                                      std::span<const GoneFindings> devices) {
  if (devices.empty()) return std::int64_t{0};
  return write_op([&]() -> Result<std::int64_t> {
    auto& s = m_tables.at(ObjectType::vulnerability);
    std::int64_t closed = 0;
    std::vector<std::int64_t> ids;
    for (const auto& d : devices) {
      const std::unordered_set<std::uint32_t> gone(d.identities.begin(), d.identities.end());
      // The device's open findings through the open-findings index (severity, host): one
      // seek per severity, no pass over the table.
      auto q = cached(
          "SELECT f.id, i.uid_suffix FROM vulnerability_finding f JOIN vulnerability_item i ON "
          "i.id = f.item WHERE f.status_category = 'Open' AND f.severity IN ('Critical', "
          "'High', 'Medium', 'Low', 'Unknown') AND f.host = (SELECT id FROM "
          "vulnerability_target WHERE targets = ?1)");
      if (!q) return fail(q.error());
      (*q)->bind(1, std::string_view(d.device_id));
      ids.clear();
      for (;;) {
        auto more = (*q)->step();
        if (!more) {
          (*q)->reset();
          return fail(more.error());
        }
        if (!*more) break;
        if (gone.contains(finding_identity(narrow::uid_of(d.device_id, (*q)->text(1))))) {
          ids.push_back((*q)->int64(0));
        }
      }
      (*q)->reset();
      // Each closed as the sweep closes an unseen finding (its last_found kept as shown).
      for (const auto id : ids) {
        s.sweep.bind(1, std::int64_t{snapshot_time.time_since_epoch().count()});
        s.sweep.bind(2, std::int64_t{ctx.now.time_since_epoch().count()});
        s.sweep.bind(3, ctx.run_id);
        s.sweep.bind(4, id);
        if (auto r = s.sweep.run(); !r) return fail(r.error());
        closed += m_db->changes();
      }
    }
    // A KeyIndex of this read holds the hashes these rows no longer have.
    m_state[ObjectType::vulnerability].keys.reset();
    return closed;
  });
}

// The (cveId, recommendation reference) of each (item, item_context) pair.
util::Status SqliteStore::finding_links(
    const std::unordered_set<std::uint64_t>& pairs,
    const std::function<void(std::string_view, std::string_view)>& link) {
  std::unordered_map<std::int64_t, std::string> types;
  std::unordered_map<std::int64_t, std::optional<std::string>> refs;
  auto text_of = [&](const char* sql, std::int64_t id) -> Result<std::optional<std::string>> {
    auto q = cached(sql);
    if (!q) return fail(q.error());
    (*q)->bind(1, id);
    auto more = (*q)->step();
    std::optional<std::string> out;
    if (more && *more && !(*q)->is_null(0)) out.emplace((*q)->text(0));
    (*q)->reset();
    if (!more) return fail(more.error());
    return out;
  };
  for (const std::uint64_t pair : pairs) {
    const auto item = static_cast<std::int64_t>(pair >> 32);
    const auto context = static_cast<std::int64_t>(pair & 0xFFFFFFFFULL);
    auto ref = refs.find(context);
    if (ref == refs.end()) {
      auto r = text_of(
          "SELECT recommendation_reference FROM vulnerability_item_context WHERE id = ?", context);
      if (!r) return fail(r.error());
      ref = refs.emplace(context, std::move(*r)).first;
    }
    if (!ref->second || ref->second->empty()) continue;
    auto type = types.find(item);
    if (type == types.end()) {
      auto r = text_of("SELECT type FROM vulnerability_item WHERE id = ?", item);
      if (!r) return fail(r.error());
      type = types.emplace(item, r->value_or(std::string())).first;
    }
    link(type->second, *ref->second);
  }
  return {};
}

}  // namespace mdesync::store::sqlite
