// Upserts of the SQLite store: looking rows up (KeyIndex or SQL), deciding what changed,
// writing it (ADR 0041, 0062).

#include "store/sqlite/store_impl.hpp"

namespace mdesync::store::sqlite {

// The largest rowid, 0 for an empty table (rowids are dense: about the row count).
Result<std::int64_t> SqliteStore::largest_id(ObjectType object) {
  auto q = m_db->prepare(fmt::format("SELECT coalesce(max(id), 0) FROM {}", write_table(object)));
  if (!q) return fail(q.error());
  auto more = q->step();
  if (!more) return fail(more.error());
  return *more ? q->int64(0) : 0;
}

// Fills the object's KeyIndex from the table (once per full read; kept while no one
// else writes).
util::Status SqliteStore::load_keys(ObjectType object) {
  auto& state = m_state[object];
  auto& s = m_tables.at(object);
  KeyIndex keys;
  // Sized once from the largest rowid (rowids are dense): no growth while loading.
  auto max_id = largest_id(object);
  if (!max_id) return fail(max_id.error());
  keys.reserve(static_cast<std::size_t>(std::clamp<std::int64_t>(*max_id, 0, 1 << 26)));
  for (;;) {
    auto more = s.load.step();
    if (!more) return fail(more.error());
    if (!*more) break;
    const bool narrow = is_narrow_object(object);
    const auto key = narrow ? narrow_key({.item = s.load.int64(1), .host = s.load.int64(2)})
                            : uid_key(s.load.text(1));
    const int hash_column = narrow ? 3 : 2;
    std::optional<std::int64_t> hash;
    if (!s.load.is_null(hash_column)) hash = s.load.int64(hash_column);
    keys.put(key, s.load.int64(0), hash);
  }
  s.load.reset();
  // (An empty table in a transaction never gets here: upsert_rows made it a bulk load.)
  state.keys = std::move(keys);
  return {};
}

void SqliteStore::read_keys(TableStatements& s, const Statement& st, Stored& out) {
  for (std::size_t i = 0; i < s.keys.size(); ++i) {
    s.compare.stored[i].read(st, s.first_key_column + static_cast<int>(i));
  }
  out.keys_read = true;
}

// Looks `uid` up: in the KeyIndex when loaded (confirmed by reading the row by id when
// `need_row`), else by the uid index. `fast_hash` is set when the KeyIndex alone
// answered and the caller may trust the stored hash without reading the row.
template <typename Row>
Result<SqliteStore::Stored> SqliteStore::lookup(TableStatements& s, ObjectState& state,
                                                const std::string& uid, std::uint64_t key,
                                                bool need_row, bool& fast_hash) {
  constexpr bool is_vuln = std::is_same_v<Row, Vulnerability>;
  Stored out;
  fast_hash = false;
  if (state.keys) {
    const auto e = state.keys->find(key);
    if (!e) return out;  // complete index: not stored
    if (!e->ambiguous) {
      if (!need_row) {
        out.id = e->rowid;
        out.hash = e->row_hash;
        fast_hash = true;
        return out;
      }
      s.by_id.bind(1, e->rowid);
      if constexpr (is_narrow<Row>) {
        s.by_id.bind(2, m_refs.item);
        s.by_id.bind(3, m_refs.host);
      }
      auto found = s.by_id.step();
      if (!found) return fail(found.error());
      const bool same = *found && (is_narrow<Row> ? s.by_id.int64(0) == 1 : s.by_id.text(0) == uid);
      if (same) {
        out.id = e->rowid;
        if (!s.by_id.is_null(1)) out.hash = s.by_id.int64(1);
        if constexpr (is_vuln) out.life = read_lifecycle(s.by_id, 2);
        read_keys(s, s.by_id, out);
        s.by_id.reset();
        return out;
      }
      s.by_id.reset();
      state.keys->mark_ambiguous(key);  // another uid with the same key: ask by uid
    }
  }
  if constexpr (is_narrow<Row>) {
    s.select.bind(1, m_refs.item);
    s.select.bind(2, m_refs.host);
  } else {
    s.select.bind(1, std::string_view(uid));
  }
  auto found = s.select.step();
  if (!found) return fail(found.error());
  if (*found) {
    out.id = s.select.int64(0);
    if (!s.select.is_null(1)) out.hash = s.select.int64(1);
    if constexpr (is_vuln) out.life = read_lifecycle(s.select, 2);
    read_keys(s, s.select, out);
  }
  s.select.reset();
  return out;
}

// Writes `row`: an insert, or an update by `existing.id` that sets the indexed columns
// only where they differ from the stored values read by lookup (all of them when
// none were read).
template <typename Row>
util::Status SqliteStore::write_row(TableStatements& s, ObjectState& state, const WriteContext& ctx,
                                    const Row& row, std::uint64_t key, const Stored& existing,
                                    RowHash hash, std::int64_t& id_out) {
  if constexpr (is_narrow<Row>) {
    if (auto st = dims<Row>().context_refs(*m_db, row, m_keys, m_refs); !st) return st;
  }
  auto bind_all = [&](Statement& st, BindCompare* compare) {
    m_bind_buffers.clear();
    StatementSink sink(st, 1, compare);
    Binder b(sink, &m_bind_buffers);
    if constexpr (is_narrow<Row>) {
      Table<Row>::bind_narrow(b, row, m_refs);
      b.micros(ctx.now);
    } else {
      Table<Row>::bind(b, row);
      Table<Row>::bind_source(b, row);
      b.time(ctx.now);
    }
    b.i64(ctx.run_id);
    b.i64(hash);
    if (existing.id) {
      b.i64(*existing.id);
    } else if constexpr (is_narrow<Row>) {
      b.micros(ctx.now);
    } else {
      b.time(ctx.now);
    }
  };
  if (existing.id) {
    s.compare.differs = 0;
    bind_all(s.update, existing.keys_read ? &s.compare : nullptr);
    const std::uint64_t changed_keys = existing.keys_read ? s.compare.differs : s.all_keys;
    Statement* st = &s.update;
    if (changed_keys != 0) {
      s.update.reset();
      auto with_keys = update_with_keys(*m_db, s, changed_keys);
      if (!with_keys) return fail(with_keys.error());
      st = *with_keys;
      bind_all(*st, nullptr);
    }
    if (auto r = st->run(); !r) return r;
    id_out = *existing.id;
  } else {
    bind_all(s.insert, nullptr);
    if (auto r = s.insert.run(); !r) return r;
    id_out = m_db->last_insert_rowid();
  }
  if (state.keys) {
    const auto e = state.keys->find(key);
    if (!e || !e->ambiguous) state.keys->put(key, id_out, hash);
  }
  return {};
}

// The content hash of rows[i]: the caller's when it gave them (WriteContext::hashes).
template <typename Row>
RowHash SqliteStore::hash_of(const WriteContext& ctx, const Row& row, std::size_t i) {
  return i < ctx.hashes.size() ? ctx.hashes[i] : content_hash(row);
}

util::Status SqliteStore::prepare_read(ObjectType object, const WriteContext& ctx,
                                       std::size_t rows) {
  auto& state = m_state[object];
  if (!ctx.track_seen || state.keys || state.bulk) return {};
  if (!state.probed && m_tx_open) {
    // The first rows of a read into an empty table: a first load (see bulk).
    state.probed = true;
    auto max_id = largest_id(object);
    if (!max_id) return fail(max_id.error());
    if (*max_id == 0) {
      if (auto st = drop_indexes(object); !st) return st;
      state.bulk = true;
    }
    // A read known to pass every row loads the index at once; another one only after
    // an eighth of the table (a read that skips most rows upstream never does).
    state.rows_before_key_index =
        ctx.every_row ? 0
                      : std::max(k_min_rows_before_key_index, static_cast<std::uint64_t>(*max_id) /
                                                                  k_table_share_before_key_index);
  }
  // A read that writes few rows (most of them unchanged and skipped upstream) looks
  // them up one by one; loading every key pays off only for a large read.
  state.unindexed_rows += rows;
  if (!state.bulk && (ctx.every_row || state.unindexed_rows >= state.rows_before_key_index)) {
    return load_keys(object);
  }
  return {};
}

template <typename Row>
Result<UpsertCounts> SqliteStore::upsert_rows(const WriteContext& ctx, std::span<const Row> rows) {
  constexpr auto object = Table<Row>::object;
  if (auto st = prepare_read(object, ctx, rows.size()); !st) return fail(st.error());
  auto& s = m_tables.at(object);
  auto& state = m_state[object];
  UpsertCounts counts;
  SeenSet* seen = ctx.track_seen ? &seen_set(object, ctx.run_id) : nullptr;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& in = rows[i];
    if constexpr (is_narrow<Row>) m_keys = narrow_keys_at(ctx.keys, i, in);
    if (!state.bulk) {
      if (auto st = upsert_one(ctx, in, hash_of(ctx, in, i), seen, counts); !st) {
        return fail(st.error());
      }
      continue;
    }
    std::int64_t row_id = 0;
    if constexpr (is_narrow<Row>) {
      if (auto st = dims<Row>().key_refs(*m_db, in, m_keys, m_refs); !st) {
        return fail(st.error());
      }
    }
    if (auto st = write_row(s, state, ctx, in, 0, Stored{}, hash_of(ctx, in, i), row_id); !st) {
      return fail(st.error());
    }
    ++counts.written;
    // Seen all the same: a sweep after the commit must find every row of the read.
    if (seen != nullptr) mark_seen(*seen, object, ctx.run_id, row_id);
  }
  return counts;
}

template <typename Row>
util::Status SqliteStore::upsert_one(const WriteContext& ctx, const Row& in, RowHash in_hash,
                                     SeenSet* seen, UpsertCounts& counts) {
  constexpr auto object = Table<Row>::object;
  auto& s = m_tables.at(object);
  auto& state = m_state[object];
  std::uint64_t key = 0;
  if constexpr (is_narrow<Row>) {
    // m_keys: set by upsert_rows. A merged row (below) differs only in its lifecycle,
    // which no narrow key holds.
    if (auto st = dims<Row>().key_refs(*m_db, in, m_keys, m_refs); !st) return st;
    if (state.keys) key = narrow_key(m_refs);
  } else if (state.keys) {
    key = uid_key(in.uid);
  }
  bool fast = false;
  auto stored = lookup<Row>(s, state, in.uid, key, false, fast);
  if (!stored) return fail(stored.error());
  const Row* row = &in;
  RowHash hash = in_hash;
  if constexpr (std::is_same_v<Row, Vulnerability>) {
    // Equal hashes mean equal status and lastFixed (stateTime is not hashed): the
    // stored lifecycle is kept as is, and the row is unchanged.
    if (stored->id && !(stored->hash && *stored->hash == in_hash)) {
      if (fast) {
        stored = lookup<Row>(s, state, in.uid, key, true, fast);
        if (!stored) return fail(stored.error());
      }
      if (stored->id) row = merge_full_row(in, stored->life, m_scratch);
    }
    // The merge changes only the lifecycle; the hash ignores stateTime.
    if (row != &in && (row->status != in.status || row->status_category != in.status_category ||
                       row->last_fixed != in.last_fixed)) {
      hash = content_hash(*row);
    }
  }
  std::int64_t row_id = stored->id.value_or(0);
  if (stored->id && stored->hash && *stored->hash == hash) {
    ++counts.unchanged;
  } else {
    if (fast && stored->id) {
      // Confirm the KeyIndex hit by reading the row before rewriting it.
      stored = lookup<Row>(s, state, in.uid, key, true, fast);
      if (!stored) return fail(stored.error());
      if (stored->id && stored->hash && *stored->hash == hash) {
        ++counts.unchanged;
        if (seen != nullptr) mark_seen(*seen, object, ctx.run_id, *stored->id);
        return {};
      }
    }
    if (auto st = write_row(s, state, ctx, *row, key, *stored, hash, row_id); !st) return st;
    ++counts.written;
  }
  if (seen != nullptr) mark_seen(*seen, object, ctx.run_id, row_id);
  return {};
}

template Result<UpsertCounts> SqliteStore::upsert_rows<Host>(const WriteContext&,
                                                             std::span<const Host>);
template Result<UpsertCounts> SqliteStore::upsert_rows<Package>(const WriteContext&,
                                                                std::span<const Package>);
template Result<UpsertCounts> SqliteStore::upsert_rows<InstalledPackage>(
    const WriteContext&, std::span<const InstalledPackage>);
template Result<UpsertCounts> SqliteStore::upsert_rows<Vulnerability>(
    const WriteContext&, std::span<const Vulnerability>);
template Result<UpsertCounts> SqliteStore::upsert_rows<VulnerabilityDefinition>(
    const WriteContext&, std::span<const VulnerabilityDefinition>);
// Also used by apply_events (sweep.cpp).
template Result<SqliteStore::Stored> SqliteStore::lookup<Vulnerability>(TableStatements&,
                                                                        ObjectState&,
                                                                        const std::string&,
                                                                        std::uint64_t, bool, bool&);
template util::Status SqliteStore::write_row<Vulnerability>(TableStatements&, ObjectState&,
                                                            const WriteContext&,
                                                            const Vulnerability&, std::uint64_t,
                                                            const Stored&, RowHash, std::int64_t&);

}  // namespace mdesync::store::sqlite
