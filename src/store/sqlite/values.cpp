#include "store/sqlite/values.hpp"

namespace mdesync::store::sqlite {

void StoredValue::read(const Statement& st, int column) {
  type = st.type(column);
  switch (type) {
    case SQLITE_INTEGER:
      i = st.int64(column);
      break;
    case SQLITE_FLOAT:
      d = st.real(column);
      break;
    case SQLITE_NULL:
      break;
    default:
      type = SQLITE_TEXT;  // a blob compares by its bytes too, and never equals a bound text
      text.assign(st.text(column));
      break;
  }
}

// A compared parameter counts as unchanged only when SQLite would store exactly the
// stored value (same type, same value); anything else is a change (at worst an index
// entry rewritten with the same key).
void StatementSink::text(std::string_view v) {
  if (const auto* s = compared(); s && !(s->type == SQLITE_TEXT && s->text == v)) mark_differs();
  m_st->bind(m_index++, v);
}
void StatementSink::text_copy(std::string_view v) {
  if (const auto* s = compared(); s && !(s->type == SQLITE_TEXT && s->text == v)) mark_differs();
  m_st->bind_copy(m_index++, v);
}
void StatementSink::integer(std::int64_t v) {
  if (const auto* s = compared(); s && !(s->type == SQLITE_INTEGER && s->i == v)) mark_differs();
  m_st->bind(m_index++, v);
}
void StatementSink::real(double v) {
  if (const auto* s = compared(); s && !(s->type == SQLITE_FLOAT && s->d == v)) mark_differs();
  m_st->bind(m_index++, v);
}
void StatementSink::null() {
  if (const auto* s = compared(); s && s->type != SQLITE_NULL) mark_differs();
  m_st->bind_null(m_index++);
}

}  // namespace mdesync::store::sqlite
