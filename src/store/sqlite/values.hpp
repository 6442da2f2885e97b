#pragma once

// The SQLite side of the shared column code (store/columns.hpp): a statement's
// parameters as a ValueSink, which can also compare each value with the one stored (so
// that an update rewrites only the indexes whose columns changed), and a statement's
// result row as a ValueSource.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/columns.hpp"
#include "store/sqlite/db.hpp"

namespace mdesync::store::sqlite {

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

// Binds sequential parameters of one statement, starting at `first`; with `compare`,
// values of the compared parameters are checked against the stored ones.
class StatementSink final : public ValueSink {
 public:
  explicit StatementSink(Statement& st, int first = 1, BindCompare* compare = nullptr)
      : m_st(&st), m_index(first), m_compare(compare) {}
  void text(std::string_view v) override;
  void text_copy(std::string_view v) override;
  void integer(std::int64_t v) override;
  void real(double v) override;
  void null() override;

 private:
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

  Statement* m_st;
  int m_index;
  BindCompare* m_compare;
};

// The current result row of a statement.
class StatementSource final : public ValueSource {
 public:
  explicit StatementSource(const Statement& st) : m_st(&st) {}
  [[nodiscard]] bool is_null(int column) const override { return m_st->is_null(column); }
  [[nodiscard]] std::string_view text(int column) const override { return m_st->text(column); }
  [[nodiscard]] std::int64_t int64(int column) const override { return m_st->int64(column); }
  [[nodiscard]] double real(int column) const override { return m_st->real(column); }

 private:
  const Statement* m_st;
};

}  // namespace mdesync::store::sqlite
