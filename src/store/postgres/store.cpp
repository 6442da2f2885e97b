// The PostgreSQL store: transactions, the sweep after a full read, reads, inventory
// digests, runs and checkpoints (ADR 0067).

#include "store/postgres/store_impl.hpp"

#include <algorithm>
#include <unordered_map>

#include "store/codec.hpp"
#include "store/declared_columns.hpp"
#include "store/narrow_layout.hpp"
#include "store/postgres/schema.hpp"
#include "store/views.hpp"

namespace mdesync::store::pg {

namespace {

std::string object_id(ObjectType object) {
  return std::to_string(static_cast<int>(object));
}

// Bytes from the hex text of a bytea (encode(x, 'hex')).
std::string from_hex(std::string_view hex) {
  auto nibble = [](char c) {
    return static_cast<unsigned>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
  };
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out += static_cast<char>(nibble(hex[i]) << 4 | nibble(hex[i + 1]));
  }
  return out;
}

// bytea input text of bytes ("\x0a1b...").
std::string to_hex(std::string_view bytes) {
  static constexpr char k_digits[] = "0123456789abcdef";
  std::string out = "\\x";
  for (const char c : bytes) {
    const auto u = static_cast<unsigned char>(c);
    out += k_digits[u >> 4];
    out += k_digits[u & 15];
  }
  return out;
}

// An array literal of texts ({"a","b"}) for a text[] parameter.
std::string text_array(std::span<const std::string> values) {
  std::string out = "{";
  for (const auto& v : values) {
    if (out.size() > 1) out += ',';
    out += '"';
    for (const char c : v) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

}  // namespace

bool KeySet::insert(std::int64_t item, std::int64_t host) {
  constexpr std::int64_t k_limit = std::int64_t{1} << 32;
  if (item <= 0 || host <= 0 || item >= k_limit || host >= k_limit) {
    return m_wide.emplace(item, host).second;
  }
  return insert_packed(static_cast<std::uint64_t>(item) << 32 | static_cast<std::uint64_t>(host));
}

bool KeySet::insert_packed(std::uint64_t key) {
  if (2 * (m_size + 1) > m_slots.size()) {
    std::vector<std::uint64_t> old = std::move(m_slots);
    m_slots.assign(std::max<std::size_t>(1 << 16, 2 * old.size()), 0);
    m_size = 0;
    for (const auto k : old) {
      if (k != 0) insert_packed(k);
    }
  }
  const std::size_t mask = m_slots.size() - 1;
  // Fibonacci hashing: ids are dense and sequential.
  for (std::size_t i = (key * 0x9E3779B97F4A7C15ULL) >> 20 & mask;; i = (i + 1) & mask) {
    if (m_slots[i] == key) return false;
    if (m_slots[i] == 0) {
      m_slots[i] = key;
      ++m_size;
      return true;
    }
  }
}

util::Status PgStore::ready() {
  if (m_tx_open) return {};
  auto reconnected = m_conn->ensure_alive();
  if (!reconnected) return fail(reconnected.error());
  if (*reconnected) m_stages.clear();  // temporary tables went with the old session
  // The sync lock went with the old session: take it again, or give up the store.
  if (*reconnected && m_exclusive) return take_sync_lock(*m_conn);
  return {};
}

util::Status PgStore::do_begin() {
  if (m_read_only) return fail(ErrorCode::invalid_argument, "store opened read-only");
  if (auto st = ready(); !st) return st;
  if (auto st = m_conn->exec("BEGIN"); !st) return st;
  m_tx_open = true;
  m_versions_window.reset();
  return {};
}

util::Status PgStore::do_commit() {
  if (auto st = flush_pending_seen(); !st) return st;
  // The open COPY of a first load and what waits in the client go first.
  if (auto st = flush_pending(); !st) return st;
  // On failure Transaction::commit rolls back (do_rollback): the state stays till then.
  if (auto st = m_conn->exec("COMMIT"); !st) return st;
  forget_pending();
  m_tx_open = false;
  m_versions_window.reset();
  m_empty_at_begin.clear();
  m_first_loads_in_tx.clear();
  m_bulk_keys.clear();
  m_bulk_ended.clear();
  m_streaming.reset();
  if (!m_exclusive) forget_dims();
  return {};
}

void PgStore::do_rollback() noexcept {
  m_tx_open = false;
  m_versions_window.reset();
  m_conn->abandon();
  m_conn->drop_deferred();
  forget_dims();
  if (m_conn->in_transaction()) (void)m_conn->exec("ROLLBACK");
  m_bulk_keys.clear();
  m_bulk_ended.clear();
  m_streaming.reset();
  m_stages.clear();
  m_empty_at_begin.clear();
  forget_pending();
  for (const auto& key : m_first_loads_in_tx) m_first_loads.erase(key);
  m_first_loads_in_tx.clear();
}

Result<bool> PgStore::first_load(ObjectType object) {
  if (!m_tx_open) return false;
  if (auto it = m_empty_at_begin.find(object); it != m_empty_at_begin.end()) return it->second;
  auto r = m_conn->query(fmt::format("SELECT NOT EXISTS (SELECT 1 FROM {})", write_table(object)));
  if (!r) return fail(r.error());
  return m_empty_at_begin[object] = r->int64(0) != 0;
}

namespace {

// Closes the open findings that `which` selects as a full read closes those it did not
// see (Fixed at the snapshot time, unless an event changed them later, at the last_found
// they showed): $2 the run, $3 now, $4 the snapshot time.
std::string close_findings_sql(std::string_view which) {
  return fmt::format(
      "UPDATE vulnerability_finding f SET status = 'Fixed', status_category = 'Closed', "
      "last_fixed = $4::bigint, state_time = $4::bigint, last_changed_at = $3::bigint, "
      "last_run_id = $2::bigint, row_hash = NULL, last_found = {} WHERE status_category = "
      "'Open' AND (state_time IS NULL OR state_time <= $4::bigint) AND {}",
      last_found_now("f"), which);
}

// Closes (findings) or marks Removed (the others) the rows of `object` that its run ($2)
// did not see: $1 object, $3 now, $4 the snapshot time (findings only).
std::string sweep_sql(ObjectType object) {
  constexpr std::string_view k_unseen =
      "NOT EXISTS (SELECT 1 FROM mdesync_seen s WHERE s.object = $1::smallint AND s.run = "
      "$2::bigint AND s.id = f.id)";
  // The rows of a device whose lines were skipped whole were all seen (mark_findings_seen,
  // mark_installed_seen): one row per device, not one per finding. The candidates are
  // the rows of the devices not marked, found through the key index that the device
  // leads: a later full marks most devices, and scanning every open finding for the few
  // left took 335 ms of the 10,000-machine tenant where this takes 20 ms. (Every row's
  // host is an interned target, and none is ever deleted.)
  const std::string device_unseen = fmt::format(
      " AND f.host IN (SELECT t.id FROM {} t WHERE NOT EXISTS (SELECT 1 FROM "
      "mdesync_seen_device d WHERE d.object = $1::smallint AND d.run = $2::bigint AND d.host = "
      "t.id))",
      object == ObjectType::vulnerability ? "vulnerability_target" : "installed_package_target");
  if (object == ObjectType::vulnerability) {
    return close_findings_sql(std::string(k_unseen) + device_unseen);
  }
  return fmt::format(
      "UPDATE {} f SET status = 'Removed', last_changed_at = $3::{}, last_run_id = $2::bigint, "
      "row_hash = NULL WHERE status <> 'Removed' AND {}{}",
      write_table(object), is_narrow_object(object) ? "bigint" : "text", k_unseen,
      object == ObjectType::installed_package ? device_unseen : "");
}

}  // namespace

Result<SweepCounts> PgStore::sweep(ObjectType object, const WriteContext& ctx,
                                   Timestamp snapshot_time) {
  if (object == ObjectType::installed_package) {
    // What is held is marked seen with what the index knows of its devices first.
    if (auto st = merge_held(); !st) return fail(st.error());
    forget_installed_index();
  }
  if (auto st = flush_pending_seen(); !st) return fail(st.error());
  return write_op([&]() -> Result<SweepCounts> {
    // Temporary tables have no statistics until analyzed: without them the anti-join
    // below was planned as a nested loop (2 s for 13,000 findings).
    if (auto st = m_conn->exec(std::string(k_seen_table) +
                               "; ANALYZE mdesync_seen; ANALYZE mdesync_seen_device");
        !st) {
      return fail(st.error());
    }
    const std::string obj = object_id(object);
    const std::string run = std::to_string(ctx.run_id);
    SweepCounts counts;
    // Definitions are never swept; a first load's read saw every row the table holds.
    const bool first_load = m_first_loads.erase({object, ctx.run_id}) > 0;
    if (object != ObjectType::vulnerability_definition && !first_load) {
      const std::string now =
          is_narrow_object(object) ? micros_text(ctx.now) : encode_time(ctx.now);
      auto r = object == ObjectType::vulnerability
                   ? m_conn->query(sweep_sql(object), {obj, run, now, micros_text(snapshot_time)})
                   : m_conn->query(sweep_sql(object), {obj, run, now});
      if (!r) return fail(r.error());
      counts.closed = r->affected();
    }
    if (auto d = m_conn->query(
            "DELETE FROM mdesync_seen WHERE object = $1::smallint AND run = $2::bigint",
            {obj, run});
        !d) {
      return fail(d.error());
    }
    if (is_narrow_object(object)) {
      if (auto d = m_conn->query(
              "DELETE FROM mdesync_seen_device WHERE object = $1::smallint AND run = $2::bigint",
              {obj, run});
          !d) {
        return fail(d.error());
      }
    }
    return counts;
  });
}

// The installed packages of one device into the seen set of `run`: how many.
Result<std::int64_t> PgStore::mark_device_seen(RunId run, std::string_view device_id) {
  return write_op([&]() -> Result<std::int64_t> {
    if (auto st = m_conn->exec(k_seen_table); !st) return fail(st.error());
    auto r = m_conn->query(
        "WITH rows AS (SELECT e.id FROM installed_package_entry e JOIN installed_package_target "
        "t ON t.id = e.host WHERE t.targets = $3), ins AS (INSERT INTO mdesync_seen (object, "
        "run, id) SELECT $1::smallint, $2::bigint, id FROM rows ON CONFLICT DO NOTHING) "
        "SELECT count(*) FROM rows",
        {object_id(ObjectType::installed_package), std::to_string(run), device_id});
    if (!r) return fail(r.error());
    return r->int64(0);
  });
}

util::Status PgStore::flush_pending_seen() {
  auto pending = std::exchange(m_pending_seen, {});
  for (const auto& [run, devices] : pending) {
    auto st = write_op([&]() -> util::Status {
      if (auto c = m_conn->exec(k_seen_table); !c) return c;
      auto r = m_conn->query(
          "INSERT INTO mdesync_seen_device (object, run, host) SELECT $3::smallint, $1::bigint, "
          "t.id FROM installed_package_target t WHERE t.targets = ANY($2::text[]) ON CONFLICT DO "
          "NOTHING",
          {std::to_string(run), text_array(devices), object_id(ObjectType::installed_package)});
      if (!r) return fail(r.error());
      return {};
    });
    if (!st) return st;
  }
  return {};
}

Result<std::int64_t> PgStore::mark_installed_seen(const WriteContext& ctx,
                                                  std::string_view device_id) {
  if (!m_tx_open || m_read_only) return mark_device_seen(ctx.run_id, device_id);
  if (!m_installed_counts) {
    // Counted by host id first, then named: joined first, a million rows took 190 ms to
    // count on the 10,000-machine tenant, 85 ms this way.
    auto r = m_conn->query(
        "SELECT t.targets, c.n FROM (SELECT host, count(*) AS n FROM installed_package_entry "
        "GROUP BY host) c JOIN installed_package_target t ON t.id = c.host");
    if (!r) return fail(r.error());
    m_installed_counts.emplace();
    for (int i = 0; i < r->rows(); ++i) {
      r->set_row(i);
      m_installed_counts->emplace(std::string(r->text(0)), r->int64(1));
    }
  }
  const std::string device(device_id);
  if (m_installed_dirty.contains(device)) {
    if (auto st = flush_pending_seen(); !st) return fail(st.error());
    return mark_device_seen(ctx.run_id, device_id);
  }
  auto& pending = m_pending_seen[ctx.run_id];
  pending.push_back(device);
  if (pending.size() >= 5000) {
    if (auto st = flush_pending_seen(); !st) return fail(st.error());
  }
  const auto it = m_installed_counts->find(device);
  return it == m_installed_counts->end() ? 0 : it->second;
}

// --- inventory digests ---------------------------------------------------------------

util::Status PgStore::scan_inventory_digests(
    const std::function<void(std::string_view, std::string_view, bool)>& visit) {
  if (auto st = ready(); !st) return st;
  if (auto st = flush_digests(); !st) return st;
  auto r =
      m_conn->query("SELECT device_id, encode(digest, 'hex'), has_versions FROM inventory_digest");
  if (!r) return fail(r.error());
  for (int i = 0; i < r->rows(); ++i) {
    r->set_row(i);
    visit(r->text(0), from_hex(r->text(1)), r->int64(2) != 0);
  }
  return {};
}

// A sync asks for the versions of every skipped device, in the order of their ids: the
// next devices in the table's order from the one asked for are read at once (a round
// trip per device cost more than the lookup: 10,000 of them for the scale tenant). A
// device not in the window is looked up with a window of its own, so any order gives
// the right answer; sorted ids (hexadecimal machine ids sort alike in every collation)
// give one query per window. Any write of the digests, and every transaction's start
// and end, forgets the window.
Result<std::optional<std::string>> PgStore::inventory_versions(std::string_view device_id) {
  const std::string device(device_id);
  if (m_versions_window) {
    if (const auto it = m_versions_window->find(device); it != m_versions_window->end()) {
      return std::optional<std::string>{it->second};
    }
  }
  if (auto st = ready(); !st) return fail(st.error());
  if (auto st = flush_digests(); !st) return fail(st.error());
  auto r = m_conn->query(
      "SELECT device_id, encode(versions, 'hex') FROM inventory_versions WHERE device_id >= $1 "
      "ORDER BY device_id LIMIT 512",
      {device_id});
  if (!r) return fail(r.error());
  m_versions_window.emplace();
  for (int i = 0; i < r->rows(); ++i) {
    r->set_row(i);
    m_versions_window->emplace(std::string(r->text(0)), from_hex(r->text(1)));
  }
  if (const auto it = m_versions_window->find(device); it != m_versions_window->end()) {
    return std::optional<std::string>{it->second};
  }
  return std::optional<std::string>{};
}

void PgStore::copy_digests(std::span<const InventoryDigest> digests, CopyBuffer& out) {
  for (const auto& d : digests) {
    out.integer(m_digest_seq++);
    out.text(d.device_id);
    out.text(to_hex(d.digest));
    if (d.versions) {
      out.text(to_hex(*d.versions));
    } else {
      out.null();
    }
    out.end_row();
  }
}

util::Status PgStore::stage_digests(const CopyBuffer& rows, std::string_view then) {
  if (auto st = m_conn->exec(
          "CREATE TEMP TABLE IF NOT EXISTS mdesync_stage_digest (seq bigint, device_id text, "
          "digest bytea, versions bytea); TRUNCATE mdesync_stage_digest");
      !st) {
    return st;
  }
  if (auto st = m_conn->copy_rows("COPY mdesync_stage_digest FROM STDIN", rows); !st) return st;
  // The last row of each device, and what the caller does with them, in one round trip.
  return m_conn->exec(
      "CREATE TEMP TABLE IF NOT EXISTS mdesync_stage_digest_last AS SELECT * FROM "
      "mdesync_stage_digest WITH NO DATA; TRUNCATE mdesync_stage_digest_last; "
      "INSERT INTO mdesync_stage_digest_last SELECT DISTINCT ON (device_id) * FROM "
      "mdesync_stage_digest ORDER BY device_id, seq DESC" +
      (then.empty() ? std::string() : "; " + std::string(then)));
}

util::Status PgStore::put_inventory_digests(std::span<const InventoryDigest> digests) {
  if (digests.empty()) return {};
  m_versions_window.reset();
  if (m_read_only) return fail(ErrorCode::invalid_argument, "store opened read-only");
  copy_digests(digests, m_digests);
  // Inside a transaction they wait (a few MB at most: versions are 4.5 KB a device) until
  // a statement reads or changes the digests, or the commit: the batches of a read are
  // merged without a round trip of digests each.
  constexpr std::size_t k_max_waiting = 8 << 20;
  if (m_tx_open && m_digests.data().size() < k_max_waiting) return {};
  return flush_digests();
}

util::Status PgStore::flush_digests() {
  if (m_digests.data().empty()) return {};
  CopyBuffer rows = std::exchange(m_digests, CopyBuffer{});
  return write_op([&]() -> util::Status {
    return stage_digests(
        rows,
        "INSERT INTO inventory_digest (device_id, digest, has_versions) SELECT device_id, "
        "digest, versions IS NOT NULL FROM mdesync_stage_digest_last ON CONFLICT (device_id) "
        "DO UPDATE SET digest = EXCLUDED.digest, has_versions = EXCLUDED.has_versions; "
        "DELETE FROM inventory_versions v USING mdesync_stage_digest_last s WHERE v.device_id "
        "= s.device_id AND s.versions IS NULL; "
        "INSERT INTO inventory_versions (device_id, versions) SELECT device_id, versions FROM "
        "mdesync_stage_digest_last WHERE versions IS NOT NULL ON CONFLICT (device_id) DO "
        "UPDATE SET versions = EXCLUDED.versions");
  });
}

util::Status PgStore::erase_inventory_digest(std::string_view device_id) {
  m_versions_window.reset();
  if (auto st = flush_digests(); !st) return st;
  return write_op([&]() -> util::Status {
    for (const char* sql : {"DELETE FROM inventory_digest WHERE device_id = $1",
                            "DELETE FROM inventory_versions WHERE device_id = $1"}) {
      if (auto r = m_conn->query(sql, {device_id}); !r) return fail(r.error());
    }
    return {};
  });
}

util::Status PgStore::clear_inventory_digests() {
  m_versions_window.reset();
  m_digests.clear();  // what waits is cleared too
  return write_op([&]() -> util::Status {
    return m_conn->exec("DELETE FROM inventory_digest; DELETE FROM inventory_versions");
  });
}

// --- finding digests (ADR 0068) --------------------------------------------------------

util::Status PgStore::scan_finding_digests(
    std::optional<Timestamp> changed_after,
    const std::function<void(std::string_view, std::string_view)>& visit) {
  if (auto st = ready(); !st) return st;
  // Devices with a finding an event changed after the last full read are left out.
  auto r = m_conn->query(
      "WITH changed AS (SELECT DISTINCT host FROM vulnerability_finding WHERE state_time > "
      "$1::bigint) SELECT d.device_id, encode(d.digest, 'hex') FROM finding_digest d LEFT JOIN "
      "vulnerability_target t ON t.targets = d.device_id WHERE t.id IS NULL OR t.id NOT IN "
      "(SELECT host FROM changed)",
      {changed_after ? OptText(micros_text(*changed_after)) : std::nullopt});
  if (!r) return fail(r.error());
  for (int i = 0; i < r->rows(); ++i) {
    r->set_row(i);
    visit(r->text(0), from_hex(r->text(1)));
  }
  return {};
}

util::Status PgStore::put_finding_digests(std::span<const InventoryDigest> digests) {
  if (digests.empty()) return {};
  return write_op([&]() -> util::Status {
    CopyBuffer rows;
    copy_digests(digests, rows);
    if (auto st = stage_digests(rows); !st) return st;
    return m_conn->exec(
        "INSERT INTO finding_digest (device_id, digest) SELECT device_id, digest FROM "
        "mdesync_stage_digest_last ON CONFLICT (device_id) DO UPDATE SET digest = "
        "EXCLUDED.digest");
  });
}

util::Status PgStore::erase_finding_digests(std::span<const std::string> device_ids) {
  if (device_ids.empty()) return {};
  return write_op([&]() -> util::Status {
    const std::string ids = text_array(device_ids);
    auto r = m_conn->query("DELETE FROM finding_digest WHERE device_id = ANY($1::text[])", {ids});
    if (!r) return fail(r.error());
    return {};
  });
}

util::Status PgStore::clear_finding_digests() {
  return write_op([&]() -> util::Status { return m_conn->exec("DELETE FROM finding_digest"); });
}

Result<std::int64_t> PgStore::mark_findings_seen(
    const WriteContext& ctx, std::span<const std::string> device_ids,
    const std::function<void(std::string_view, std::string_view)>& link,
    std::span<std::int64_t> open_per_device) {
  std::fill(open_per_device.begin(), open_per_device.end(), 0);
  if (device_ids.empty()) return std::int64_t{0};
  return write_op([&]() -> Result<std::int64_t> {
    if (auto st = m_conn->exec(k_seen_table); !st) return fail(st.error());
    const std::string ids = text_array(device_ids);
    // The devices, not each of their open findings: a repeat full of an unchanged tenant
    // marked every open finding (1.4 million rows into the seen table) where it now
    // marks 10,000 devices; the sweep spares the open findings of a marked device.
    // Without per-device counts, one pass over their open findings gives both the total
    // and the links: grouped by (item, item context) first, a few thousand pairs, then
    // joined to the items and contexts (a join per finding cost three times as much, and
    // a second pass for the count as much again). The per-device counts (ADR 0101's
    // check of partly decoded devices, a few devices) take the second pass.
    const std::string object = object_id(ObjectType::vulnerability);
    const std::string run = std::to_string(ctx.run_id);
    if (open_per_device.empty()) {
      auto marked = m_conn->query(
          "WITH hosts AS (SELECT id FROM vulnerability_target WHERE targets = "
          "ANY($1::text[])), ins AS (INSERT INTO mdesync_seen_device (object, run, host) "
          "SELECT $2::smallint, $3::bigint, id FROM hosts ON CONFLICT DO NOTHING), pairs AS "
          "(SELECT f.item, f.item_context, count(*) AS n FROM vulnerability_finding f WHERE "
          "f.status_category = 'Open' AND f.host IN (SELECT id FROM hosts) GROUP BY f.item, "
          "f.item_context) SELECT i.type, ic.recommendation_reference, sum(p.n)::bigint FROM "
          "pairs p LEFT JOIN vulnerability_item i ON i.id = p.item LEFT JOIN "
          "vulnerability_item_context ic ON ic.id = p.item_context GROUP BY i.type, "
          "ic.recommendation_reference",
          {ids, object, run});
      if (!marked) return fail(marked.error());
      std::int64_t n = 0;
      for (int i = 0; i < marked->rows(); ++i) {
        marked->set_row(i);
        n += marked->int64(2);
        if (marked->is_null(0) || marked->is_null(1) || marked->text(1).empty()) continue;
        link(marked->text(0), marked->text(1));
      }
      return n;
    }
    auto marked = m_conn->query(
        "WITH hosts AS (SELECT id, targets FROM vulnerability_target WHERE targets = "
        "ANY($1::text[])), ins AS (INSERT INTO mdesync_seen_device (object, run, host) SELECT "
        "$2::smallint, $3::bigint, id FROM hosts ON CONFLICT DO NOTHING) SELECT h.targets, "
        "count(*) FROM vulnerability_finding f JOIN hosts h ON h.id = f.host WHERE "
        "f.status_category = 'Open' GROUP BY h.targets",
        {ids, object, run});
    if (!marked) return fail(marked.error());
    std::unordered_map<std::string, std::size_t> index;
    for (std::size_t i = 0; i < device_ids.size(); ++i) index.emplace(device_ids[i], i);
    std::int64_t total = 0;
    for (int i = 0; i < marked->rows(); ++i) {
      marked->set_row(i);
      const std::int64_t n = marked->int64(1);
      total += n;
      const auto at = index.find(std::string(marked->text(0)));
      if (at != index.end() && at->second < open_per_device.size()) {
        open_per_device[at->second] = n;
      }
    }
    // The (item, item context) pairs first, as above: joined per finding, this took
    // 2.2 s for 8,000 devices of the 10,000-machine tenant, 0.5 s grouped first.
    auto links = m_conn->query(
        "WITH pairs AS (SELECT DISTINCT f.item, f.item_context FROM vulnerability_finding f "
        "WHERE f.status_category = 'Open' AND f.host IN (SELECT id FROM vulnerability_target "
        "WHERE targets = ANY($1::text[]))) SELECT DISTINCT i.type, ic.recommendation_reference "
        "FROM pairs p JOIN vulnerability_item i ON i.id = p.item JOIN vulnerability_item_context "
        "ic ON ic.id = p.item_context WHERE ic.recommendation_reference <> ''",
        {ids});
    if (!links) return fail(links.error());
    for (int i = 0; i < links->rows(); ++i) {
      links->set_row(i);
      link(links->text(0), links->text(1));
    }
    return total;
  });
}

Result<std::int64_t> PgStore::set_findings_last_found(const WriteContext& ctx,
                                                      std::span<const FindingLastFound> devices) {
  if (devices.empty()) return std::int64_t{0};
  std::vector<std::string> ids;
  std::vector<std::int64_t> micros;
  ids.reserve(devices.size());
  micros.reserve(devices.size());
  for (const auto& d : devices) {
    ids.push_back(d.device_id);
    micros.push_back(d.last_found.time_since_epoch().count());
  }
  const std::string times = bigint_array(micros);
  return write_op([&]() -> Result<std::int64_t> {
    // One statement for every device (ADR 0110): how many open findings show another
    // time now (the CTEs see the rows as they were before it), and one row per device
    // that its open findings follow.
    auto r = m_conn->query(
        fmt::format(
            "WITH d AS (SELECT t.id AS host, x.last_found FROM unnest($1::text[], $2::bigint[]) "
            "AS x(device, last_found) JOIN vulnerability_target t ON t.targets = x.device), "
            "moved AS (SELECT count(*) AS n FROM vulnerability_finding f JOIN d ON d.host = "
            "f.host {0} WHERE f.status_category = 'Open' AND ({1}) IS DISTINCT FROM "
            "d.last_found), up AS (INSERT INTO {2} (host, last_found, changed_at, run_id) "
            "SELECT host, last_found, $3::bigint, $4::bigint FROM d ON CONFLICT (host) DO "
            "UPDATE SET last_found = EXCLUDED.last_found, changed_at = EXCLUDED.changed_at, "
            "run_id = EXCLUDED.run_id) SELECT n FROM moved",
            device_seen_join("f"), shown_last_found("f"), k_device_seen_table),
        {text_array(ids), times, micros_text(ctx.now), std::to_string(ctx.run_id)});
    if (!r) return fail(r.error());
    if (r->rows() != 1) return fail(ErrorCode::store, "set_findings_last_found: no count");
    r->set_row(0);
    return r->int64(0);
  });
}

Result<std::int64_t> PgStore::close_gone_findings(const WriteContext& ctx, Timestamp snapshot_time,
                                                  std::span<const GoneFindings> devices) {
  if (devices.empty()) return std::int64_t{0};
  std::vector<std::string> ids;
  std::unordered_map<std::string_view, const GoneFindings*> by_device;
  for (const auto& d : devices) {
    ids.push_back(d.device_id);
    by_device.emplace(d.device_id, &d);
  }
  return write_op([&]() -> Result<std::int64_t> {
    // The devices' open findings with their uids (one pass), then those whose identity is
    // listed closed as the sweep closes an unseen finding (last_found kept as shown).
    auto r = m_conn->query(
        "SELECT f.id, t.targets, i.uid_suffix FROM vulnerability_finding f JOIN "
        "vulnerability_target t ON t.id = f.host JOIN vulnerability_item i ON i.id = f.item "
        "WHERE t.targets = ANY($1::text[]) AND f.status_category = 'Open'",
        {text_array(ids)});
    if (!r) return fail(r.error());
    std::vector<std::int64_t> gone_ids;
    for (int i = 0; i < r->rows(); ++i) {
      r->set_row(i);
      const auto device = r->text(1);
      const auto it = by_device.find(device);
      if (it == by_device.end()) continue;
      const auto identity = finding_identity(narrow::uid_of(device, r->text(2)));
      const auto& listed = it->second->identities;
      if (std::find(listed.begin(), listed.end(), identity) == listed.end()) {
        continue;
      }
      gone_ids.push_back(r->int64(0));
    }
    if (gone_ids.empty()) return std::int64_t{0};
    const std::string gone = bigint_array(gone_ids);
    static const std::string k_close = close_findings_sql("f.id = ANY($1::bigint[])");
    auto closed = m_conn->query(k_close, {gone, std::to_string(ctx.run_id), micros_text(ctx.now),
                                          micros_text(snapshot_time)});
    if (!closed) return fail(closed.error());
    return closed->affected();
  });
}

// --- reads -----------------------------------------------------------------------------

// The declared columns Row's table lacks. Only a read-only store can lack any: an open
// for writing adds them (open.cpp).
template <typename Row>
Result<std::vector<std::string>> PgStore::absent_columns() {
  if (!m_read_only || is_narrow<Row>) return std::vector<std::string>{};
  auto existing = table_columns(*m_conn, Table<Row>::name);
  if (!existing) return fail(existing.error());
  return missing_column_names(Table<Row>::name, *existing);
}

template <typename Row>
Result<std::optional<Row>> PgStore::find(std::string_view uid) {
  if (auto st = ready(); !st) return fail(st.error());
  auto absent = absent_columns<Row>();
  if (!absent) return fail(absent.error());
  auto r = m_conn->query(
      fmt::format("SELECT {}, first_synced_at, last_changed_at, last_run_id FROM {} WHERE uid "
                  "= $1",
                  read_column_list<Row>(*absent), Table<Row>::name),
      {uid});
  if (!r) return fail(r.error());
  if (r->rows() == 0) return std::optional<Row>{};
  auto row = read_row<Row>(*r);
  if (!row) return fail(row.error());
  return std::optional<Row>{std::move(*row)};
}

// Through a cursor, a few thousand rows at a time: an export of every finding never
// holds the whole result in memory.
template <typename Row>
util::Status PgStore::scan_rows(const RowVisitor<Row>& visit) {
  if (auto st = ready(); !st) return st;
  auto absent = absent_columns<Row>();
  if (!absent) return fail(absent.error());
  const bool own = !m_tx_open;
  if (own) {
    if (auto st = m_conn->exec("BEGIN READ ONLY"); !st) return st;
  }
  auto finish = [&](util::Status st) {
    (void)m_conn->exec("CLOSE mdesync_scan");
    if (own) (void)m_conn->exec(st ? "COMMIT" : "ROLLBACK");
    return st;
  };
  if (auto st = m_conn->exec(
          fmt::format("DECLARE mdesync_scan NO SCROLL CURSOR FOR SELECT {}, first_synced_at, "
                      "last_changed_at, last_run_id FROM {} ORDER BY uid COLLATE \"C\"",
                      read_column_list<Row>(*absent), Table<Row>::name));
      !st) {
    if (own) (void)m_conn->exec("ROLLBACK");
    return st;
  }
  for (;;) {
    auto r = m_conn->query("FETCH 2000 FROM mdesync_scan");
    if (!r) return finish(fail(r.error()));
    if (r->rows() == 0) break;
    for (int i = 0; i < r->rows(); ++i) {
      r->set_row(i);
      auto row = read_row<Row>(*r);
      if (!row) return finish(fail(row.error()));
      if (!visit(*row)) return finish({});
    }
  }
  return finish({});
}

namespace {
// A fetched row as a QueryRow (Store::read_query).
class ResultRow final : public QueryRow {
 public:
  explicit ResultRow(const PgResult& r) : m_r(r) {}
  [[nodiscard]] bool is_null(int column) const override { return m_r.is_null(column); }
  [[nodiscard]] std::string_view text(int column) const override { return m_r.text(column); }
  [[nodiscard]] std::int64_t int64(int column) const override { return m_r.int64(column); }
  [[nodiscard]] double real(int column) const override { return m_r.real(column); }

 private:
  const PgResult& m_r;
};
}  // namespace

// Through a cursor too: a query over every finding streams.
util::Status PgStore::read_query(std::string_view sql, const QueryVisitor& visit) {
  if (auto st = ready(); !st) return st;
  if (auto st = flush_digests(); !st) return st;
  const bool own = !m_tx_open && !m_read_tx;
  if (own) {
    if (auto st = m_conn->exec("BEGIN READ ONLY"); !st) return st;
  }
  auto finish = [&](util::Status st) {
    (void)m_conn->exec("CLOSE mdesync_read");
    if (own) (void)m_conn->exec(st ? "COMMIT" : "ROLLBACK");
    return st;
  };
  if (auto st = m_conn->exec(fmt::format("DECLARE mdesync_read NO SCROLL CURSOR FOR {}", sql));
      !st) {
    if (own) (void)m_conn->exec("ROLLBACK");
    return st;
  }
  for (;;) {
    auto r = m_conn->query("FETCH 10000 FROM mdesync_read");
    if (!r) return finish(fail(r.error()));
    if (r->rows() == 0) break;
    const ResultRow row(*r);
    for (int i = 0; i < r->rows(); ++i) {
      r->set_row(i);
      if (!visit(row)) return finish({});
    }
  }
  return finish({});
}

util::Status PgStore::read_snapshot(const std::function<util::Status()>& body) {
  if (m_tx_open || m_read_tx) return body();
  if (auto st = ready(); !st) return st;
  if (auto st = m_conn->exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); !st) return st;
  m_read_tx = true;
  auto st = body();
  m_read_tx = false;
  (void)m_conn->exec(st ? "COMMIT" : "ROLLBACK");
  return st;
}

template Result<std::optional<Host>> PgStore::find<Host>(std::string_view);
template Result<std::optional<Vulnerability>> PgStore::find<Vulnerability>(std::string_view);
template util::Status PgStore::scan_rows<Host>(const RowVisitor<Host>&);
template util::Status PgStore::scan_rows<Package>(const RowVisitor<Package>&);
template util::Status PgStore::scan_rows<InstalledPackage>(const RowVisitor<InstalledPackage>&);
template util::Status PgStore::scan_rows<Vulnerability>(const RowVisitor<Vulnerability>&);
template util::Status PgStore::scan_rows<VulnerabilityDefinition>(
    const RowVisitor<VulnerabilityDefinition>&);

}  // namespace mdesync::store::pg
