#pragma once

// Thin RAII layer over libpq for the PostgreSQL store: a connection, results readable
// through the shared column code (store/columns.hpp's Reader), COPY rows written through
// its Binder. Every libpq failure becomes a util::Error here, naming the store by its
// redacted URL: a password never reaches a message. Not thread-safe (one connection,
// one thread).

#include <libpq-fe.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "store/columns.hpp"
#include "store/postgres/store.hpp"
#include "util/result.hpp"

namespace mdesync::store::pg {

// What a `postgresql://` store URL names: the libpq connection string (without our own
// parameter), the same URL for messages with any password masked, and the schema that
// holds the tenant's tables (ADR 0067).
struct PgTarget {
  std::string conninfo;
  std::string redacted;
  std::string schema;
};

// Splits the URL: `schema=NAME` (ours, removed before libpq sees the URL) wins, else
// `mdesync_<tenant>` from the configured tenant id, else `mdesync`. ErrorCode::config
// for a schema name that is not a plain lower-case identifier.
util::Result<PgTarget> parse_target(std::string_view url, std::string_view tenant);

// A query's result; also a ValueSource over its current row (set_row).
class PgResult final : public ValueSource {
 public:
  PgResult() = default;
  explicit PgResult(PGresult* res) : m_res(res) {}
  PgResult(PgResult&& other) noexcept : m_res(other.m_res), m_row(other.m_row) {
    other.m_res = nullptr;
  }
  PgResult& operator=(PgResult&& other) noexcept;
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;
  ~PgResult() override;

  [[nodiscard]] const PGresult* raw() const noexcept { return m_res; }
  [[nodiscard]] int rows() const noexcept { return m_res ? PQntuples(m_res) : 0; }
  void set_row(int row) noexcept { m_row = row; }
  [[nodiscard]] bool is_null(int column) const override;
  [[nodiscard]] std::string_view text(int column) const override;
  // Integers, and booleans as 1/0.
  [[nodiscard]] std::int64_t int64(int column) const override;
  [[nodiscard]] double real(int column) const override;
  // Rows affected by the command (INSERT/UPDATE/DELETE).
  [[nodiscard]] std::int64_t affected() const;

 private:
  PGresult* m_res = nullptr;
  int m_row = 0;
};

// One COPY ... FROM STDIN text-format buffer: rows of tab-separated fields, \N for NULL,
// backslash escapes. Flushed to the server in large chunks by Conn::copy_rows.
class CopyBuffer final : public ValueSink {
 public:
  void text(std::string_view v) override;
  void integer(std::int64_t v) override;
  void real(double v) override;
  void null() override;
  // Ends the current row.
  void end_row();
  [[nodiscard]] const std::string& data() const noexcept { return m_data; }
  void clear() noexcept {
    m_data.clear();
    m_first = true;
  }

 private:
  void separate();
  std::string m_data;
  bool m_first = true;
};

// Rows of COPY ... FROM STDIN (FORMAT binary) for tables of bigint and text columns only
// (the narrow rows of a first load): integers as int8, texts as their bytes. No text to
// parse on the server, nothing to escape here.
class BinaryCopyBuffer final : public ValueSink {
 public:
  void text(std::string_view v) override;
  void integer(std::int64_t v) override;
  void real(double v) override;  // float8
  void null() override;
  void end_row();
  [[nodiscard]] const std::string& data() const noexcept { return m_data; }
  void clear() noexcept {
    m_data.clear();
    m_fields = 0;
    m_row_start = std::string::npos;
  }
  // The signature and header a binary COPY begins with.
  static std::string_view header();

 private:
  void field(std::int32_t length);
  std::string m_data;
  std::size_t m_row_start = std::string::npos;
  std::uint16_t m_fields = 0;
};

using OptText = std::optional<std::string_view>;

class Conn final {
 public:
  // Connects with libpq (password from the URL, PGPASSWORD or ~/.pgpass; TLS as
  // sslmode says). ErrorCode::store naming the redacted URL when it cannot.
  static util::Result<std::unique_ptr<Conn>> connect(const PgTarget& target);
  ~Conn();
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // Runs one or more statements without parameters.
  util::Status exec(std::string_view sql);
  // Runs one statement with text parameters ($1, $2, ...; nullopt is NULL).
  util::Result<PgResult> query(std::string_view sql, std::initializer_list<OptText> params = {});
  // COPY `copy_sql` (... FROM STDIN, after any statements without results, in one
  // round trip) with the rows of `buffer`.
  util::Status copy_rows(std::string_view copy_sql, const CopyBuffer& buffer);

  // A COPY ... FROM STDIN left open across calls: a first load streams its rows while
  // the client maps the next batch (ADR 0070). Any other statement ends it first; its
  // errors (the server's, on any row) surface there or at finish_copy.
  util::Status begin_copy(std::string_view copy_sql);
  util::Status put_copy(const CopyBuffer& buffer);
  util::Status put_copy(std::string_view data);
  util::Status finish_copy();
  [[nodiscard]] bool copy_open() const noexcept { return !m_copy_sql.empty(); }
  // Runs `fn` once before the next statement (after an open COPY ends): the writes the
  // store keeps pending in the client. Replaces any earlier one.
  void before_next(std::function<util::Status()> fn) { m_before = std::move(fn); }
  [[nodiscard]] bool has_before_next() const noexcept { return static_cast<bool>(m_before); }
  // Ends an open COPY and runs the before_next function: done before every statement.
  util::Status settle();
  // Statements without parameters or results (SAVEPOINT, RELEASE) sent with the next
  // statement, in order and before anything else reaches the server: ahead of it in the
  // text of an exec, else in a round trip of their own just before it. A failure is
  // reported by that statement.
  void defer(std::string_view sql) {
    m_deferred += sql;
    m_deferred += "; ";
  }
  // Drops `sql` if it is the last deferred statement and was not sent yet: whether it was.
  bool cancel_deferred(std::string_view sql);
  // Forgets the deferred statements (before a ROLLBACK).
  void drop_deferred() noexcept { m_deferred.clear(); }
  // Forgets the pending writes and ends an open COPY as failed (before a rollback).
  void abandon() noexcept;
  // SQLSTATE of the last failed statement ("" when unknown).
  [[nodiscard]] const std::string& last_state() const noexcept { return m_last_state; }
  // Makes the connection usable: after a loss, reconnects once (call it outside a
  // transaction only: the caller's transaction is gone with the old connection).
  // Returns whether it reconnected (session state such as advisory locks is gone).
  util::Result<bool> ensure_alive();
  [[nodiscard]] bool in_transaction() const noexcept;
  [[nodiscard]] const PgTarget& target() const noexcept { return m_target; }
  // A function that asks the server to cancel the statement this connection runs at the
  // time it is called (from any thread; PQcancel). Made from the current connection: a
  // reconnection later leaves it aimed at the old one, where it does nothing.
  [[nodiscard]] std::function<void()> canceller() const;

 private:
  Conn(PGconn* conn, PgTarget target) : m_conn(conn), m_target(std::move(target)) {}
  util::Error error(const PGresult* res, std::string_view what);
  util::Status prepare_session();
  util::Status put(std::string_view data, std::string_view what);
  // Sends the deferred statements in a round trip of their own.
  util::Status send_deferred();

  PGconn* m_conn;
  PgTarget m_target;
  std::string m_copy_sql;  // of the open COPY, "" when none
  std::function<util::Status()> m_before;
  std::string m_deferred;  // statements for the next round trip, each ending in "; "
  std::string m_last_state;
};

// A string literal / identifier safe to splice into SQL (schema names only).
std::string quote_ident(std::string_view name);

}  // namespace mdesync::store::pg
