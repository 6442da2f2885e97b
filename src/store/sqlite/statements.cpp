#include "store/sqlite/statements.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "store/key_index.hpp"
#include "store/views.hpp"

namespace mdesync::store::sqlite {

using util::ErrorCode;
using util::fail;
using util::Result;
using namespace mdesync::model;

std::string unique_index(ObjectType object) {
  return is_narrow_object(object) ? fmt::format("{}_key_idx", to_string(object))
                                  : fmt::format("{}_uid_idx", to_string(object));
}

std::uint64_t narrow_key(const NarrowRefs& refs) {
  std::array<std::int64_t, 2> pair{refs.item, refs.host};
  return uid_key(std::string_view(reinterpret_cast<const char*>(pair.data()), sizeof pair));
}

namespace {

// The columns an insert binds, in bind order.
template <typename Row>
std::vector<std::string_view> write_columns() {
  std::vector<std::string_view> out;
  if constexpr (is_narrow<Row>) {
    out.assign(std::begin(Table<Row>::write_cols), std::end(Table<Row>::write_cols));
  } else {
    out.assign(std::begin(Table<Row>::cols), std::end(Table<Row>::cols));
    out.insert(out.end(), std::begin(Table<Row>::source_cols), std::end(Table<Row>::source_cols));
  }
  return out;
}

std::string placeholders(std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += i == 0 ? "?" : ", ?";
  return out;
}

// The identifiers of an SQL expression, string literals skipped.
std::vector<std::string_view> identifiers(std::string_view sql) {
  std::vector<std::string_view> out;
  auto word = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  };
  for (std::size_t i = 0; i < sql.size();) {
    if (sql[i] == '\'') {
      const auto end = sql.find('\'', i + 1);
      i = end == std::string_view::npos ? sql.size() : end + 1;
    } else if (word(sql[i])) {
      const std::size_t start = i;
      while (i < sql.size() && word(sql[i])) ++i;
      out.push_back(sql.substr(start, i - start));
    } else {
      ++i;
    }
  }
  return out;
}

// Columns of the table's secondary indexes (uid aside), from the schema itself: the
// indexed ones and those a partial index's WHERE names (a change to them moves the row
// in or out of that index).
Result<std::vector<std::string>> indexed_columns(Db& db, std::string_view table) {
  auto out =
      query_column(db,
                   "SELECT DISTINCT ii.name FROM sqlite_master m, pragma_index_info(m.name) ii "
                   "WHERE m.type = 'index' AND m.tbl_name = ?1 AND ii.name <> 'uid'",
                   table);
  if (!out) return fail(out.error());
  auto partial = query_column(db,
                              "SELECT m.sql FROM sqlite_master m, pragma_index_list(?1) il "
                              "WHERE m.type = 'index' AND m.tbl_name = ?1 AND il.name = m.name "
                              "AND il.partial AND m.sql IS NOT NULL",
                              table);
  if (!partial) return fail(partial.error());
  auto columns =
      query_column(db, "SELECT name FROM pragma_table_info(?1) WHERE name <> 'uid'", table);
  if (!columns) return fail(columns.error());
  for (const auto& sql : *partial) {
    std::string upper(sql);
    std::transform(upper.begin(), upper.end(), upper.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    const auto where = upper.rfind("WHERE");
    if (where == std::string::npos) continue;
    for (const auto id : identifiers(std::string_view(sql).substr(where + 5))) {
      if (std::find(columns->begin(), columns->end(), id) != columns->end()) {
        out->emplace_back(id);
      }
    }
  }
  std::sort(out->begin(), out->end());
  out->erase(std::unique(out->begin(), out->end()), out->end());
  return out;
}

}  // namespace

template <typename Row>
Result<TableStatements> prepare_table(Db& db) {
  using T = Table<Row>;
  const std::string name(write_table<Row>());
  const auto write_cols = write_columns<Row>();
  const std::size_t ncols = write_cols.size();
  constexpr bool is_vuln = std::is_same_v<Row, Vulnerability>;
  TableStatements s;
  s.name = name;
  auto indexed = indexed_columns(db, name);
  if (!indexed) return fail(indexed.error());
  // Parameters are numbered as the insert binds them (column_list order, then
  // last_changed_at, last_run_id, row_hash, id) so one Binder pass fills any update.
  // Indexed columns (at most 64 are compared; more are always set) are left out of the
  // plain update: an update sets only those whose value differs, so that an unchanged
  // indexed value costs no index write.
  s.compare.slot_of.assign(ncols + 5, -1);
  std::size_t n = 0;
  auto column = [&](std::string_view c) {
    ++n;
    // The identifying columns never change in an update.
    if (c == "uid" || (is_narrow<Row> && (c == "item" || c == "host"))) return;
    const bool is_key = std::find(indexed->begin(), indexed->end(), c) != indexed->end();
    std::string set = fmt::format("{} = ?{}", c, n);
    if (is_key && s.keys.size() < 64) {
      s.compare.slot_of[n] = static_cast<int>(s.keys.size());
      s.keys.emplace_back(c);
      s.key_sets.push_back(std::move(set));
    } else {
      s.sets.push_back(std::move(set));
    }
  };
  for (const auto& c : write_cols) column(c);
  s.compare.stored.resize(s.keys.size());
  s.all_keys = s.keys.size() == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << s.keys.size()) - 1;
  std::string key_list;
  for (const auto& k : s.keys) key_list += ", " + k;
  s.first_key_column = is_vuln ? 5 : 2;
  // A narrow row is looked up by (item, host); by_id's first column tells whether the
  // row at that id is the one asked for. A finding's lifecycle comes with it.
  const std::string life = is_vuln ? ", status, last_fixed, state_time" : "";
  // A finding that follows its device's last-seen row with another last_found of its
  // own has no known hash (ADR 0110): a read of its line rewrites it.
  const std::string hash = is_vuln ? stored_row_hash(name) : std::string("row_hash");
  std::string select_sql =
      is_narrow<Row> ? fmt::format("SELECT id, {}{}{} FROM {} WHERE item = ?1 AND host = ?2", hash,
                                   life, key_list, name)
                     : fmt::format("SELECT id, row_hash{} FROM {} WHERE uid = ?", key_list, name);
  std::string by_id_sql =
      is_narrow<Row> ? fmt::format("SELECT item = ?2 AND host = ?3, {}{}{} FROM {} WHERE id = ?1",
                                   hash, life, key_list, name)
                     : fmt::format("SELECT uid, row_hash{} FROM {} WHERE id = ?", key_list, name);
  std::string insert_columns;
  for (const auto& c : write_cols) {
    if (!insert_columns.empty()) insert_columns += ", ";
    insert_columns += c;
  }
  // OR FAIL on every write of a row: no statement journal (see TableStatements).
  std::string insert_sql = fmt::format(
      "INSERT OR FAIL INTO {} ({}, last_changed_at, last_run_id, row_hash, "
      "first_synced_at) VALUES ({})",
      name, insert_columns, placeholders(ncols + 4));
  s.update_tail =
      fmt::format("last_changed_at = ?{}, last_run_id = ?{}, row_hash = ?{} WHERE id = ?{}",
                  ncols + 1, ncols + 2, ncols + 3, ncols + 4);
  std::string update_sql = fmt::format("UPDATE OR FAIL {} SET ", name);
  for (const auto& set : s.sets) update_sql += set + ", ";
  update_sql += s.update_tail;
  // Definitions are never swept (and have no status).
  std::string sweep_sql =
      T::object == ObjectType::vulnerability_definition ? std::string()
      : is_vuln
          ? "UPDATE OR FAIL vulnerability_finding SET status = 'Fixed', status_category = "
            "'Closed', "
            "last_fixed = ?1, state_time = ?1, last_changed_at = ?2, last_run_id = ?3, "
            "row_hash = NULL, last_found = " +
                last_found_now("vulnerability_finding") +
                " WHERE id = ?4 AND status_category = 'Open' "
                "AND (state_time IS NULL OR state_time <= ?1)"
          : fmt::format(
                "UPDATE OR FAIL {} SET status = 'Removed', last_changed_at = ?2, last_run_id = ?3, "
                "row_hash = NULL WHERE id = ?4 AND status <> 'Removed' AND ?1 = ?1",
                name);
  std::string load_sql = is_narrow<Row>
                             ? fmt::format("SELECT id, item, host, {} FROM {}", hash, name)
                             : fmt::format("SELECT id, uid, row_hash FROM {}", name);
  auto p = [&](const std::string& sql, Statement& into) -> util::Status {
    if (sql.empty()) return {};
    auto st = db.prepare(sql);
    if (!st) return fail(st.error());
    into = std::move(*st);
    return {};
  };
  for (auto [sql, into] : {std::pair{&select_sql, &s.select}, std::pair{&by_id_sql, &s.by_id},
                           std::pair{&insert_sql, &s.insert}, std::pair{&update_sql, &s.update},
                           std::pair{&sweep_sql, &s.sweep}, std::pair{&load_sql, &s.load}}) {
    if (auto st = p(*sql, *into); !st) return fail(st.error());
  }
  return s;
}

Result<Statement*> update_with_keys(Db& db, TableStatements& s, std::uint64_t mask) {
  if (auto it = s.update_keys.find(mask); it != s.update_keys.end()) return &it->second;
  std::string sql = fmt::format("UPDATE OR FAIL {} SET ", s.name);
  for (const auto& set : s.sets) sql += set + ", ";
  for (std::size_t i = 0; i < s.key_sets.size(); ++i) {
    if ((mask >> i & 1U) != 0) sql += s.key_sets[i] + ", ";
  }
  sql += s.update_tail;
  auto st = db.prepare(sql);
  if (!st) return fail(st.error());
  return &s.update_keys.emplace(mask, std::move(*st)).first->second;
}

template Result<TableStatements> prepare_table<Host>(Db&);
template Result<TableStatements> prepare_table<Package>(Db&);
template Result<TableStatements> prepare_table<InstalledPackage>(Db&);
template Result<TableStatements> prepare_table<Vulnerability>(Db&);
template Result<TableStatements> prepare_table<VulnerabilityDefinition>(Db&);

}  // namespace mdesync::store::sqlite
