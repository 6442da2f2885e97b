// Reconciliation in the SQLite store: the sweep after a full read, delta events through
// the lifecycle rules (lifecycle.cpp), and the index drop and rebuild of a first load.

#include "store/sqlite/store_impl.hpp"
#include "util/memory.hpp"

namespace mdesync::store::sqlite {

// Recreates the indexes a first load dropped (before COMMIT, inside the transaction).
util::Status SqliteStore::restore_indexes() {
  const bool any = std::any_of(m_state.begin(), m_state.end(),
                               [](const auto& e) { return !e.second.dropped_indexes.empty(); });
  if (!any) return {};
  // The sorter of CREATE INDEX sizes its in-memory runs by cache_size; small runs merge
  // faster here than one big run (measured: about 40% less time for three indexes
  // over 1.5 M findings; 8 MB and 16 MB runs took the same time, 8 MB keeps the peak
  // memory of a 10,000-machine first sync about 8 MB lower), and the page cache is not
  // needed meanwhile.
  if (auto st = m_db->exec("PRAGMA cache_size = -8192"); !st) return st;
  // The sorts get the memory the page cache gives back: its dirty pages written out
  // (they belong to the open transaction either way) and the pages over the smaller
  // cache freed, so that the builds do not add their runs on top of a full cache.
  if (const int rc = sqlite3_db_cacheflush(m_db->handle()); rc != SQLITE_OK) {
    return fail(m_db->error(rc, "could not write the page cache before the index builds"));
  }
  sqlite3_db_release_memory(m_db->handle());
  // And the rows the read freed, which the allocator would keep for a while yet.
  util::release_free_memory();
  util::Status result;
  for (auto& [object, state] : m_state) {
    if (auto st = restore_indexes(object); !st) {
      result = st;
      break;
    }
  }
  if (auto st = m_db->exec(fmt::format("PRAGMA cache_size = -{}", cache_kib())); !st && result) {
    result = st;
  }
  return result;
}

util::Status SqliteStore::restore_indexes(ObjectType object) {
  auto& state = m_state[object];
  for (const auto& [name, sql] : state.dropped_indexes) {
    auto q = m_db->prepare("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?");
    if (!q) return fail(q.error());
    q->bind(1, std::string_view(name));
    auto exists = q->step();
    if (!exists) return fail(exists.error());
    if (*exists) continue;
    if (auto st = m_db->exec(sql); !st) {
      if (!state.bulk || name != unique_index(object) ||
          sqlite3_extended_errcode(m_db->handle()) != SQLITE_CONSTRAINT_UNIQUE) {
        return st;
      }
      // The read delivered a uid more than once: the last row stands, as an update of
      // the first would have left it.
      if (auto d = m_db->exec(
              fmt::format("DELETE FROM {0} WHERE id NOT IN (SELECT max(id) FROM {0} GROUP BY {1})",
                          write_table(object), is_narrow_object(object) ? "item, host" : "uid"));
          !d) {
        return d;
      }
      if (auto again = m_db->exec(sql); !again) return again;
    }
  }
  state.dropped_indexes.clear();
  state.bulk = false;
  return {};
}

// A first load into an empty table inside a transaction: building the indexes once
// from sorted keys at commit is far cheaper than maintaining them row by row. The
// rows are appended (ObjectState::bulk) and a repeated uid is resolved when the unique
// index is rebuilt; the DROP is undone by a rollback.
util::Status SqliteStore::drop_indexes(ObjectType object) {
  auto q = m_db->prepare(
      "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
      "AND sql IS NOT NULL");
  if (!q) return fail(q.error());
  const auto table = write_table(object);
  q->bind(1, table);
  std::vector<std::pair<std::string, std::string>> found;
  for (;;) {
    auto more = q->step();
    if (!more) return fail(more.error());
    if (!*more) break;
    found.emplace_back(q->text(0), q->text(1));
  }
  q->reset();
  auto& state = m_state[object];
  for (auto& [name, sql] : found) {
    if (auto st = m_db->exec(fmt::format("DROP INDEX \"{}\"", name)); !st) return st;
    state.dropped_indexes.emplace_back(std::move(name), std::move(sql));
  }
  return {};
}

Result<SweepCounts> SqliteStore::sweep_unseen(ObjectType object, const WriteContext& ctx,
                                              Timestamp snapshot_time) {
  auto& s = m_tables.at(object);
  auto& state = m_state[object];
  static const SeenSet k_none;
  const auto it = m_seen.find({static_cast<int>(object), ctx.run_id});
  const SeenSet& seen = it == m_seen.end() ? k_none : it->second;
  // Candidates: every row not seen. From the KeyIndex when one is loaded (it names
  // every row: no SQL at all when nothing is missing), else from the status index.
  std::vector<std::pair<std::size_t, std::int64_t>> unseen;  // KeyIndex slot, rowid
  const bool from_keys = state.keys.has_value();
  if (from_keys) {
    state.keys->for_each_slot([&](std::size_t slot, std::int64_t rowid) {
      if (!seen.contains(rowid)) unseen.emplace_back(slot, rowid);
    });
  } else {
    state.keys.reset();  // rows it cannot name change below
    auto q = m_db->prepare(
        object == ObjectType::vulnerability
            ? std::string("SELECT id FROM vulnerability_finding WHERE status_category = 'Open'")
            : fmt::format("SELECT id FROM {} WHERE status <> 'Removed'", write_table(object)));
    if (!q) return fail(q.error());
    for (;;) {
      auto more = q->step();
      if (!more) return fail(more.error());
      if (!*more) break;
      const auto id = q->int64(0);
      if (!seen.contains(id)) unseen.emplace_back(0, id);
    }
  }
  const std::string now = encode_time(ctx.now);
  const std::string snap = encode_time(snapshot_time);
  SweepCounts counts;
  const bool micros = is_narrow_object(object);
  for (const auto& [slot, rowid] : unseen) {
    if (micros) {
      s.sweep.bind(1, std::int64_t{snapshot_time.time_since_epoch().count()});
      s.sweep.bind(2, std::int64_t{ctx.now.time_since_epoch().count()});
    } else {
      s.sweep.bind(1, std::string_view(snap));
      s.sweep.bind(2, std::string_view(now));
    }
    s.sweep.bind(3, ctx.run_id);
    s.sweep.bind(4, rowid);
    if (auto r = s.sweep.run(); !r) return fail(r.error());
    if (m_db->changes() > 0) {
      ++counts.closed;
      // row_hash is NULL now: the next upsert rewrites the row.
      if (from_keys && slot != KeyIndex::npos) state.keys->clear_hash(slot);
    }
  }
  return counts;
}

Result<DeltaCounts> SqliteStore::apply_events(const WriteContext& ctx,
                                              std::span<const Vulnerability> events,
                                              std::optional<Timestamp> baseline) {
  auto& s = m_tables.at(ObjectType::vulnerability);
  auto& state = m_state[ObjectType::vulnerability];
  DeltaCounts counts;
  const auto order = event_order(events);
  for (std::size_t i = 0; i < order.size(); ++i) {
    const Vulnerability& ev = *order[i];
    if (category_of(ev.status) != StatusCategory::open && paired_fixed(order, i)) {
      ++counts.paired;
      continue;
    }
    m_keys = narrow_keys(ev);
    if (auto st = m_finding_dims.key_refs(*m_db, ev, m_keys, m_refs); !st) {
      return fail(st.error());
    }
    const std::uint64_t key = state.keys ? narrow_key(m_refs) : 0;
    bool fast = false;
    auto found = lookup<Vulnerability>(s, state, ev.uid, key, true, fast);
    if (!found) return fail(found.error());
    const Stored found_row = *found;
    const std::optional<std::int64_t> id = found->id;
    const bool has_hash = found->hash.has_value();
    const std::int64_t stored_hash = found->hash.value_or(0);
    const Lifecycle stored = found->life;
    Vulnerability& row = m_scratch;
    if (apply_event(ev, id ? std::optional(stored) : std::nullopt, baseline, row, counts) !=
        EventEffect::write) {
      continue;
    }
    const RowHash hash = content_hash(row);
    std::int64_t row_id = id.value_or(0);
    if (id && has_hash && stored_hash == hash && stored.state_time == row.state_time) {
      ++counts.unchanged;
      continue;
    }
    // m_keys stand for `row` too: apply_event changes only its lifecycle, which no
    // narrow key holds.
    if (auto st = write_row(s, state, ctx, row, key, found_row, hash, row_id); !st) {
      return fail(st.error());
    }
    ++counts.written;
  }
  return counts;
}

}  // namespace mdesync::store::sqlite
