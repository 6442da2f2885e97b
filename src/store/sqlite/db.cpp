#include "store/sqlite/db.hpp"

#include <fmt/format.h>

#include <utility>

namespace mdesync::store::sqlite {

using util::ErrorCode;
using util::fail;

Statement::Statement(Statement&& other) noexcept
    : m_db(std::exchange(other.m_db, nullptr)), m_stmt(std::exchange(other.m_stmt, nullptr)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    if (m_stmt != nullptr) sqlite3_finalize(m_stmt);
    m_db = std::exchange(other.m_db, nullptr);
    m_stmt = std::exchange(other.m_stmt, nullptr);
  }
  return *this;
}

Statement::~Statement() {
  if (m_stmt != nullptr) sqlite3_finalize(m_stmt);
}

void Statement::bind_null(int index) noexcept {
  sqlite3_bind_null(m_stmt, index);
}
void Statement::bind(int index, std::int64_t value) noexcept {
  sqlite3_bind_int64(m_stmt, index, value);
}
void Statement::bind(int index, double value) noexcept {
  sqlite3_bind_double(m_stmt, index, value);
}
void Statement::bind(int index, std::string_view text) noexcept {
  sqlite3_bind_text64(m_stmt, index, text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8);
}
void Statement::bind_copy(int index, std::string_view text) noexcept {
  sqlite3_bind_text64(m_stmt, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
}
void Statement::bind_blob(int index, std::string_view bytes) noexcept {
  sqlite3_bind_blob64(m_stmt, index, bytes.data(), bytes.size(), SQLITE_STATIC);
}

util::Result<bool> Statement::step() {
  const int rc = sqlite3_step(m_stmt);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  auto err = m_db->error(rc, "statement failed");
  sqlite3_reset(m_stmt);
  return fail(std::move(err));
}

util::Status Statement::run() {
  for (;;) {
    auto more = step();
    if (!more) return fail(more.error());
    if (!*more) break;
  }
  reset();
  return {};
}

void Statement::reset() noexcept {
  sqlite3_reset(m_stmt);
  sqlite3_clear_bindings(m_stmt);
}

bool Statement::is_null(int column) const noexcept {
  return sqlite3_column_type(m_stmt, column) == SQLITE_NULL;
}
int Statement::type(int column) const noexcept {
  return sqlite3_column_type(m_stmt, column);
}
std::int64_t Statement::int64(int column) const noexcept {
  return sqlite3_column_int64(m_stmt, column);
}
double Statement::real(int column) const noexcept {
  return sqlite3_column_double(m_stmt, column);
}
std::string_view Statement::blob(int column) const noexcept {
  const auto* p = sqlite3_column_blob(m_stmt, column);
  if (p == nullptr) return {};
  return {static_cast<const char*>(p),
          static_cast<std::size_t>(sqlite3_column_bytes(m_stmt, column))};
}

std::string_view Statement::text(int column) const noexcept {
  const auto* p = sqlite3_column_text(m_stmt, column);
  if (p == nullptr) return {};
  return {reinterpret_cast<const char*>(p),
          static_cast<std::size_t>(sqlite3_column_bytes(m_stmt, column))};
}

util::Result<std::unique_ptr<Db>> Db::open(const std::string& path, int flags,
                                           const std::string& uri) {
  sqlite3* handle = nullptr;
  const int rc = sqlite3_open_v2(uri.empty() ? path.c_str() : uri.c_str(), &handle,
                                 flags | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = handle != nullptr ? sqlite3_errmsg(handle) : sqlite3_errstr(rc);
    sqlite3_close(handle);
    return fail(ErrorCode::store, fmt::format("cannot open SQLite store {}: {}", path, msg));
  }
  sqlite3_extended_result_codes(handle, 1);
  return std::unique_ptr<Db>(new Db(handle, path));
}

Db::~Db() {
  sqlite3_close_v2(m_db);
  if (m_after_close) m_after_close();
}

util::Status Db::exec(std::string_view sql) {
  char* msg = nullptr;
  const std::string text(sql);
  const int rc = sqlite3_exec(m_db, text.c_str(), nullptr, nullptr, &msg);
  if (rc != SQLITE_OK) {
    sqlite3_free(msg);
    return fail(error(rc, "statement failed"));
  }
  return {};
}

util::Result<Statement> Db::prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v3(m_db, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) return fail(error(rc, "cannot prepare statement"));
  return Statement(this, stmt);
}

std::int64_t Db::last_insert_rowid() const noexcept {
  return sqlite3_last_insert_rowid(m_db);
}
std::int64_t Db::changes() const noexcept {
  return sqlite3_changes64(m_db);
}

util::Error Db::error(int rc, std::string_view what) const {
  const int primary = rc & 0xFF;
  // Calls such as sqlite3_db_cacheflush fail without setting the connection's message
  // ("not an error"): then the code says what happened (e.g. "database or disk is full").
  const std::string detail =
      sqlite3_errcode(m_db) == SQLITE_OK ? sqlite3_errstr(rc) : sqlite3_errmsg(m_db);
  if (rc == SQLITE_READONLY_ROLLBACK) {
    return util::Error{ErrorCode::store,
                       fmt::format("SQLite store {}: a sync that ended without finishing its "
                                   "transaction left {}-journal, which only a writer can roll "
                                   "back; the next `mdesync sync` does so (nothing of that "
                                   "transaction is kept), readers can open the store after it",
                                   m_path, m_path),
                       std::nullopt, std::nullopt};
  }
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    return util::Error{ErrorCode::store_locked,
                       fmt::format("SQLite store {} is locked by another process ({}): {}; "
                                   "nothing was written, retry when it is done",
                                   m_path, detail, what),
                       std::nullopt, std::nullopt};
  }
  if (primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT) {
    return util::Error{ErrorCode::store,
                       fmt::format("{} is not a usable SQLite database ({}); nothing was "
                                   "written: restore it from a backup or use a new file",
                                   m_path, detail),
                       std::nullopt, std::nullopt};
  }
  return util::Error{ErrorCode::store, fmt::format("SQLite store {}: {}: {}", m_path, what, detail),
                     std::nullopt, std::nullopt};
}

util::Result<std::vector<std::string>> query_column(Db& db, std::string_view sql,
                                                    std::string_view param) {
  auto st = db.prepare(sql);
  if (!st) return util::fail(st.error());
  st->bind(1, param);
  std::vector<std::string> out;
  for (;;) {
    auto more = st->step();
    if (!more) return util::fail(more.error());
    if (!*more) return out;
    out.emplace_back(st->text(0));
  }
}

}  // namespace mdesync::store::sqlite
