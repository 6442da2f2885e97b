#pragma once

// Per-object column lists and row <-> column conversion, for the SQLite backend and (with
// a ValueSink / ValueSource) the PostgreSQL one. `cols` and `source_cols` come from the
// object's declaration (model/attributes.hpp) and are the bind and read order; the
// tables have those columns (the frozen migrations, then the columns added after them,
// columns.hpp).

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "model/model.hpp"
#include "store/columns.hpp"
#include "store/narrow_dims.hpp"
#include "store/sqlite_db.hpp"

namespace mdesync::store::sqlite {

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

// A column value as SQLite stores it, copied out of a result row (the stored value of an
// indexed column, compared with the value about to be written).
struct StoredValue {
  int type = SQLITE_NULL;
  std::int64_t i = 0;
  double d = 0;
  std::string text;
  void read(const Statement& st, int column);
};

// Which parameters of a bind pass are compared with stored values: `slot_of[param]` is
// the index into `stored` (or -1). Bit k of `differs` is set when parameter
// stored[k] is bound to a value other than the stored one.
struct BindCompare {
  std::vector<int> slot_of;
  std::vector<StoredValue> stored;
  std::uint64_t differs = 0;
};

// Where a Binder writes when it binds no SQLite statement, and where a Reader reads
// when it reads none: the PostgreSQL store's COPY rows and query results use the same
// per-object column code (pg_conn.hpp).
class ValueSink {
 public:
  virtual ~ValueSink() = default;
  virtual void text(std::string_view v) = 0;
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

// Binds sequential parameters of one statement, starting at 1. With `buffers`, encoded
// text is bound without a copy (the buffers must outlive the statement's run); with
// `compare`, values of the compared parameters are checked against the stored ones.
class Binder {
 public:
  explicit Binder(Statement& st, int first = 1, BindBuffers* buffers = nullptr,
                  BindCompare* compare = nullptr)
      : m_st(&st), m_index(first), m_buffers(buffers), m_compare(compare) {}
  // Writes each value to `sink` instead, in order.
  explicit Binder(ValueSink& sink) : m_sink(&sink) {}
  void str(const std::string& v) { text(std::string_view(v)); }
  void lit(std::string_view v) { text(v); }  // static storage only
  void opt(const model::OptString& v);
  void opt(const model::OptBool& v);
  void opt(const model::OptInt& v);
  void opt(const model::OptDouble& v);
  void opt(const model::OptTime& v);
  void list(const model::Strings& v);
  void opt_list(const std::optional<model::Strings>& v);
  void i64(std::int64_t v);
  void time(util::Timestamp t);
  // Microseconds since 1970 as an INTEGER (the narrow finding's times, schema v4).
  void micros(util::Timestamp t) { i64(t.time_since_epoch().count()); }
  void opt_micros(const model::OptTime& v);
  void json(const std::string& v);  // a temporary: copied unless buffers are given
  [[nodiscard]] int next() const { return m_index; }

 private:
  void text(std::string_view v);  // must outlive the run
  void real(double v);
  void null();
  std::string& buffer();
  void bind_buffer(const std::string& b);
  const StoredValue* compared() const noexcept {
    if (m_compare == nullptr || m_index >= static_cast<int>(m_compare->slot_of.size())) {
      return nullptr;
    }
    const int slot = m_compare->slot_of[static_cast<std::size_t>(m_index)];
    return slot < 0 ? nullptr : &m_compare->stored[static_cast<std::size_t>(slot)];
  }
  void mark_differs() noexcept {
    m_compare->differs |= std::uint64_t{1} << m_compare->slot_of[static_cast<std::size_t>(m_index)];
  }

  Statement* m_st = nullptr;
  ValueSink* m_sink = nullptr;
  int m_index = 1;
  BindBuffers* m_buffers = nullptr;
  BindCompare* m_compare = nullptr;
  std::string m_buf;
};

// Reads sequential columns of the current row, starting at `first`. Decoding errors
// are remembered (first one wins) and reported by error().
class Reader {
 public:
  explicit Reader(const Statement& st, int first = 0) : m_st(&st), m_index(first) {}
  explicit Reader(const ValueSource& src, int first = 0) : m_src(&src), m_index(first) {}
  std::string str();
  model::OptString opt_str();
  model::OptBool opt_bool();
  model::OptInt opt_int();
  model::OptDouble opt_double();
  model::OptTime opt_time();
  model::Strings list();
  std::optional<model::Strings> opt_list();
  std::string_view view() { return text_at(m_index++); }
  void skip() { ++m_index; }
  void fail(std::string message) {
    if (!m_error) m_error = std::move(message);
  }
  [[nodiscard]] const std::optional<std::string>& error() const { return m_error; }

 private:
  [[nodiscard]] bool null_at(int i) const { return m_src ? m_src->is_null(i) : m_st->is_null(i); }
  [[nodiscard]] std::string_view text_at(int i) const {
    return m_src ? m_src->text(i) : m_st->text(i);
  }
  [[nodiscard]] std::int64_t int_at(int i) const {
    return m_src ? m_src->int64(i) : m_st->int64(i);
  }
  [[nodiscard]] double real_at(int i) const { return m_src ? m_src->real(i) : m_st->real(i); }

  const Statement* m_st = nullptr;
  const ValueSource* m_src = nullptr;
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

}  // namespace mdesync::store::sqlite
