#include "store/postgres/dims.hpp"

#include <fmt/format.h>

#include <cstdlib>

#include "store/narrow_layout.hpp"

namespace mdesync::store::pg {

using util::fail;
using namespace narrow;

namespace {

// Type oids of the interned tables' columns (pg_type.dat).
constexpr Oid k_bool = 16;
constexpr Oid k_int8 = 20;
constexpr Oid k_int4 = 23;
constexpr Oid k_float8 = 701;

// Writes each field as a column of a COPY row (booleans as 1/0, which boolean input
// accepts).
class CopyFields {
 public:
  explicit CopyFields(CopyBuffer& out) : m_out(out) {}
  void text(OptText v) { v ? m_out.text(*v) : m_out.null(); }
  void real(std::optional<double> v) { v ? m_out.real(*v) : m_out.null(); }
  void integer(std::optional<std::int64_t> v) { v ? m_out.integer(*v) : m_out.null(); }

 private:
  CopyBuffer& m_out;
};

}  // namespace

// --- PgInterner --------------------------------------------------------------------------

PgInterner::PgInterner(std::string_view table, std::string_view columns)
    : m_table(table), m_columns(columns) {}

void PgInterner::forget() noexcept {
  m_ids.clear();
  m_last_id = 0;
  m_max_id = 0;
  m_new.clear();
}

util::Status PgInterner::load(Conn& conn) {
  forget();
  auto r = conn.query(fmt::format("SELECT id, {} FROM {}", m_columns, m_table));
  if (!r) return fail(r.error());
  const int columns = PQnfields(r->raw());
  std::string key;
  for (int i = 0; i < r->rows(); ++i) {
    r->set_row(i);
    KeyWriter w(key);
    for (int c = 1; c < columns; ++c) {
      if (r->is_null(c)) {
        w.text(std::nullopt);
        continue;
      }
      switch (PQftype(r->raw(), c)) {
        case k_bool:
        case k_int8:
        case k_int4:
          w.integer(r->int64(c));
          break;
        case k_float8:
          w.real(r->real(c));
          break;
        default:
          w.text(r->text(c));
          break;
      }
    }
    const std::int64_t id = r->int64(0);
    m_ids.insert(digest_of(key), id);
    m_max_id = std::max(m_max_id, id);
  }
  return {};
}

template <typename Fields>
std::int64_t PgInterner::intern(const Digest& d, const Fields& fields) {
  if (m_last_id != 0 && d == m_last) return m_last_id;
  std::int64_t id = m_ids.find(d);
  if (id == 0) {
    id = ++m_max_id;
    m_ids.insert(d, id);
    m_new.integer(id);
    CopyFields w(m_new);
    fields(w);
    m_new.end_row();
  }
  m_last = d;
  m_last_id = id;
  return id;
}

util::Status PgInterner::flush(Conn& conn) {
  if (!pending()) return {};
  if (auto st =
          conn.copy_rows(fmt::format("COPY {} (id, {}) FROM STDIN", m_table, m_columns), m_new);
      !st) {
    return st;
  }
  m_new.clear();
  // Later inserts that take the default id (none today) start after these.
  auto r = conn.query(
      fmt::format("SELECT setval(pg_get_serial_sequence('{}', 'id'), {})", m_table, m_max_id));
  if (!r) return fail(r.error());
  return {};
}

// --- PgDims ------------------------------------------------------------------------------

template <typename Row>
PgDims<Row>::PgDims()
    : m_targets(Layout<Row>::target, "targets"),
      m_items(Layout<Row>::item, "uid_suffix, type"),
      m_host_contexts(Layout<Row>::host_context, Layout<Row>::host_context_cols),
      m_item_contexts(Layout<Row>::item_context, Layout<Row>::item_context_cols) {}

template <typename Row>
bool PgDims<Row>::pending() const noexcept {
  return m_targets.pending() || m_items.pending() || m_host_contexts.pending() ||
         m_item_contexts.pending();
}

template <typename Row>
void PgDims<Row>::forget() noexcept {
  m_loaded = false;
  for (PgInterner* i : {&m_targets, &m_items, &m_host_contexts, &m_item_contexts}) i->forget();
}

template <typename Row>
util::Status PgDims<Row>::flush(Conn& conn) {
  for (PgInterner* i : {&m_targets, &m_items, &m_host_contexts, &m_item_contexts}) {
    if (auto st = i->flush(conn); !st) return st;
  }
  return {};
}

template <typename Row>
util::Status PgDims<Row>::refs(Conn& conn, const Row& row, const NarrowKeys& keys, NarrowRefs& out,
                               bool contexts) {
  using L = Layout<Row>;
  if (!m_loaded) {
    for (PgInterner* i : {&m_targets, &m_items, &m_host_contexts, &m_item_contexts}) {
      if (auto st = i->load(conn); !st) {
        forget();
        return st;
      }
    }
    m_loaded = true;
  }
  out.host = m_targets.intern(keys.target, [&](auto& w) { w.text(row.targets); });
  out.item = m_items.intern(keys.item, [&](auto& w) {
    w.text(uid_suffix(row.uid, row.targets, m_scratch));
    w.text(row.type);
  });
  if (!contexts) return {};
  out.host_context =
      m_host_contexts.intern(keys.host_context, [&](auto& w) { L::host_fields(w, row, m_json); });
  out.item_context =
      m_item_contexts.intern(keys.item_context, [&](auto& w) { L::item_fields(w, row, m_json); });
  out.literal_source_uid = L::literal_source_uid(row);
  return {};
}

template class PgDims<model::Vulnerability>;
template class PgDims<model::InstalledPackage>;

}  // namespace mdesync::store::pg
