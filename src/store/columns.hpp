#pragma once

// Per-object column lists and row <-> column conversion, shared by both backends.
// `cols` and `source_cols` come from the object's declaration (model/attributes.hpp,
// declared_columns.hpp) and are the bind and read order; the tables have those columns
// (the frozen migrations, then the declared columns added after them). Also which table
// an object is written to, and how a stored row, a sync run and a checkpoint are read
// back.

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "model/model.hpp"
#include "store/declared_columns.hpp"
#include "store/interning.hpp"
#include "store/lifecycle.hpp"
#include "store/store.hpp"

namespace mdesync::store {

// Text buffers for the encoded values of one bind pass (times, JSON lists), kept alive
// until the statement has run so that they are bound without a copy. Reused row after
// row: no allocation once warm. A deque: growing it moves no string.
class BindBuffers {
 public:
  void clear() noexcept { m_used = 0; }
  std::string& next() {
    if (m_used == m_bufs.size()) m_bufs.emplace_back();
    std::string& b = m_bufs[m_used++];
    b.clear();
    return b;
  }

 private:
  std::deque<std::string> m_bufs;
  std::size_t m_used = 0;
};

// Where a Binder writes its values, in column order, and where a Reader reads them: an
// SQLite statement's parameters and result columns (sqlite/values.hpp), the PostgreSQL
// store's COPY rows and query results (postgres/conn.hpp).
class ValueSink {
 public:
  virtual ~ValueSink() = default;
  // `v` must stay valid until the sink's row has been used (a statement run).
  virtual void text(std::string_view v) = 0;
  // `v` may die when the call returns.
  virtual void text_copy(std::string_view v) { text(v); }
  virtual void integer(std::int64_t v) = 0;
  virtual void real(double v) = 0;
  virtual void null() = 0;
};
class ValueSource {
 public:
  virtual ~ValueSource() = default;
  [[nodiscard]] virtual bool is_null(int column) const = 0;
  [[nodiscard]] virtual std::string_view text(int column) const = 0;
  [[nodiscard]] virtual std::int64_t int64(int column) const = 0;
  [[nodiscard]] virtual double real(int column) const = 0;
};

// Writes the values of one row to a sink, in column order. With `buffers`, encoded text
// (times, JSON lists) is kept in them and handed on without a copy (the buffers must
// outlive the sink's use of the row); without, it is handed on as a copy.
class Binder {
 public:
  explicit Binder(ValueSink& sink, BindBuffers* buffers = nullptr)
      : m_sink(&sink), m_buffers(buffers) {}
  void str(const std::string& v) { m_sink->text(v); }
  void lit(std::string_view v) { m_sink->text(v); }  // static storage only
  void opt(const model::OptString& v);
  void opt(const model::OptBool& v);
  void opt(const model::OptInt& v);
  void opt(const model::OptDouble& v);
  void opt(const model::OptTime& v);
  void list(const model::Strings& v);
  void opt_list(const std::optional<model::Strings>& v);
  void i64(std::int64_t v) { m_sink->integer(v); }
  void time(util::Timestamp t);
  // Microseconds since 1970 as an integer (the narrow rows' times, schema v4).
  void micros(util::Timestamp t) { i64(t.time_since_epoch().count()); }
  void opt_micros(const model::OptTime& v);
  void json(const std::string& v);  // a temporary: copied unless buffers are given

 private:
  void null() { m_sink->null(); }
  std::string& buffer();
  void hand_on(const std::string& b);

  ValueSink* m_sink;
  BindBuffers* m_buffers = nullptr;
  std::string m_buf;
};

// Reads sequential columns of the current row, starting at `first`. Decoding errors
// are remembered (first one wins) and reported by error().
class Reader {
 public:
  explicit Reader(const ValueSource& src, int first = 0) : m_src(&src), m_index(first) {}
  std::string str();
  model::OptString opt_str();
  model::OptBool opt_bool();
  model::OptInt opt_int();
  model::OptDouble opt_double();
  model::OptTime opt_time();
  model::Strings list();
  std::optional<model::Strings> opt_list();
  std::string_view view() { return m_src->text(m_index++); }
  void skip() { ++m_index; }
  void fail(std::string message) {
    if (!m_error) m_error = std::move(message);
  }
  [[nodiscard]] const std::optional<std::string>& error() const { return m_error; }

 private:
  const ValueSource* m_src;
  int m_index;
  std::optional<std::string> m_error;
};

template <typename Row>
struct Table;

template <>
struct Table<model::Host> {
  static constexpr model::ObjectType object = model::ObjectType::host;
  static constexpr std::string_view name = "host";
  static constexpr auto cols = declared_columns<model::Host, model::AttrGroup::model>();
  static constexpr auto source_cols = declared_columns<model::Host, model::AttrGroup::source>();
  static void bind(Binder& b, const model::Host& r);
  static void bind_source(Binder& b, const model::Host& r);
  static void read(Reader& rd, model::Host& r);
  static void read_source(Reader& rd, model::Host& r);
};

template <>
struct Table<model::Package> {
  static constexpr model::ObjectType object = model::ObjectType::package;
  static constexpr std::string_view name = "package";
  static constexpr auto cols = declared_columns<model::Package, model::AttrGroup::model>();
  static constexpr auto source_cols = declared_columns<model::Package, model::AttrGroup::source>();
  static void bind(Binder& b, const model::Package& r);
  static void bind_source(Binder& b, const model::Package& r);
  static void read(Reader& rd, model::Package& r);
  static void read_source(Reader& rd, model::Package& r);
};

template <>
struct Table<model::InstalledPackage> {
  static constexpr model::ObjectType object = model::ObjectType::installed_package;
  static constexpr std::string_view name = "installed_package";
  static constexpr auto cols = declared_columns<model::InstalledPackage, model::AttrGroup::model>();
  static constexpr auto source_cols =
      declared_columns<model::InstalledPackage, model::AttrGroup::source>();
  static void bind(Binder& b, const model::InstalledPackage& r);
  static void bind_source(Binder& b, const model::InstalledPackage& r);
  // Written to the narrow table (ADR 0062), read through the `installed_package` view.
  static constexpr std::string_view write_name = "installed_package_entry";
  static constexpr std::string_view write_cols[] = {
      "item", "host", "host_context", "item_context", "version", "status", "first_seen"};
  static void bind_narrow(Binder& b, const model::InstalledPackage& r, const NarrowRefs& refs);
  static void read(Reader& rd, model::InstalledPackage& r);
  static void read_source(Reader& rd, model::InstalledPackage& r);
};

template <>
struct Table<model::Vulnerability> {
  static constexpr model::ObjectType object = model::ObjectType::vulnerability;
  static constexpr std::string_view name = "vulnerability";
  static constexpr auto cols = declared_columns<model::Vulnerability, model::AttrGroup::model>();
  static constexpr auto source_cols =
      declared_columns<model::Vulnerability, model::AttrGroup::source>();
  static void bind(Binder& b, const model::Vulnerability& r);
  static void bind_source(Binder& b, const model::Vulnerability& r);
  // Written to the narrow table (ADR 0062); `cols` and `source_cols` are the columns of
  // the `vulnerability` view that reads it.
  static constexpr std::string_view write_name = "vulnerability_finding";
  static constexpr std::string_view write_cols[] = {
      "item",       "host",        "host_context",    "item_context",
      "source_uid", "first_found", "last_found",      "source_last_modified",
      "last_fixed", "status",      "status_category", "source_status",
      "severity",   "state_time"};
  static void bind_narrow(Binder& b, const model::Vulnerability& r, const NarrowRefs& refs);
  static void read(Reader& rd, model::Vulnerability& r);
  static void read_source(Reader& rd, model::Vulnerability& r);
};

template <>
struct Table<model::VulnerabilityDefinition> {
  static constexpr model::ObjectType object = model::ObjectType::vulnerability_definition;
  static constexpr std::string_view name = "vulnerability_definition";
  static constexpr auto cols =
      declared_columns<model::VulnerabilityDefinition, model::AttrGroup::model>();
  static constexpr auto source_cols =
      declared_columns<model::VulnerabilityDefinition, model::AttrGroup::source>();
  static void bind(Binder& b, const model::VulnerabilityDefinition& r);
  static void bind_source(Binder& b, const model::VulnerabilityDefinition& r);
  static void read(Reader& rd, model::VulnerabilityDefinition& r);
  static void read_source(Reader& rd, model::VulnerabilityDefinition& r);
};

// The columns a read selects: column_list<Row>(), except that a column named in `absent`
// (one the store's table lacks: a store made before the column was declared and opened
// read-only since, so that nothing added it; ADR 0097) is read as NULL.
template <typename Row>
std::string read_column_list(const std::vector<std::string>& absent) {
  std::string out;
  auto add = [&](std::string_view c) {
    if (!out.empty()) out += ", ";
    const bool missing = std::find(absent.begin(), absent.end(), c) != absent.end();
    out += missing ? fmt::format("NULL AS {}", c) : std::string(c);
  };
  for (const auto& c : Table<Row>::cols) add(c);
  for (const auto& c : Table<Row>::source_cols) add(c);
  return out;
}

// Model columns then source-only columns: the bind order of Table<Row>::bind and
// bind_source.
template <typename Row>
std::string column_list() {
  return read_column_list<Row>({});
}

// Vulnerabilities and installed packages are written to narrow tables and read through
// views with the object's name (ADR 0062); every other object has one table for both.
template <typename Row>
constexpr bool is_narrow =
    std::is_same_v<Row, model::Vulnerability> || std::is_same_v<Row, model::InstalledPackage>;

inline bool is_narrow_object(model::ObjectType object) {
  return object == model::ObjectType::vulnerability ||
         object == model::ObjectType::installed_package;
}

template <typename Row>
constexpr std::string_view write_table() {
  if constexpr (is_narrow<Row>) {
    return Table<Row>::write_name;
  } else {
    return Table<Row>::name;
  }
}

// The table `object` is written to.
std::string_view write_table(model::ObjectType object);

// A stored row from the reader's columns: Table<Row>'s columns, then first_synced_at,
// last_changed_at and last_run_id.
template <typename Row>
util::Result<Row> read_row(const ValueSource& src) {
  Row row;
  Reader rd(src);
  Table<Row>::read(rd, row);
  Table<Row>::read_source(rd, row);
  row.meta.first_synced_at = rd.opt_time();
  row.meta.last_changed_at = rd.opt_time();
  row.meta.last_run_id = rd.opt_int();
  if (rd.error()) {
    return util::fail(util::ErrorCode::store, fmt::format("stored {} row {} is unreadable: {}",
                                                          Table<Row>::name, row.uid, *rd.error()));
  }
  return row;
}

// A row of `SELECT id, mode, objects, started_at, ended_at, outcome, counts FROM sync_run`
// and of `SELECT object, run_id, mode, snapshot_time, full_snapshot_time, completed_at,
// state FROM checkpoint` (nullopt: an object this program does not know), from the
// reader's position; decoding errors are the reader's.
SyncRun read_sync_run(Reader& rd);
std::optional<Checkpoint> read_checkpoint(Reader& rd);

// A stored finding's status, last_fixed and state_time (integer times, as the narrow
// finding keeps them) from column `first` on.
Lifecycle read_lifecycle(const ValueSource& src, int first);

// Interrupted runs. A sync that holds the store's sync lock knows no other sync is alive:
// it marks every run left without an outcome interrupted (this statement) before it
// begins its own. A reader that finds no sync holding the lock reports such runs as
// interrupted (mark_unfinished_interrupted); while a sync holds it, they are running.
inline constexpr std::string_view k_interrupt_unfinished_runs =
    "UPDATE sync_run SET outcome = 'interrupted' WHERE outcome IS NULL";
void mark_unfinished_interrupted(std::vector<SyncRun>& runs);

}  // namespace mdesync::store
