#include "store/sqlite/dims.hpp"

#include <fmt/format.h>

#include <optional>

#include "store/codec.hpp"
#include "store/narrow_layout.hpp"

namespace mdesync::store::sqlite {

using util::fail;

namespace {

using namespace narrow;

// A stored column into `w`, by the type SQLite reports for it.
void key_column(KeyWriter& w, const Statement& st, int c) {
  switch (st.type(c)) {
    case SQLITE_NULL:
      w.text(std::nullopt);
      break;
    case SQLITE_INTEGER:
      w.integer(st.int64(c));
      break;
    case SQLITE_FLOAT:
      w.real(st.real(c));
      break;
    default:
      w.text(st.text(c));
      break;
  }
}

// Binds each field to the next parameter of an insert.
class ParamWriter {
 public:
  explicit ParamWriter(Statement& st) : m_st(st) {}
  void text(OptText v) {
    if (v) {
      m_st.bind(m_index++, *v);
    } else {
      m_st.bind_null(m_index++);
    }
  }
  void real(std::optional<double> v) {
    if (v) {
      m_st.bind(m_index++, *v);
    } else {
      m_st.bind_null(m_index++);
    }
  }
  void integer(std::optional<std::int64_t> v) {
    if (v) {
      m_st.bind(m_index++, *v);
    } else {
      m_st.bind_null(m_index++);
    }
  }

 private:
  Statement& m_st;
  int m_index = 1;
};

// The digest of the content key `fields(writer)` writes; `key` is scratch.
template <typename Fields>
NarrowKeys::Digest digest_fields(std::string& key, const Fields& fields) {
  {
    KeyWriter w(key);
    fields(w);
  }
  return digest_of(key);
}

// The four content digests of a row, written by the same field lists as the rows they
// stand for are (Layout), so that a digest computed here finds the row Interner::load
// read back from its table.
template <typename Row>
NarrowKeys keys_of(const Row& row) {
  using L = Layout<Row>;
  thread_local std::string key;
  thread_local std::string scratch;
  thread_local std::string json[4];
  NarrowKeys k;
  k.target = digest_fields(key, [&](auto& w) { w.text(row.targets); });
  const std::string_view suffix = uid_suffix(row.uid, row.targets, scratch);
  k.item = digest_fields(key, [&](auto& w) {
    w.text(suffix);
    w.text(row.type);
  });
  k.host_context = digest_fields(key, [&](auto& w) { L::host_fields(w, row, json); });
  k.item_context = digest_fields(key, [&](auto& w) { L::item_fields(w, row, json); });
  return k;
}

}  // namespace

// --- Interner ---------------------------------------------------------------------------

Interner::Interner(std::string_view table, std::string_view columns, int count)
    : m_table(table), m_columns(columns), m_count(count) {}

util::Status Interner::load(Db& db) {
  forget();
  auto st = db.prepare(fmt::format("SELECT id, {} FROM {}", m_columns, m_table));
  if (!st) return fail(st.error());
  std::string key;
  for (;;) {
    auto more = st->step();
    if (!more) return fail(more.error());
    if (!*more) return {};
    KeyWriter w(key);
    for (int c = 1; c <= m_count; ++c) key_column(w, *st, c);
    m_ids.insert(digest_of(key), st->int64(0));
  }
}

template <typename Bind>
util::Result<std::int64_t> Interner::intern(Db& db, const Digest& d, const Bind& bind) {
  if (m_last_id != 0 && d == m_last) return m_last_id;
  if (const std::int64_t found = m_ids.find(d); found != 0) {
    m_last = d;
    m_last_id = found;
    return found;
  }
  if (!m_insert.valid()) {
    std::string params = "?";
    for (int i = 1; i < m_count; ++i) params += ", ?";
    auto p = db.prepare(fmt::format("INSERT INTO {} ({}) VALUES ({})", m_table, m_columns, params));
    if (!p) return fail(p.error());
    m_insert = std::move(*p);
  }
  ParamWriter w(m_insert);
  bind(w);
  if (auto r = m_insert.run(); !r) return fail(r.error());
  const auto id = db.last_insert_rowid();
  m_ids.insert(d, id);
  m_last = d;
  m_last_id = id;
  return id;
}

// --- NarrowDims -------------------------------------------------------------------------

template <typename Row>
NarrowDims<Row>::NarrowDims()
    : m_targets(Layout<Row>::target, "targets", 1),
      m_items(Layout<Row>::item, "uid_suffix, type", 2),
      m_host_contexts(Layout<Row>::host_context, Layout<Row>::host_context_cols,
                      Layout<Row>::host_context_count),
      m_item_contexts(Layout<Row>::item_context, Layout<Row>::item_context_cols,
                      Layout<Row>::item_context_count) {}

template <typename Row>
void NarrowDims<Row>::forget() noexcept {
  m_loaded = false;
  for (Interner* i : {&m_targets, &m_items, &m_host_contexts, &m_item_contexts}) i->forget();
}

template <typename Row>
void NarrowDims<Row>::finalize() noexcept {
  for (Interner* i : {&m_targets, &m_items, &m_host_contexts, &m_item_contexts}) i->finalize();
}

template <typename Row>
util::Status NarrowDims<Row>::load(Db& db) {
  forget();
  for (Interner* i : {&m_targets, &m_items, &m_host_contexts, &m_item_contexts}) {
    if (auto st = i->load(db); !st) return st;
  }
  m_loaded = true;
  return {};
}

template <typename Row>
util::Status NarrowDims<Row>::key_refs(Db& db, const Row& row, const NarrowKeys& keys,
                                       NarrowRefs& out) {
  if (!m_loaded) {
    if (auto st = load(db); !st) return st;
  }
  auto host = m_targets.intern(db, keys.target, [&](ParamWriter& w) { w.text(row.targets); });
  if (!host) return fail(host.error());
  out.host = *host;
  auto item = m_items.intern(db, keys.item, [&](ParamWriter& w) {
    w.text(uid_suffix(row.uid, row.targets, m_scratch));
    w.text(row.type);
  });
  if (!item) return fail(item.error());
  out.item = *item;
  return {};
}

template <typename Row>
util::Status NarrowDims<Row>::context_refs(Db& db, const Row& row, const NarrowKeys& keys,
                                           NarrowRefs& out) {
  if (!m_loaded) {
    if (auto st = load(db); !st) return st;
  }
  using L = Layout<Row>;
  auto host = m_host_contexts.intern(db, keys.host_context,
                                     [&](ParamWriter& w) { L::host_fields(w, row, m_json); });
  if (!host) return fail(host.error());
  out.host_context = *host;
  auto item = m_item_contexts.intern(db, keys.item_context,
                                     [&](ParamWriter& w) { L::item_fields(w, row, m_json); });
  if (!item) return fail(item.error());
  out.item_context = *item;
  out.literal_source_uid = L::literal_source_uid(row);
  return {};
}

template class NarrowDims<model::Vulnerability>;
template class NarrowDims<model::InstalledPackage>;

}  // namespace mdesync::store::sqlite

namespace mdesync::store {

NarrowKeys narrow_keys(const model::Vulnerability& row) {
  return sqlite::keys_of(row);
}
NarrowKeys narrow_keys(const model::InstalledPackage& row) {
  return sqlite::keys_of(row);
}

}  // namespace mdesync::store
