#pragma once

// Thin RAII layer over the SQLite C API: a connection, prepared statements with typed
// binds and reads. Every SQLite failure becomes a util::Error here; nothing above this
// file sees a return code. Not thread-safe (one connection, one thread).

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"

namespace mdesync::store::sqlite {

class Db;

// A prepared statement, reset after each step sequence. Bind indexes are 1-based,
// column indexes 0-based, as in SQLite.
class Statement final {
 public:
  Statement() = default;
  Statement(Db* db, sqlite3_stmt* stmt) : m_db(db), m_stmt(stmt) {}
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  void bind_null(int index) noexcept;
  void bind(int index, std::int64_t value) noexcept;
  void bind(int index, double value) noexcept;
  // The text must stay alive until the next step() or reset().
  void bind(int index, std::string_view text) noexcept;
  void bind_copy(int index, std::string_view text) noexcept;
  // Bytes as a BLOB; they must stay alive until the next step() or reset().
  void bind_blob(int index, std::string_view bytes) noexcept;

  // Returns true while a row is available, false when done.
  util::Result<bool> step();
  // Steps to completion (for statements returning no rows).
  util::Status run();
  void reset() noexcept;

  [[nodiscard]] bool valid() const noexcept { return m_stmt != nullptr; }
  [[nodiscard]] bool is_null(int column) const noexcept;
  [[nodiscard]] int type(int column) const noexcept;  // SQLITE_INTEGER, ...
  [[nodiscard]] std::int64_t int64(int column) const noexcept;
  [[nodiscard]] double real(int column) const noexcept;
  [[nodiscard]] std::string_view text(int column) const noexcept;
  [[nodiscard]] std::string_view blob(int column) const noexcept;

 private:
  Db* m_db = nullptr;
  sqlite3_stmt* m_stmt = nullptr;
};

class Db;

// The values of the one column a query returns, its parameter ?1 bound to `param`.
util::Result<std::vector<std::string>> query_column(Db& db, std::string_view sql,
                                                    std::string_view param);

// The column names of `table` (PRAGMA table_info).
inline util::Result<std::vector<std::string>> table_columns(Db& db, std::string_view table) {
  return query_column(db, "SELECT name FROM pragma_table_info(?1)", table);
}

class Db final {
 public:
  // Opens the file (flags as sqlite3_open_v2). Errors name the path. `uri`, when given,
  // is what SQLite opens instead (a file: URI for `path`; flags then need
  // SQLITE_OPEN_URI): messages still name `path`.
  static util::Result<std::unique_ptr<Db>> open(const std::string& path, int flags,
                                                const std::string& uri = {});
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  util::Status exec(std::string_view sql);
  util::Result<Statement> prepare(std::string_view sql);
  [[nodiscard]] std::int64_t last_insert_rowid() const noexcept;
  [[nodiscard]] std::int64_t changes() const noexcept;
  [[nodiscard]] sqlite3* handle() const noexcept { return m_db; }
  [[nodiscard]] const std::string& path() const noexcept { return m_path; }

  // Error for the last failed call, with the code mapped (busy/locked -> store_locked).
  [[nodiscard]] util::Error error(int rc, std::string_view what) const;

  // Runs `f` once the connection is closed (the destructor).
  void after_close(std::function<void()> f) { m_after_close = std::move(f); }

 private:
  Db(sqlite3* db, std::string path) : m_db(db), m_path(std::move(path)) {}
  sqlite3* m_db;
  std::string m_path;
  std::function<void()> m_after_close;
};

}  // namespace mdesync::store::sqlite
