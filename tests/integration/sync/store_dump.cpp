#include "store_dump.hpp"

#include <sqlite3.h>

#include <stdexcept>

namespace mdesync::testing_support {
namespace {

struct Db {
  explicit Db(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      throw std::runtime_error("cannot open " + path);
    }
  }
  ~Db() { sqlite3_close(db); }
  sqlite3* db = nullptr;
};

struct Stmt {
  Stmt(sqlite3* db, const std::string& sql) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
      throw std::runtime_error(std::string("bad SQL: ") + sqlite3_errmsg(db) + ": " + sql);
    }
  }
  ~Stmt() { sqlite3_finalize(st); }
  sqlite3_stmt* st = nullptr;
};

std::string text(sqlite3_stmt* st, int col) {
  const auto* p = sqlite3_column_text(st, col);
  return p == nullptr ? std::string("NULL") : std::string(reinterpret_cast<const char*>(p));
}

}  // namespace

std::map<std::string, std::string> dump_table(const std::string& db_path, const std::string& table,
                                              const std::set<std::string>& ignore) {
  static const std::set<std::string> managed = {"id", "first_synced_at", "last_changed_at",
                                                "last_run_id", "row_hash"};
  Db db(db_path);
  Stmt stmt(db.db, "SELECT * FROM " + table + " ORDER BY uid");
  std::map<std::string, std::string> rows;
  const int n = sqlite3_column_count(stmt.st);
  while (sqlite3_step(stmt.st) == SQLITE_ROW) {
    std::string uid;
    std::string line;
    for (int c = 0; c < n; ++c) {
      const std::string name = sqlite3_column_name(stmt.st, c);
      if (name == "uid") uid = text(stmt.st, c);
      if (managed.contains(name) || ignore.contains(name)) continue;
      line += name + "=" + text(stmt.st, c) + "|";
    }
    rows[uid] = line;
  }
  return rows;
}

std::vector<std::string> query_rows(const std::string& db_path, const std::string& sql) {
  Db db(db_path);
  Stmt stmt(db.db, sql);
  std::vector<std::string> out;
  const int n = sqlite3_column_count(stmt.st);
  while (sqlite3_step(stmt.st) == SQLITE_ROW) {
    std::string line;
    for (int c = 0; c < n; ++c) {
      if (c > 0) line += '|';
      line += text(stmt.st, c);
    }
    out.push_back(std::move(line));
  }
  return out;
}

long long query_int(const std::string& db_path, const std::string& sql) {
  Db db(db_path);
  Stmt stmt(db.db, sql);
  if (sqlite3_step(stmt.st) != SQLITE_ROW) return -1;
  return sqlite3_column_int64(stmt.st, 0);
}

std::vector<std::string> query_strings(const std::string& db_path, const std::string& sql) {
  Db db(db_path);
  Stmt stmt(db.db, sql);
  std::vector<std::string> out;
  while (sqlite3_step(stmt.st) == SQLITE_ROW) out.push_back(text(stmt.st, 0));
  return out;
}

}  // namespace mdesync::testing_support
