#pragma once

// Prepared statements of the SQLite object tables and the naming rules they follow:
// which table an object is written to (a narrow one for findings and installed packages,
// ADR 0062), its column lists, and the statements a TableStatements holds.

#include <fmt/format.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "store/columns.hpp"
#include "store/sqlite/db.hpp"
#include "store/sqlite/dims.hpp"
#include "store/sqlite/values.hpp"

namespace mdesync::store::sqlite {

using model::InstalledPackage;
using model::ObjectType;
using model::Vulnerability;

// The unique index that identifies a row: uid, or (item, host) of a narrow row.
std::string unique_index(ObjectType object);
// The KeyIndex key of a narrow row: its (item, host) pair, hashed as KeyIndex keys are.
std::uint64_t narrow_key(const NarrowRefs& refs);

// Prepared statements of one object table.
//
// The row writes (insert, update, sweep) are `OR FAIL`, not SQLite's default `ABORT`
// (ADR 0105): a statement that fires triggers (the finding history's, ADR 0074) and may
// abort keeps a statement journal, into which SQLite copies every page the statement
// touches (a whole 16 KiB page for each row written). `FAIL` stops at the same
// constraint errors with the same message and needs no such journal; what a failed
// statement wrote is undone with the rest of the operation, since every write runs in
// the store's savepoint or transaction, which is rolled back on any error.
struct TableStatements {
  Statement select;  // id, row_hash [, lifecycle], indexed columns by uid
  Statement by_id;   // uid, row_hash [, lifecycle], indexed columns by id: confirms a hit
  Statement insert;
  Statement update;  // every column but uid and the indexed ones, by id
  Statement sweep;   // close / mark Removed one row by id
  Statement load;    // id, uid, row_hash of every row: fills the KeyIndex
  // An update that also sets the indexed columns of bit mask k (bit i: keys[i]), so that
  // SQLite rewrites the entries of those indexes only. Prepared when first needed.
  std::map<std::uint64_t, Statement> update_keys;
  std::string name;
  std::vector<std::string> keys;      // indexed columns (uid aside) compared before an update
  std::vector<std::string> sets;      // "col = ?n" of the plain update
  std::vector<std::string> key_sets;  // "col = ?n" of keys[i]
  std::string update_tail;            // ", last_changed_at = ?n, ... WHERE id = ?n"
  int first_key_column = 0;           // of keys[0] in select and by_id
  BindCompare compare;                // stored values of keys, from the last lookup
  std::uint64_t all_keys = 0;         // mask of every key
};

// Prepares the statements of Row's table (host, package, installed_package,
// vulnerability, vulnerability_definition).
template <typename Row>
util::Result<TableStatements> prepare_table(Db& db);

// The update that also sets the indexed columns of `mask`.
util::Result<Statement*> update_with_keys(Db& db, TableStatements& s, std::uint64_t mask);

// `absent`: the declared columns the table lacks (read_column_list).
template <typename Row>
std::string scan_sql(std::string_view where, const std::vector<std::string>& absent = {}) {
  return fmt::format(
      "SELECT {}, first_synced_at, last_changed_at, last_run_id FROM {} t {} ORDER BY uid",
      read_column_list<Row>(absent), Table<Row>::name, where);
}

// A stored row from the current result row of a scan_sql statement.
template <typename Row>
util::Result<Row> read_row(const Statement& st) {
  return store::read_row<Row>(StatementSource(st));
}

}  // namespace mdesync::store::sqlite
