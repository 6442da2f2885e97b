// Upserts and delta events of the PostgreSQL store: rows are COPYed into a temporary
// staging table per object and merged in a few set-based statements per batch (ADR
// 0067). Narrow objects (ADR 0062) intern their target, item and context rows in SQL.

#include "store/codec.hpp"
#include "store/pg_schema.hpp"
#include "store/pg_store_impl.hpp"

namespace mdesync::store::pg {

namespace {

template <typename Row>
constexpr bool is_narrow = sqlite::is_narrow<Row>;

// What the SQL of a narrow object needs beyond its columns.
struct NarrowSpec {
  std::string_view host_cols;
  std::string_view item_cols;
  std::string_view item_extra_col;   // ", source_uid_rest" or empty
  std::string_view item_extra_expr;  // its value from a staged row
  std::string entry_cols;            // of the narrow table, the key first
  std::string entry_exprs;           // their values from a keyed staged row, named as they
  std::string_view key;              // of the unique index
};

constexpr std::string_view k_source_uid_rest =
    ", CASE WHEN source_uid IS NOT NULL AND left(source_uid, length(targets)) = targets THEN "
    "substr(source_uid, length(targets) + 1) END";

template <typename Row>
const NarrowSpec& narrow_spec() {
  if constexpr (std::is_same_v<Row, Vulnerability>) {
    static const NarrowSpec k{
        "hostnames, rbac_group_id, rbac_group_name, os_platform, os_version, os_architecture, "
        "is_onboarded",
        "source_severity, results, cvss_score, exploitability_level, recommendation_reference, "
        "recommended_security_update, recommended_security_update_id, "
        "recommended_security_update_url, security_update_available, software_vendor, "
        "software_name, software_version",
        ", source_uid_rest",
        k_source_uid_rest,
        "item, host, host_context, item_context, source_uid, first_found, last_found, "
        "source_last_modified, last_fixed, status, status_category, source_status, severity, "
        "state_time",
        fmt::format("item_id AS item, host_id AS host, hc_id AS host_context, ic_id AS "
                    "item_context, CASE WHEN source_uid IS NOT NULL AND left(source_uid, "
                    "length(targets)) = targets THEN NULL ELSE source_uid END AS source_uid, {} "
                    "AS first_found, {} AS last_found, {} AS source_last_modified, {} AS "
                    "last_fixed, status, status_category, source_status, severity, {} AS "
                    "state_time",
                    time_micros("first_found"), time_micros("last_found"),
                    time_micros("source_last_modified"), time_micros("last_fixed"),
                    time_micros("state_time")),
        "item, host"};
    return k;
  } else {
    static const NarrowSpec k{
        "dns_names, os, rbac_group_id, rbac_group_name",
        "name, end_of_support_status, end_of_support_date, disk_paths, registry_paths, "
        "number_of_weaknesses",
        "",
        "",
        "item, host, host_context, item_context, version, status, first_seen",
        fmt::format("item_id AS item, host_id AS host, hc_id AS host_context, ic_id AS "
                    "item_context, version, status, {} AS first_seen",
                    time_micros("first_seen")),
        "host, item"};
    return k;
  }
}

template <typename Row>
std::string stage_name() {
  return fmt::format("mdesync_stage_{}", Table<Row>::name);
}

// The staged rows of a narrow object with the ids of their target and item (item_id,
// host_id) and, `with_contexts`, of their context rows (hc_id, ic_id): after
// resolve_sql, every staged row has them.
template <typename Row>
std::string keyed_sql(bool with_contexts) {
  return fmt::format(
      "(SELECT s.*, i.id AS item_id, t.id AS host_id{3} FROM {0} s JOIN {1}_target t ON "
      "t.targets = s.targets JOIN {1}_item i ON i.uid_suffix = s.suffix AND i.type = s.type{2})",
      stage_name<Row>(), Table<Row>::name,
      with_contexts ? fmt::format(" JOIN {0}_host_context hc ON hc.digest = s.hcd JOIN "
                                  "{0}_item_context ic ON ic.digest = s.icd",
                                  Table<Row>::name)
                    : "",
      with_contexts ? ", hc.id AS hc_id, ic.id AS ic_id" : "");
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

// md5 of the columns' text, NULL told from empty: the content key of a context row.
std::string content_digest(std::string_view cols, std::string_view extra) {
  std::string out;
  for (const auto& c : split_cols(cols)) {
    out += fmt::format("{}coalesce('v' || {}::text, 'n')", out.empty() ? "" : " || chr(1) || ", c);
  }
  if (!extra.empty()) out += fmt::format(" || chr(1) || coalesce('v' || ({}), 'n')", extra);
  return fmt::format("md5({})::uuid", out);
}

// The staging table of an object: its columns, the row's position and content hash; for
// a narrow object also the uid suffix and context digests, computed by the server as
// the COPY stores each row (generated columns).
template <typename Row>
std::string create_stage_sql() {
  std::string sql = fmt::format(
      "CREATE TEMP TABLE IF NOT EXISTS {0} AS SELECT 0::bigint AS seq, 0::bigint AS hash, {1} "
      "FROM {2} WITH NO DATA",
      stage_name<Row>(), sqlite::column_list<Row>(), Table<Row>::name);
  if constexpr (is_narrow<Row>) {
    const auto& n = narrow_spec<Row>();
    sql += fmt::format(
        "; ALTER TABLE {} ADD COLUMN IF NOT EXISTS suffix text GENERATED ALWAYS AS (CASE WHEN "
        "left(uid, length(targets)) = targets THEN substr(uid, length(targets) + 1) ELSE "
        "chr(1) || uid END) STORED, ADD COLUMN IF NOT EXISTS hcd uuid GENERATED ALWAYS AS "
        "({}) STORED, ADD COLUMN IF NOT EXISTS icd uuid GENERATED ALWAYS AS ({}) STORED",
        stage_name<Row>(), content_digest(n.host_cols, ""),
        content_digest(n.item_cols, n.item_extra_expr.empty() ? std::string_view{}
                                                              : n.item_extra_expr.substr(2)));
  }
  return sql;
}

template <typename Row>
std::string resolve_sql() {
  const auto& n = narrow_spec<Row>();
  return fmt::format(
      R"sql(
INSERT INTO {p}_target (targets) SELECT DISTINCT targets FROM {s} s
  WHERE NOT EXISTS (SELECT 1 FROM {p}_target t WHERE t.targets = s.targets);
INSERT INTO {p}_item (uid_suffix, type) SELECT DISTINCT suffix, type FROM {s} s
  WHERE NOT EXISTS (SELECT 1 FROM {p}_item i WHERE i.uid_suffix = s.suffix AND i.type = s.type);
INSERT INTO {p}_host_context (digest, {h}) SELECT DISTINCT ON (hcd) hcd, {h} FROM {s} s
  WHERE NOT EXISTS (SELECT 1 FROM {p}_host_context c WHERE c.digest = s.hcd);
INSERT INTO {p}_item_context (digest, {i}{xc}) SELECT DISTINCT ON (icd) icd, {i}{xe} FROM {s} s
  WHERE NOT EXISTS (SELECT 1 FROM {p}_item_context c WHERE c.digest = s.icd);
)sql",
      fmt::arg("s", stage_name<Row>()), fmt::arg("p", Table<Row>::name), fmt::arg("h", n.host_cols),
      fmt::arg("i", n.item_cols), fmt::arg("xc", n.item_extra_col),
      fmt::arg("xe", n.item_extra_expr));
}

template <typename Row>
std::string merge_sql(bool only_changed) {
  const std::string_view cond =
      only_changed ? "f.row_hash IS DISTINCT FROM EXCLUDED.row_hash" : "true";
  std::string src, cols, exprs, key, sets, now;
  if constexpr (is_narrow<Row>) {
    const auto& n = narrow_spec<Row>();
    // Only the narrow row's columns go through the sort of DISTINCT ON, not the wide row.
    src = "DISTINCT ON (k.item_id, k.host_id) " + n.entry_exprs + ", hash FROM " +
          keyed_sql<Row>(true) + " k ORDER BY k.item_id, k.host_id, k.seq DESC";
    cols = n.entry_cols;
    exprs = cols;
    key = n.key;
    sets = set_excluded(split_cols(cols), 2);
    now = "$1::bigint";
  } else {
    src = "DISTINCT ON (uid) * FROM " + stage_name<Row>() + " ORDER BY uid, seq DESC";
    cols = sqlite::column_list<Row>();
    exprs = cols;
    key = "uid";
    sets = set_excluded(split_cols(cols), 1);
    now = "$1::text";
  }
  return fmt::format(
      "WITH src AS (SELECT {src}), up AS (INSERT INTO {t} AS f ({cols}, first_synced_at, "
      "last_changed_at, last_run_id, row_hash) SELECT {exprs}, {now}, {now}, $2::bigint, hash "
      "FROM src ON CONFLICT ({key}) DO UPDATE SET {sets} WHERE {cond} RETURNING 1) "
      "SELECT (SELECT count(*) FROM up), (SELECT count(*) FROM src)",
      fmt::arg("src", src), fmt::arg("t", sqlite::write_table<Row>()), fmt::arg("cols", cols),
      fmt::arg("exprs", exprs), fmt::arg("now", now), fmt::arg("key", key), fmt::arg("sets", sets),
      fmt::arg("cond", cond));
}

template <typename Row>
std::string now_param(const WriteContext& ctx) {
  if constexpr (is_narrow<Row>) {
    return micros_text(ctx.now);
  } else {
    return encode_time(ctx.now);
  }
}

OptTime micros_at(const PgResult& r, int column) {
  if (r.is_null(column)) return std::nullopt;
  return Timestamp(std::chrono::microseconds(r.int64(column)));
}

// status, last_fixed, state_time from column `first` on.
Lifecycle read_lifecycle(const PgResult& r, int first) {
  Lifecycle l;
  l.status = parse_vulnerability_status(r.text(first)).value_or(VulnerabilityStatus::active);
  l.last_fixed = micros_at(r, first + 1);
  l.state_time = micros_at(r, first + 2);
  return l;
}

template <typename Row>
std::vector<RowHash> hashes_of(const WriteContext& ctx, std::span<const Row> rows) {
  if (ctx.hashes.size() == rows.size()) return {ctx.hashes.begin(), ctx.hashes.end()};
  std::vector<RowHash> out;
  out.reserve(rows.size());
  for (const auto& r : rows) out.push_back(content_hash(r));
  return out;
}

constexpr std::string_view k_seen_table =
    "CREATE TEMP TABLE IF NOT EXISTS mdesync_seen (object smallint, run bigint, id bigint, "
    "PRIMARY KEY (object, run, id))";

}  // namespace

template <typename Row>
util::Status PgStore::stage_one(std::int64_t seq, RowHash hash, const Row& row) {
  m_copy.integer(seq);
  m_copy.integer(hash);
  sqlite::Binder b(m_copy);
  Table<Row>::bind(b, row);
  Table<Row>::bind_source(b, row);
  m_copy.end_row();
  return {};
}

template <typename Row>
util::Status PgStore::stage_rows(std::span<const Row> rows, std::span<const RowHash> hashes) {
  static const std::string k_create = create_stage_sql<Row>();
  static const std::string k_copy = fmt::format("COPY {} (seq, hash, {}) FROM STDIN",
                                                stage_name<Row>(), sqlite::column_list<Row>());
  static const std::string k_truncate = "TRUNCATE " + stage_name<Row>();
  const bool created = m_stages.contains(Table<Row>::object);
  if (auto st = m_conn->exec(created ? k_truncate : k_create + "; " + k_truncate); !st) return st;
  m_stages.insert(Table<Row>::object);
  m_copy.clear();
  for (std::size_t i = 0; i < rows.size(); ++i) {
    (void)stage_one(static_cast<std::int64_t>(i), hashes[i], rows[i]);
  }
  auto st = m_conn->copy_rows(k_copy, m_copy);
  m_copy.clear();
  return st;
}

template <typename Row>
util::Status PgStore::resolve_refs() {
  static const std::string k_sql = resolve_sql<Row>();
  return m_conn->exec(k_sql);
}

template <typename Row>
Result<std::int64_t> PgStore::merge(const WriteContext& ctx, bool only_changed,
                                    std::int64_t& distinct) {
  static const std::string k_changed = merge_sql<Row>(true);
  static const std::string k_all = merge_sql<Row>(false);
  const std::string now = now_param<Row>(ctx);
  const std::string run = std::to_string(ctx.run_id);
  auto r = m_conn->query(only_changed ? k_changed : k_all, {now, run});
  if (!r) return fail(r.error());
  distinct = r->int64(1);
  return r->int64(0);
}

template <typename Row>
util::Status PgStore::mark_seen(const WriteContext& ctx) {
  static const std::string k_sql = fmt::format(
      "INSERT INTO mdesync_seen (object, run, id) SELECT $1::smallint, $2::bigint, f.id FROM {} s "
      "JOIN {} f ON {} ON CONFLICT DO NOTHING",
      is_narrow<Row> ? keyed_sql<Row>(false) : stage_name<Row>(), sqlite::write_table<Row>(),
      is_narrow<Row> ? "f.item = s.item_id AND f.host = s.host_id" : "f.uid = s.uid");
  if (auto st = m_conn->exec(k_seen_table); !st) return st;
  const std::string object = std::to_string(static_cast<int>(Table<Row>::object));
  const std::string run = std::to_string(ctx.run_id);
  auto r = m_conn->query(k_sql, {object, run});
  if (!r) return fail(r.error());
  return {};
}

// The lifecycle of each staged finding that is stored already (merge_full_row): where
// it changes what is written, the staged row gets the merged status, times and hash.
util::Status PgStore::merge_lifecycles(std::span<const Vulnerability> rows,
                                       std::span<const RowHash> hashes) {
  static const std::string k_sql =
      "SELECT s.seq, f.status, f.last_fixed, f.state_time, f.row_hash FROM " +
      keyed_sql<Vulnerability>(false) +
      " s JOIN vulnerability_finding f ON f.item = s.item_id AND f.host = s.host_id";
  auto found = m_conn->query(k_sql);
  if (!found) return fail(found.error());
  m_copy.clear();
  bool any = false;
  Vulnerability scratch;
  for (int i = 0; i < found->rows(); ++i) {
    found->set_row(i);
    const auto seq = static_cast<std::size_t>(found->int64(0));
    if (seq >= rows.size()) continue;
    const Lifecycle stored = read_lifecycle(*found, 1);
    const bool has_hash = !found->is_null(4);
    const std::int64_t stored_hash = has_hash ? found->int64(4) : 0;
    const Vulnerability* merged = merge_full_row(rows[seq], stored, scratch);
    if (merged == &rows[seq]) continue;
    const RowHash hash = content_hash(*merged);
    // Not written either way: the stored row stays as it is, stateTime included.
    if (has_hash && stored_hash == hash && stored_hash == hashes[seq]) continue;
    sqlite::Binder b(m_copy);
    m_copy.integer(static_cast<std::int64_t>(seq));
    b.lit(to_string(merged->status));
    b.lit(to_string(merged->status_category));
    b.opt(merged->last_fixed);
    b.opt(merged->state_time);
    m_copy.integer(hash);
    m_copy.end_row();
    any = true;
  }
  if (!any) return {};
  if (auto st = m_conn->exec(
          "CREATE TEMP TABLE IF NOT EXISTS mdesync_stage_life (seq bigint, status text, "
          "status_category text, last_fixed text, state_time text, hash bigint); "
          "TRUNCATE mdesync_stage_life");
      !st) {
    return st;
  }
  if (auto st = m_conn->copy_rows("COPY mdesync_stage_life FROM STDIN", m_copy); !st) return st;
  m_copy.clear();
  return m_conn->exec(
      "UPDATE mdesync_stage_vulnerability s SET status = l.status, status_category = "
      "l.status_category, last_fixed = l.last_fixed, state_time = l.state_time, hash = l.hash "
      "FROM mdesync_stage_life l WHERE l.seq = s.seq");
}

template <typename Row>
Result<UpsertCounts> PgStore::upsert_rows(const WriteContext& ctx, std::span<const Row> rows) {
  if (rows.empty()) return UpsertCounts{};
  if constexpr (std::is_same_v<Row, InstalledPackage>) {
    if (m_installed_counts) {
      for (const auto& r : rows) m_installed_dirty.insert(r.targets);
    }
  }
  return write_op([&]() -> Result<UpsertCounts> {
    const std::vector<RowHash> hashes = hashes_of(ctx, rows);
    if (auto st = stage_rows<Row>(rows, hashes); !st) return fail(st.error());
    if constexpr (is_narrow<Row>) {
      if (auto st = resolve_refs<Row>(); !st) return fail(st.error());
    }
    // A first load (the table was empty when this transaction reached it) has no stored
    // lifecycle to merge and nothing to sweep: its read sees every row.
    auto first = first_load(Table<Row>::object);
    if (!first) return fail(first.error());
    if constexpr (std::is_same_v<Row, Vulnerability>) {
      if (!*first) {
        if (auto st = merge_lifecycles(rows, hashes); !st) return fail(st.error());
      }
    }
    std::int64_t distinct = 0;
    auto written = merge<Row>(ctx, true, distinct);
    if (!written) return fail(written.error());
    if (ctx.track_seen && *first) {
      const std::pair key{Table<Row>::object, ctx.run_id};
      if (m_first_loads.insert(key).second) m_first_loads_in_tx.push_back(key);
    } else if (ctx.track_seen) {
      if (auto st = mark_seen<Row>(ctx); !st) return fail(st.error());
    }
    UpsertCounts counts;
    counts.unchanged = distinct - *written;
    counts.written = static_cast<std::int64_t>(rows.size()) - counts.unchanged;
    return counts;
  });
}

namespace {

using Key = std::pair<std::int64_t, std::int64_t>;  // item, host

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
  return write_op([&]() -> Result<DeltaCounts> {
    const std::vector<RowHash> none(events.size(), 0);
    if (auto st = stage_rows<Vulnerability>(events, none); !st) return fail(st.error());
    if (auto st = resolve_refs<Vulnerability>(); !st) return fail(st.error());
    static const std::string k_sql =
        "SELECT s.seq, s.item_id, s.host_id, f.id IS NOT NULL, f.status, f.last_fixed, "
        "f.state_time, f.row_hash FROM " +
        keyed_sql<Vulnerability>(false) +
        " s LEFT JOIN vulnerability_finding f ON f.item = s.item_id AND f.host = s.host_id";
    auto found = m_conn->query(k_sql);
    if (!found) return fail(found.error());
    std::vector<Key> key_of(events.size());
    std::map<Key, EventState> state;
    for (int i = 0; i < found->rows(); ++i) {
      found->set_row(i);
      const auto seq = static_cast<std::size_t>(found->int64(0));
      const Key key{found->int64(1), found->int64(2)};
      if (seq < key_of.size()) key_of[seq] = key;
      auto& s = state[key];
      if (found->int64(3) != 0) {
        s.exists = true;
        s.life = read_lifecycle(*found, 4);
        s.has_hash = !found->is_null(7);
        s.hash = s.has_hash ? found->int64(7) : 0;
      }
    }
    DeltaCounts counts;
    std::map<Key, std::pair<Vulnerability, RowHash>> out;
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
      out.insert_or_assign(key, std::pair{row, hash});
      ++counts.written;
    }
    if (out.empty()) return counts;
    std::vector<Vulnerability> rows;
    std::vector<RowHash> hashes;
    for (auto& [key, rh] : out) {
      rows.push_back(std::move(rh.first));
      hashes.push_back(rh.second);
    }
    if (auto st = stage_rows<Vulnerability>(rows, hashes); !st) return fail(st.error());
    if (auto st = resolve_refs<Vulnerability>(); !st) return fail(st.error());
    std::int64_t distinct = 0;
    if (auto w = merge<Vulnerability>(ctx, false, distinct); !w) return fail(w.error());
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
