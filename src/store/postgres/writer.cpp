// Upserts and delta events of the PostgreSQL store (ADR 0067, 0070). Narrow objects
// (findings, installed packages; ADR 0062) intern their target, item and context rows in
// the client (dims.cpp) and send only their narrow rows: a first load (the table empty
// when the transaction reached it) streams them with one COPY straight into the table,
// its indexes dropped until the commit; any other read COPYs them into a staging table
// merged with one INSERT ... ON CONFLICT. The other objects stage their wide rows.

#include <unordered_map>

#include "store/codec.hpp"
#include "store/postgres/schema.hpp"
#include "store/postgres/store_impl.hpp"
#include "store/views.hpp"

namespace mdesync::store::pg {

namespace {

template <typename Row>
std::string stage_name() {
  return fmt::format("mdesync_stage_{}", Table<Row>::name);
}

template <typename Row>
std::string write_cols() {
  std::string out;
  for (const auto& c : Table<Row>::write_cols) out += (out.empty() ? "" : ", ") + std::string(c);
  return out;
}

// The unique key of a narrow table, in its index's order.
template <typename Row>
constexpr std::string_view narrow_key_cols() {
  return std::is_same_v<Row, Vulnerability> ? "item, host" : "host, item";
}

// "(a, b) = (EXCLUDED.a, EXCLUDED.b)" for each column of `cols` but the first `skip`.
std::string set_excluded(const std::vector<std::string>& cols, std::size_t skip) {
  std::string names;
  std::string values;
  for (std::size_t i = skip; i < cols.size(); ++i) {
    names += cols[i] + ", ";
    values += "EXCLUDED." + cols[i] + ", ";
  }
  names += "last_changed_at, last_run_id, row_hash";
  values += "EXCLUDED.last_changed_at, EXCLUDED.last_run_id, EXCLUDED.row_hash";
  return fmt::format("({}) = ({})", names, values);
}

std::vector<std::string> split_cols(std::string_view list) {
  std::vector<std::string> out;
  while (!list.empty()) {
    const auto comma = list.find(',');
    out.emplace_back(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 2);
  }
  return out;
}

// The staging table of an object: the row's position and content hash, then its wide
// columns, or for a narrow object the hash and the narrow table's columns.
template <typename Row>
std::string create_stage_sql() {
  if constexpr (is_narrow<Row>) {
    return fmt::format(
        "CREATE TEMP TABLE IF NOT EXISTS {} AS SELECT 0::bigint AS hash, {} FROM {} WITH NO DATA",
        stage_name<Row>(), write_cols<Row>(), write_table<Row>());
  } else {
    return fmt::format(
        "CREATE TEMP TABLE IF NOT EXISTS {} AS SELECT 0::bigint AS seq, 0::bigint AS hash, {} "
        "FROM {} WITH NO DATA",
        stage_name<Row>(), column_list<Row>(), Table<Row>::name);
  }
}

template <typename Row>
std::string stage_copy_sql() {
  if constexpr (is_narrow<Row>) {
    return fmt::format("COPY {} (hash, {}) FROM STDIN", stage_name<Row>(), write_cols<Row>());
  } else {
    return fmt::format("COPY {} (seq, hash, {}) FROM STDIN", stage_name<Row>(), column_list<Row>());
  }
}

// Merges the staged rows: $1 now, $2 the run. Returns the rows written and the rows
// staged (narrow rows are staged once per key: the client keeps the last of a batch).
// With `seen`, the same statement adds the ids of the staged rows to the run's seen set
// ($3 the object): the rows stored before it by a join, the rows it inserts from its
// RETURNING (a statement's joins see the table as it was before the statement).
template <typename Row>
std::string merge_sql(bool only_changed, bool seen) {
  // A finding that follows its device's last-seen row with another last_found of its
  // own has no known hash (ADR 0110): it is rewritten.
  const std::string cond =
      !only_changed ? std::string("true")
      : std::is_same_v<Row, Vulnerability>
          ? fmt::format("({}) IS DISTINCT FROM EXCLUDED.row_hash", stored_row_hash("f"))
          : std::string("f.row_hash IS DISTINCT FROM EXCLUDED.row_hash");
  std::string src, cols, key, sets, now, join;
  if constexpr (is_narrow<Row>) {
    cols = write_cols<Row>();
    src = cols + ", hash FROM " + stage_name<Row>();
    key = narrow_key_cols<Row>();
    sets = set_excluded(split_cols(cols), 2);
    now = "$1::bigint";
    join = "t.item = s.item AND t.host = s.host";
  } else {
    src = "DISTINCT ON (uid) * FROM " + stage_name<Row>() + " ORDER BY uid, seq DESC";
    cols = column_list<Row>();
    key = "uid";
    sets = set_excluded(split_cols(cols), 1);
    now = "$1::text";
    join = "t.uid = s.uid";
  }
  const std::string seen_cte =
      seen ? fmt::format(
                 ", seen AS (INSERT INTO mdesync_seen (object, run, id) SELECT "
                 "$3::smallint, $2::bigint, id FROM (SELECT id FROM up UNION SELECT t.id "
                 "FROM src s JOIN {} t ON {}) x ON CONFLICT DO NOTHING)",
                 write_table<Row>(), join)
           : std::string();
  return fmt::format(
      "WITH src AS (SELECT {src}), up AS (INSERT INTO {t} AS f ({cols}, first_synced_at, "
      "last_changed_at, last_run_id, row_hash) SELECT {cols}, {now}, {now}, $2::bigint, hash "
      "FROM src ON CONFLICT ({key}) DO UPDATE SET {sets} WHERE {cond} RETURNING f.id){seen} "
      "SELECT (SELECT count(*) FROM up), (SELECT count(*) FROM src)",
      fmt::arg("src", src), fmt::arg("t", write_table<Row>()), fmt::arg("cols", cols),
      fmt::arg("now", now), fmt::arg("key", key), fmt::arg("sets", sets), fmt::arg("cond", cond),
      fmt::arg("seen", seen_cte));
}

// The merge of held installed packages (ADR 0106), as merge_sql's with `only_changed`,
// but only the rows that are new or whose hash changed reach the INSERT: ON CONFLICT DO
// UPDATE locks every row it meets, its WHERE true or not (a lock writes the row's page
// and a WAL record), and most rows of a later full are unchanged. One lookup gives the
// stored id and hash of each staged row, and so the seen ids of the unchanged rows: a
// probe of the key index per row (the LIMIT keeps the planner from making it a join,
// which it planned as a hash of the whole table, per merge: 89 ms against 33 ms for
// 20,000 rows of a 200,000-row table, and growing with the table).
std::string held_merge_sql(bool seen) {
  using Row = InstalledPackage;
  const std::string cols = write_cols<Row>();
  std::string src_cols;
  for (const auto& c : split_cols(cols)) src_cols += "s." + c + ", ";
  const std::string seen_cte =
      seen ? ", seen AS (INSERT INTO mdesync_seen (object, run, id) SELECT $3::smallint, "
             "$2::bigint, id FROM (SELECT id FROM up UNION ALL SELECT old_id FROM src WHERE "
             "old_hash = hash) x ON CONFLICT DO NOTHING)"
           : "";
  return fmt::format(
      "WITH src AS (SELECT {src_cols}s.hash, t.id AS old_id, t.row_hash AS old_hash FROM "
      "{stage} s LEFT JOIN LATERAL (SELECT t.id, t.row_hash FROM {t} t WHERE t.host = s.host "
      "AND t.item = s.item LIMIT 1) t ON true), up AS (INSERT INTO "
      "{t} AS f ({cols}, first_synced_at, last_changed_at, last_run_id, row_hash) SELECT {cols}, "
      "$1::bigint, $1::bigint, $2::bigint, hash FROM src WHERE old_id IS NULL OR old_hash IS "
      "DISTINCT FROM hash ON CONFLICT ({key}) DO UPDATE SET {sets} WHERE f.row_hash IS "
      "DISTINCT FROM EXCLUDED.row_hash RETURNING f.id){seen} SELECT (SELECT count(*) FROM up), "
      "(SELECT count(*) FROM src)",
      fmt::arg("src_cols", src_cols), fmt::arg("stage", stage_name<Row>()),
      fmt::arg("t", write_table<Row>()), fmt::arg("cols", cols),
      fmt::arg("key", narrow_key_cols<Row>()), fmt::arg("sets", set_excluded(split_cols(cols), 2)),
      fmt::arg("seen", seen_cte));
}

// Rows held before a merge (hold_rows): about 2 MB of COPY text, 200 devices of 100
// installed packages.
constexpr std::int64_t k_held_rows = 20000;
// Rows found unchanged in the client's index (ADR 0113) before a merge: 1.6 MB, and at
// most as many ids in array text.
constexpr std::size_t k_held_unchanged = 100000;

template <typename Row>
std::string now_param(const WriteContext& ctx) {
  if constexpr (is_narrow<Row>) {
    return micros_text(ctx.now);
  } else {
    return encode_time(ctx.now);
  }
}

template <typename Row>
std::vector<RowHash> hashes_of(const WriteContext& ctx, std::span<const Row> rows) {
  if (ctx.hashes.size() == rows.size()) return {ctx.hashes.begin(), ctx.hashes.end()};
  std::vector<RowHash> out;
  out.reserve(rows.size());
  for (const auto& r : rows) out.push_back(content_hash(r));
  return out;
}

using Key = std::pair<std::int64_t, std::int64_t>;  // item, host

struct KeyHash {
  std::size_t operator()(const Key& k) const noexcept {
    return static_cast<std::size_t>(k.first) * 0x9E3779B97F4A7C15ULL ^
           static_cast<std::size_t>(k.second);
  }
};

// Array literals of the items and hosts of `keys`, for unnest($1::bigint[], $2::bigint[]).
std::pair<std::string, std::string> key_arrays(const std::vector<Key>& keys) {
  std::vector<std::int64_t> items;
  std::vector<std::int64_t> hosts;
  items.reserve(keys.size());
  hosts.reserve(keys.size());
  for (const auto& [item, host] : keys) {
    items.push_back(item);
    hosts.push_back(host);
  }
  return {bigint_array(items), bigint_array(hosts)};
}

// The indexes of the last row of each (item, host) key, ascending: a batch keeps the last
// row of a key it lists twice.
std::vector<std::size_t> last_of_each_key(std::span<const NarrowRefs> refs) {
  std::unordered_map<Key, std::size_t, KeyHash> last;
  last.reserve(refs.size());
  for (std::size_t i = 0; i < refs.size(); ++i) {
    last.insert_or_assign(Key{refs[i].item, refs[i].host}, i);
  }
  std::vector<std::size_t> keep;
  keep.reserve(last.size());
  for (std::size_t i = 0; i < refs.size(); ++i) {
    if (last.at(Key{refs[i].item, refs[i].host}) == i) keep.push_back(i);
  }
  return keep;
}

// The stored lifecycle and hash of findings by key: ord (1-based in `keys`), status,
// last_fixed, state_time, row_hash.
std::string stored_lifecycles() {
  return fmt::format(
      "SELECT k.ord, f.status, f.last_fixed, f.state_time, {} FROM "
      "unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY AS k(item, host, ord) JOIN "
      "vulnerability_finding f ON f.item = k.item AND f.host = k.host",
      stored_row_hash("f"));
}

}  // namespace

// --- interned rows, first loads -----------------------------------------------------------

template <>
PgDims<Vulnerability>& PgStore::dims<Vulnerability>() {
  return m_finding_dims;
}
template <>
PgDims<InstalledPackage>& PgStore::dims<InstalledPackage>() {
  return m_installed_dims;
}

util::Status PgStore::flush_pending() {
  if (auto st = m_finding_dims.flush(*m_conn); !st) return st;
  if (auto st = m_installed_dims.flush(*m_conn); !st) return st;
  if (auto st = merge_held(); !st) return st;
  return flush_digests();
}

// Inventory digests are not a reason: they wait until a statement on their tables or the
// commit (flush_digests), not just the next statement.
void PgStore::schedule_flush() {
  if (m_finding_dims.pending() || m_installed_dims.pending() || m_held.staged > 0 ||
      !m_held.unchanged_rows.empty()) {
    m_conn->before_next([this] { return flush_pending(); });
  }
}

void PgStore::forget_dims() noexcept {
  m_finding_dims.forget();
  m_installed_dims.forget();
  // Held rows refer to ids that may now be given again (every operation merges them
  // before it starts, so only a failure around the holding itself gets here with some).
  if (m_held.staged > 0 || !m_held.unchanged_rows.empty()) {
    m_held = HeldRows{};
    m_held_lost = true;
  }
}

template <typename Row>
util::Status PgStore::narrow_refs(std::span<const Row> rows, std::vector<NarrowRefs>& out,
                                  bool contexts, std::span<const NarrowKeys> keys) {
  out.resize(rows.size());
  auto& d = dims<Row>();
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const NarrowKeys k = narrow_keys_at(keys, i, rows[i]);
    if (auto st = d.refs(*m_conn, rows[i], k, out[i], contexts); !st) return st;
  }
  // New interned rows go to the server before the next statement (or the commit).
  if (d.pending()) schedule_flush();
  return {};
}

// A first load: the rows appended to the table by one COPY that stays open while the
// next batches come (any other statement ends it), the table's indexes kept (readers
// never wait for a sync: a DROP INDEX would lock them out until the commit). A key the
// load wrote already (a uid repeated in the read) is not COPYed again but merged after
// the batch, the last row winning. Every row counts as written, as in the SQLite store.
template <typename Row>
Result<UpsertCounts> PgStore::bulk_append(const WriteContext& ctx, std::span<const Row> rows,
                                          const std::vector<RowHash>& hashes) {
  constexpr auto object = Table<Row>::object;
  static const std::string k_copy = fmt::format(
      "COPY {} ({}, first_synced_at, last_changed_at, last_run_id, row_hash) FROM STDIN WITH "
      "(FORMAT binary)",
      write_table<Row>(), write_cols<Row>());
  if (auto st = narrow_refs(rows, m_refs, true, ctx.keys); !st) return fail(st.error());
  auto& loaded = m_bulk_keys[object];
  std::vector<std::size_t> again;
  // Every column of a narrow table is a bigint or a text: binary rows.
  m_binary.clear();
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (!loaded.insert(m_refs[i].item, m_refs[i].host)) {
      again.push_back(i);
      continue;
    }
    Binder b(m_binary);
    Table<Row>::bind_narrow(b, rows[i], m_refs[i]);
    b.micros(ctx.now);
    b.micros(ctx.now);
    b.i64(ctx.run_id);
    b.i64(hashes[i]);
    m_binary.end_row();
  }
  if (!m_binary.data().empty()) {
    // New interned rows go first when the COPY begins, else when it ends.
    if (!m_conn->copy_open() || m_streaming != object) {
      if (auto st = m_conn->begin_copy(k_copy); !st) return fail(st.error());
      m_streaming = object;
      if (auto st = m_conn->put_copy(BinaryCopyBuffer::header()); !st) return fail(st.error());
    }
    if (auto st = m_conn->put_copy(std::string_view(m_binary.data())); !st) {
      return fail(st.error());
    }
    m_binary.clear();
  }
  if (!again.empty()) {
    // The last row of each repeated key, over what the load wrote (the COPY ends first).
    std::unordered_map<Key, std::size_t, KeyHash> last;
    for (const auto i : again) last.insert_or_assign(Key{m_refs[i].item, m_refs[i].host}, i);
    std::vector<Row> out;
    std::vector<RowHash> out_hashes;
    std::vector<NarrowRefs> out_refs;
    for (const auto i : again) {
      if (last.at(Key{m_refs[i].item, m_refs[i].host}) != i) continue;
      out.push_back(rows[i]);
      out_hashes.push_back(hashes[i]);
      out_refs.push_back(m_refs[i]);
    }
    m_refs = std::move(out_refs);
    if (auto st = stage_rows<Row>(std::span<const Row>(out), out_hashes); !st) {
      return fail(st.error());
    }
    std::int64_t distinct = 0;
    if (auto w = merge<Row>(ctx, false, distinct); !w) return fail(w.error());
  }
  const std::pair key{object, ctx.run_id};
  if (m_first_loads.insert(key).second) m_first_loads_in_tx.push_back(key);
  UpsertCounts counts;
  counts.written = static_cast<std::int64_t>(rows.size());
  return counts;
}

// --- staging and merging ------------------------------------------------------------------

template <typename Row>
util::Status PgStore::stage_rows(std::span<const Row> rows, std::span<const RowHash> hashes) {
  m_copy.clear();
  for (std::size_t i = 0; i < rows.size(); ++i) {
    Binder b(m_copy);
    if constexpr (is_narrow<Row>) {
      m_copy.integer(hashes[i]);
      Table<Row>::bind_narrow(b, rows[i], m_refs[i]);
    } else {
      m_copy.integer(static_cast<std::int64_t>(i));
      m_copy.integer(hashes[i]);
      Table<Row>::bind(b, rows[i]);
      Table<Row>::bind_source(b, rows[i]);
    }
    m_copy.end_row();
  }
  auto st = copy_stage<Row>(m_copy);
  m_copy.clear();
  return st;
}

template <typename Row>
util::Status PgStore::copy_stage(const CopyBuffer& rows, std::string_view before) {
  static const std::string k_create = create_stage_sql<Row>();
  static const std::string k_copy = stage_copy_sql<Row>();
  static const std::string k_truncate = "TRUNCATE " + stage_name<Row>();
  // The seen set's table with the staging table: the merge may write it.
  static const std::string k_create_all =
      k_create + "; " + std::string(k_seen_table) + "; " + k_truncate;
  // The TRUNCATE (or the tables' creation) and the COPY in one round trip.
  const bool created = m_stages.contains(Table<Row>::object);
  std::string sql = before.empty() ? std::string() : std::string(before) + "; ";
  sql += (created ? k_truncate : k_create_all) + "; " + k_copy;
  auto st = m_conn->copy_rows(sql, rows);
  if (st) m_stages.insert(Table<Row>::object);
  return st;
}

template <typename Row>
Result<std::int64_t> PgStore::merge(const WriteContext& ctx, bool only_changed,
                                    std::int64_t& distinct, bool seen) {
  static const std::string k_changed = merge_sql<Row>(true, false);
  static const std::string k_all = merge_sql<Row>(false, false);
  static const std::string k_changed_seen = merge_sql<Row>(true, true);
  const std::string now = now_param<Row>(ctx);
  const std::string run = std::to_string(ctx.run_id);
  const std::string object = std::to_string(static_cast<int>(Table<Row>::object));
  auto r = seen ? m_conn->query(k_changed_seen, {now, run, object})
                : m_conn->query(only_changed ? k_changed : k_all, {now, run});
  if (!r) return fail(r.error());
  distinct = r->int64(1);
  return r->int64(0);
}

// A batch of narrow rows through the staging table: interned, the last row of each key
// kept, findings merged with their stored lifecycle (merge_full_row) unless `first`.
// Leaves the rows staged; returns how many distinct keys.
template <typename Row>
Result<std::size_t> PgStore::stage_narrow(std::span<const Row> rows,
                                          const std::vector<RowHash>& hashes,
                                          std::span<const NarrowKeys> given_keys, bool first) {
  if (auto st = narrow_refs(rows, m_refs, true, given_keys); !st) return fail(st.error());
  const std::vector<std::size_t> keep = last_of_each_key(std::span(m_refs).first(rows.size()));
  std::vector<Row> out;
  std::vector<RowHash> out_hashes;
  std::vector<NarrowRefs> out_refs;
  out.reserve(keep.size());
  out_hashes.reserve(keep.size());
  out_refs.reserve(keep.size());
  for (const auto i : keep) {
    out.push_back(rows[i]);
    out_hashes.push_back(hashes[i]);
    out_refs.push_back(m_refs[i]);
  }
  if constexpr (std::is_same_v<Row, Vulnerability>) {
    if (!first) {
      std::vector<Key> keys;
      keys.reserve(out.size());
      for (const auto& r : out_refs) keys.emplace_back(r.item, r.host);
      const auto [items, hosts] = key_arrays(keys);
      auto found = m_conn->query(stored_lifecycles(), {items, hosts});
      if (!found) return fail(found.error());
      Vulnerability scratch;
      for (int i = 0; i < found->rows(); ++i) {
        found->set_row(i);
        const auto k = static_cast<std::size_t>(found->int64(0) - 1);
        if (k >= out.size()) continue;
        // Equal hashes mean equal status and lastFixed (stateTime is not hashed): the
        // stored row stays as it is.
        if (!found->is_null(4) && found->int64(4) == out_hashes[k]) continue;
        const Vulnerability& in = out[k];
        const Vulnerability* merged = merge_full_row(in, read_lifecycle(*found, 1), scratch);
        if (merged == &in) continue;
        const bool life_changed = merged->status != in.status ||
                                  merged->status_category != in.status_category ||
                                  merged->last_fixed != in.last_fixed;
        Vulnerability copy = *merged;
        out[k] = std::move(copy);
        if (life_changed) out_hashes[k] = content_hash(out[k]);
      }
    }
  }
  m_refs = std::move(out_refs);
  if (auto st = stage_rows<Row>(std::span<const Row>(out), out_hashes); !st) {
    return fail(st.error());
  }
  return out.size();
}

template <typename Row>
Result<UpsertCounts> PgStore::upsert_rows(const WriteContext& ctx, std::span<const Row> rows) {
  if (rows.empty()) return UpsertCounts{};
  if constexpr (std::is_same_v<Row, InstalledPackage>) {
    if (m_installed_counts) {
      for (const auto& r : rows) m_installed_dirty.insert(r.targets);
    }
    // Rows written past the client's index would leave it stale.
    if (!(ctx.hold && m_tx_open && !m_read_only)) forget_installed_index();
  }
  const std::vector<RowHash> hashes = hashes_of(ctx, rows);
  if constexpr (is_narrow<Row>) {
    // A full read into a table that was empty when this transaction reached it, and
    // that no other operation of the transaction wrote since: appended (bulk_append).
    if (m_tx_open && ctx.track_seen && !m_read_only && !m_bulk_ended.contains(Table<Row>::object)) {
      auto first = first_load(Table<Row>::object);
      if (!first) return fail(first.error());
      if (*first) {
        auto counts = bulk_append<Row>(ctx, rows, hashes);
        if (!counts) {
          m_conn->abandon();
          forget_dims();
        }
        return counts;
      }
    }
    if (auto st = end_bulk(Table<Row>::object); !st) return fail(st.error());
  }
  if constexpr (std::is_same_v<Row, InstalledPackage>) {
    if (ctx.hold && m_tx_open && !m_read_only) {
      auto first = first_load(Table<Row>::object);
      if (!first) return fail(first.error());
      return hold_rows(ctx, rows, hashes, *first);
    }
  }
  return write_op([&]() -> Result<UpsertCounts> {
    // A first load (the table was empty when this transaction reached it) has no stored
    // lifecycle to merge and nothing to sweep: its read sees every row.
    auto first = first_load(Table<Row>::object);
    if (!first) return fail(first.error());
    std::int64_t distinct = 0;
    if constexpr (is_narrow<Row>) {
      auto staged = stage_narrow<Row>(rows, hashes, ctx.keys, *first);
      if (!staged) return fail(staged.error());
    } else if (auto st = stage_rows<Row>(rows, hashes); !st) {
      return fail(st.error());
    }
    // A full read marks what it saw in the same statement, unless the table was empty.
    auto written = merge<Row>(ctx, true, distinct, ctx.track_seen && !*first);
    if (!written) return fail(written.error());
    if (ctx.track_seen && *first) {
      const std::pair key{Table<Row>::object, ctx.run_id};
      if (m_first_loads.insert(key).second) m_first_loads_in_tx.push_back(key);
    }
    UpsertCounts counts;
    counts.unchanged = distinct - *written;
    counts.written = static_cast<std::int64_t>(rows.size()) - counts.unchanged;
    return counts;
  });
}

// --- installed packages held for one merge (ADR 0106) ----------------------------------

Result<UpsertCounts> PgStore::hold_rows(const WriteContext& ctx,
                                        std::span<const InstalledPackage> rows,
                                        const std::vector<RowHash>& hashes, bool first) {
  using Row = InstalledPackage;
  // A first load's rows are not looked for in the sweep (as upsert_rows' merge).
  const bool seen = ctx.track_seen && !first;
  if (m_held.staged > 0 &&
      (m_held.run != ctx.run_id || m_held.now != ctx.now || m_held.seen != seen)) {
    if (auto st = merge_held(); !st) return fail(st.error());
  }
  if (auto st = narrow_refs(rows, m_refs, true, ctx.keys); !st) {
    m_conn->abandon();
    forget_dims();
    return fail(st.error());
  }
  // The last row of each key of the call.
  std::vector<std::size_t> keep = last_of_each_key(std::span(m_refs).first(rows.size()));
  if (seen) {
    m_held_in_read += static_cast<std::int64_t>(keep.size());
    if (!m_installed_index && m_held_in_read >= k_held_rows &&
        m_held_in_read >= ctx.lines_skipped) {
      if (auto st = load_installed_index(); !st) return fail(st.error());
    }
  }
  if (seen && m_installed_index) drop_unchanged(keep, hashes);
  bool repeated = false;
  for (const auto i : keep) {
    if (!m_held.keys.insert(m_refs[i].item, m_refs[i].host)) repeated = true;
  }
  if (repeated) {
    // A key held already (a device listed twice): what is held is merged first, so that
    // these rows, merged after it, win.
    if (auto st = merge_held(); !st) return fail(st.error());
    for (const auto i : keep) m_held.keys.insert(m_refs[i].item, m_refs[i].host);
  }
  for (const auto i : keep) {
    Binder b(m_held.copy);
    m_held.copy.integer(hashes[i]);
    Table<Row>::bind_narrow(b, rows[i], m_refs[i]);
    m_held.copy.end_row();
  }
  m_held.run = ctx.run_id;
  m_held.now = ctx.now;
  m_held.seen = seen;
  m_held.given += static_cast<std::int64_t>(rows.size());
  m_held.staged += static_cast<std::int64_t>(keep.size());
  if (ctx.track_seen && first) {
    const std::pair key{Table<Row>::object, ctx.run_id};
    if (m_first_loads.insert(key).second) m_first_loads_in_tx.push_back(key);
  }
  if (m_held.staged >= k_held_rows || m_held.unchanged_rows.size() >= k_held_unchanged) {
    if (auto st = merge_held(); !st) return fail(st.error());
  } else {
    schedule_flush();  // any other statement merges them first
  }
  return std::exchange(m_held_counts, {});
}

util::Status PgStore::merge_held() {
  if (m_held_lost) {
    return fail(ErrorCode::internal,
                "installed packages held for a merge were dropped by a failed operation: the "
                "transaction must be rolled back");
  }
  if (m_held.staged == 0 && m_held.unchanged_rows.empty()) return {};
  // Taken first: the statements below run what waits before them (flush_pending), which
  // comes back here with nothing held.
  const HeldRows held = std::exchange(m_held, HeldRows{});
  return write_op([&]() -> util::Status {
    using Row = InstalledPackage;
    const std::string run = std::to_string(held.run);
    const std::string object = std::to_string(static_cast<int>(Table<Row>::object));
    const auto found_unchanged = static_cast<std::int64_t>(held.unchanged_rows.size());
    m_held_counts.unchanged += found_unchanged;
    if (auto st = mark_unchanged_seen(held); !st) return st;
    if (held.staged == 0) {
      m_held_counts.written += held.given - found_unchanged;
      return {};
    }
    static const std::string k_seen = held_merge_sql(true);
    static const std::string k_unseen = held_merge_sql(false);
    if (auto st = copy_stage<Row>(held.copy); !st) return st;
    const std::string now = micros_text(held.now);
    auto r =
        held.seen ? m_conn->query(k_seen, {now, run, object}) : m_conn->query(k_unseen, {now, run});
    if (!r) return fail(r.error());
    const std::int64_t unchanged = r->int64(1) - r->int64(0);
    m_held_counts.unchanged += unchanged;
    m_held_counts.written += held.given - found_unchanged - unchanged;
    return {};
  });
}

// Through a cursor: the rows of a million-row table arrive 50,000 at a time.
util::Status PgStore::load_installed_index() {
  // Sized by the planner's estimate of the rows (not by the largest id: every row an
  // INSERT ... ON CONFLICT proposes takes an id, so ids run far ahead of the rows); an
  // index sized short grows a shard at a time.
  auto rows = m_conn->query(
      "SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = "
      "'installed_package_entry'::regclass");
  if (!rows) return fail(rows.error());
  KeyIndex index;
  if (rows->rows() == 1) index.reserve(static_cast<std::size_t>(rows->int64(0)));
  std::unordered_map<std::int64_t, std::int64_t> host_rows;
  if (auto st = m_conn->exec(
          "DECLARE mdesync_keys NO SCROLL CURSOR FOR SELECT item, host, id, CASE WHEN status "
          "= 'Removed' THEN NULL ELSE row_hash END, status = 'Removed' FROM "
          "installed_package_entry");
      !st) {
    return st;
  }
  for (;;) {
    auto r = m_conn->query("FETCH 50000 FROM mdesync_keys");
    if (!r) return fail(r.error());
    if (r->rows() == 0) break;
    for (int i = 0; i < r->rows(); ++i) {
      r->set_row(i);
      const std::int64_t host = r->int64(1);
      if (r->int64(4) == 0) ++host_rows[host];
      // A row whose ids do not fit a key is not in the index: it is always merged.
      const auto key = pair_key(r->int64(0), host);
      if (!key) continue;
      index.put(*key, r->int64(2), r->is_null(3) ? std::nullopt : std::optional(r->int64(3)));
    }
  }
  if (auto st = m_conn->exec("CLOSE mdesync_keys"); !st) return st;
  m_installed_index = std::move(index);
  m_host_rows = std::move(host_rows);
  return {};
}

void PgStore::drop_unchanged(std::vector<std::size_t>& keep, const std::vector<RowHash>& hashes) {
  std::erase_if(keep, [&](std::size_t i) {
    const std::int64_t host = m_refs[i].host;
    const auto key = pair_key(m_refs[i].item, host);
    const auto found = key ? m_installed_index->find(*key) : std::nullopt;
    // Not stored, Removed, or merged by this read already: merged.
    if (!found || found->ambiguous || !found->row_hash) return false;
    if (m_found_ids.add(found->rowid)) ++m_host_found[host];
    if (*found->row_hash == hashes[i]) {
      m_held.unchanged_rows.emplace_back(host, found->rowid);
      return true;
    }
    m_installed_index->put(*key, found->rowid, std::nullopt);
    return false;
  });
}

// A device whose stored rows (not Removed) this read all gave is one row of the seen
// set: those it staged are seen by their merge, the others were unchanged. Of any other
// device, each unchanged row by its id.
util::Status PgStore::mark_unchanged_seen(const HeldRows& held) {
  if (held.unchanged_rows.empty()) return {};
  std::vector<std::int64_t> hosts;
  std::vector<std::int64_t> ids;
  for (const auto& [host, id] : held.unchanged_rows) {
    const auto rows = m_host_rows.find(host);
    const auto found = m_host_found.find(host);
    if (rows != m_host_rows.end() && found != m_host_found.end() && found->second == rows->second) {
      hosts.push_back(host);
    } else {
      ids.push_back(id);
    }
  }
  std::sort(hosts.begin(), hosts.end());
  hosts.erase(std::unique(hosts.begin(), hosts.end()), hosts.end());
  if (auto st = m_conn->exec(k_seen_table); !st) return st;
  auto r = m_conn->query(
      "WITH d AS (INSERT INTO mdesync_seen_device (object, run, host) SELECT $1::smallint, "
      "$2::bigint, unnest($3::bigint[]) ON CONFLICT DO NOTHING) INSERT INTO mdesync_seen "
      "(object, run, id) SELECT $1::smallint, $2::bigint, unnest($4::bigint[]) ON CONFLICT DO "
      "NOTHING",
      {std::to_string(static_cast<int>(ObjectType::installed_package)), std::to_string(held.run),
       bigint_array(hosts), bigint_array(ids)});
  if (!r) return fail(r.error());
  return {};
}

Result<UpsertCounts> PgStore::flush_upserts() {
  if (auto st = merge_held(); !st) return fail(st.error());
  return std::exchange(m_held_counts, {});
}

namespace {

// A finding's state while the events of one call are applied.
struct EventState {
  bool exists = false;
  Lifecycle life;
  bool has_hash = false;
  std::int64_t hash = 0;
};

}  // namespace

Result<DeltaCounts> PgStore::apply_vulnerability_events(const WriteContext& ctx,
                                                        std::span<const Vulnerability> events,
                                                        std::optional<Timestamp> baseline) {
  if (events.empty()) return DeltaCounts{};
  if (auto st = end_bulk(ObjectType::vulnerability); !st) return fail(st.error());
  return write_op([&]() -> Result<DeltaCounts> {
    // Context rows only for the rows written, below.
    if (auto st = narrow_refs(events, m_refs, false); !st) return fail(st.error());
    std::vector<Key> key_of(events.size());
    std::unordered_map<Key, EventState, KeyHash> state;
    std::vector<Key> keys;
    for (std::size_t i = 0; i < events.size(); ++i) {
      key_of[i] = Key{m_refs[i].item, m_refs[i].host};
      if (state.try_emplace(key_of[i]).second) keys.push_back(key_of[i]);
    }
    const auto [items, hosts] = key_arrays(keys);
    auto found = m_conn->query(stored_lifecycles(), {items, hosts});
    if (!found) return fail(found.error());
    for (int i = 0; i < found->rows(); ++i) {
      found->set_row(i);
      const auto k = static_cast<std::size_t>(found->int64(0) - 1);
      if (k >= keys.size()) continue;
      auto& s = state[keys[k]];
      s.exists = true;
      s.life = read_lifecycle(*found, 1);
      s.has_hash = !found->is_null(4);
      s.hash = s.has_hash ? found->int64(4) : 0;
    }
    DeltaCounts counts;
    // Every state each finding takes, in order: a finding fixed and reopened in one call
    // is merged once per state, so that the history trigger records each change
    // (docs/adr/0074), as the SQLite store's one-event-at-a-time writes do.
    std::map<Key, std::vector<std::pair<Vulnerability, RowHash>>> out;
    const auto order = event_order(events);
    Vulnerability row;
    for (std::size_t i = 0; i < order.size(); ++i) {
      const Vulnerability& ev = *order[i];
      if (category_of(ev.status) != StatusCategory::open && paired_fixed(order, i)) {
        ++counts.paired;
        continue;
      }
      const Key key = key_of[static_cast<std::size_t>(order[i] - events.data())];
      auto& s = state[key];
      if (apply_event(ev, s.exists ? std::optional(s.life) : std::nullopt, baseline, row, counts) !=
          EventEffect::write) {
        continue;
      }
      const RowHash hash = content_hash(row);
      if (s.exists && s.has_hash && s.hash == hash && s.life.state_time == row.state_time) {
        ++counts.unchanged;
        continue;
      }
      s = EventState{true, Lifecycle{row.status, row.last_fixed, row.state_time}, true, hash};
      out[key].emplace_back(row, hash);
      ++counts.written;
    }
    // Only the states the history needs: each finding's first and last, and each one that
    // opens or closes it or moves it to another device group (a re-scored open finding's
    // intermediate states are not merged).
    for (auto& [key, states] : out) {
      if (states.size() <= 2) continue;
      std::vector<bool> keep(states.size(), true);
      for (std::size_t i = 1; i + 1 < states.size(); ++i) {
        const Vulnerability& before = states[i - 1].first;
        const Vulnerability& now = states[i].first;
        keep[i] = category_of(now.status) != category_of(before.status) ||
                  now.source.rbac_group_name != before.source.rbac_group_name;
      }
      std::vector<std::pair<Vulnerability, RowHash>> kept;
      for (std::size_t i = 0; i < states.size(); ++i) {
        if (keep[i]) kept.push_back(std::move(states[i]));
      }
      states = std::move(kept);
    }
    std::vector<Vulnerability> rows;
    std::vector<RowHash> hashes;
    for (std::size_t round = 0;; ++round) {
      rows.clear();
      hashes.clear();
      for (auto& [key, states] : out) {
        if (round >= states.size()) continue;
        rows.push_back(std::move(states[round].first));
        hashes.push_back(states[round].second);
      }
      if (rows.empty()) break;
      if (auto st = narrow_refs(std::span<const Vulnerability>(rows), m_refs); !st) {
        return fail(st.error());
      }
      if (auto st = stage_rows<Vulnerability>(rows, hashes); !st) return fail(st.error());
      std::int64_t distinct = 0;
      if (auto w = merge<Vulnerability>(ctx, false, distinct); !w) return fail(w.error());
    }
    return counts;
  });
}

template Result<UpsertCounts> PgStore::upsert_rows<Host>(const WriteContext&,
                                                         std::span<const Host>);
template Result<UpsertCounts> PgStore::upsert_rows<Package>(const WriteContext&,
                                                            std::span<const Package>);
template Result<UpsertCounts> PgStore::upsert_rows<InstalledPackage>(
    const WriteContext&, std::span<const InstalledPackage>);
template Result<UpsertCounts> PgStore::upsert_rows<Vulnerability>(const WriteContext&,
                                                                  std::span<const Vulnerability>);
template Result<UpsertCounts> PgStore::upsert_rows<VulnerabilityDefinition>(
    const WriteContext&, std::span<const VulnerabilityDefinition>);

}  // namespace mdesync::store::pg
