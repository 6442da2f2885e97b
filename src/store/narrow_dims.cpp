#include "store/narrow_dims.hpp"

#include <fmt/format.h>
#include <xxhash.h>

#include <optional>

#include "store/codec.hpp"

namespace mdesync::store::sqlite {

using util::fail;

namespace {

using OptText = std::optional<std::string_view>;

OptText view_of(const model::OptString& s) {
  return s ? OptText(*s) : std::nullopt;
}
std::optional<std::int64_t> int_of(const model::OptBool& b) {
  return b ? std::optional<std::int64_t>(*b ? 1 : 0) : std::nullopt;
}

// Appends each field to a key string that tells NULL from empty and never runs two
// fields together: the content of a row, the same whether it comes from a model row or
// from the table.
class KeyWriter {
 public:
  explicit KeyWriter(std::string& out) : m_out(out) { m_out.clear(); }
  void text(OptText v) {
    if (!v) {
      m_out += '\0';
      return;
    }
    m_out += '\1';
    const auto n = static_cast<std::uint32_t>(v->size());
    m_out.append(reinterpret_cast<const char*>(&n), sizeof n);
    m_out += *v;
  }
  void real(std::optional<double> v) {
    if (!v) {
      m_out += '\0';
      return;
    }
    m_out += '\2';
    m_out.append(reinterpret_cast<const char*>(&*v), sizeof(double));
  }
  void integer(std::optional<std::int64_t> v) {
    if (!v) {
      m_out += '\0';
      return;
    }
    m_out += '\3';
    m_out.append(reinterpret_cast<const char*>(&*v), sizeof(std::int64_t));
  }
  // A stored column, by the type SQLite reports for it.
  void column(const Statement& st, int c) {
    switch (st.type(c)) {
      case SQLITE_NULL:
        m_out += '\0';
        break;
      case SQLITE_INTEGER:
        integer(st.int64(c));
        break;
      case SQLITE_FLOAT:
        real(st.real(c));
        break;
      default:
        text(st.text(c));
        break;
    }
  }

 private:
  std::string& m_out;
};

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

std::string_view json_of(const model::Strings& list, std::string& out) {
  out.clear();
  if (list.empty()) return "[]";
  append_json_list(out, list);
  return out;
}

OptText time_of(const model::OptTime& t, std::string& out) {
  if (!t) return std::nullopt;
  out.clear();
  append_time(out, *t);
  return out;
}

// What each family stores where (schema v4 and v5): table names, context columns in
// order, and the fields of a model row that fill them.
template <typename Row>
struct Layout;

template <>
struct Layout<model::Vulnerability> {
  static constexpr std::string_view target = "vulnerability_target";
  static constexpr std::string_view item = "vulnerability_item";
  static constexpr std::string_view host_context = "vulnerability_host_context";
  static constexpr std::string_view host_context_cols =
      "hostnames, rbac_group_id, rbac_group_name, os_platform, os_version, os_architecture, "
      "is_onboarded";
  static constexpr int host_context_count = 7;
  static constexpr std::string_view item_context = "vulnerability_item_context";
  static constexpr std::string_view item_context_cols =
      "source_severity, results, cvss_score, exploitability_level, recommendation_reference, "
      "recommended_security_update, recommended_security_update_id, "
      "recommended_security_update_url, security_update_available, software_vendor, "
      "software_name, software_version, source_uid_rest";
  static constexpr int item_context_count = 13;

  // source_uid after targets, when it starts with them.
  static OptText source_uid_rest(const model::Vulnerability& v) {
    if (!v.source_uid) return std::nullopt;
    const std::string_view id = *v.source_uid;
    if (id.substr(0, v.targets.size()) != v.targets) return std::nullopt;
    return id.substr(v.targets.size());
  }
  template <typename W>
  static void host_fields(W& w, const model::Vulnerability& v, std::string (&json)[4]) {
    const auto& s = v.source;
    w.text(json_of(v.hostnames, json[0]));
    w.text(view_of(s.rbac_group_id));
    w.text(view_of(s.rbac_group_name));
    w.text(view_of(s.os_platform));
    w.text(view_of(s.os_version));
    w.text(view_of(s.os_architecture));
    w.integer(int_of(s.is_onboarded));
  }
  template <typename W>
  static void item_fields(W& w, const model::Vulnerability& v, std::string (&)[4]) {
    const auto& s = v.source;
    w.text(view_of(v.source_severity));
    w.text(view_of(v.results));
    w.real(s.cvss_score);
    w.text(view_of(s.exploitability_level));
    w.text(view_of(s.recommendation_reference));
    w.text(view_of(s.recommended_security_update));
    w.text(view_of(s.recommended_security_update_id));
    w.text(view_of(s.recommended_security_update_url));
    w.integer(int_of(s.security_update_available));
    w.text(view_of(s.software_vendor));
    w.text(view_of(s.software_name));
    w.text(view_of(s.software_version));
    w.text(source_uid_rest(v));
  }
  static bool literal_source_uid(const model::Vulnerability& v) {
    return v.source_uid.has_value() && !source_uid_rest(v);
  }
};

template <>
struct Layout<model::InstalledPackage> {
  static constexpr std::string_view target = "installed_package_target";
  static constexpr std::string_view item = "installed_package_item";
  static constexpr std::string_view host_context = "installed_package_host_context";
  static constexpr std::string_view host_context_cols =
      "dns_names, os, rbac_group_id, rbac_group_name";
  static constexpr int host_context_count = 4;
  static constexpr std::string_view item_context = "installed_package_item_context";
  static constexpr std::string_view item_context_cols =
      "name, end_of_support_status, end_of_support_date, disk_paths, registry_paths, "
      "number_of_weaknesses";
  static constexpr int item_context_count = 6;

  template <typename W>
  static void host_fields(W& w, const model::InstalledPackage& r, std::string (&json)[4]) {
    w.text(json_of(r.dns_names, json[0]));
    w.text(view_of(r.os));
    w.text(view_of(r.source.rbac_group_id));
    w.text(view_of(r.source.rbac_group_name));
  }
  template <typename W>
  static void item_fields(W& w, const model::InstalledPackage& r, std::string (&json)[4]) {
    w.text(view_of(r.name));
    w.text(view_of(r.end_of_support_status));
    w.text(time_of(r.end_of_support_date, json[1]));
    w.text(json_of(r.source.disk_paths, json[2]));
    w.text(json_of(r.source.registry_paths, json[3]));
    w.integer(r.source.number_of_weaknesses);
  }
  static bool literal_source_uid(const model::InstalledPackage&) { return false; }
};

// The part of `uid` after `targets`, or char(1) + the whole uid when it does not start
// with them (schema v4).
std::string_view uid_suffix(std::string_view uid, std::string_view targets, std::string& scratch) {
  if (uid.substr(0, targets.size()) == targets) return uid.substr(targets.size());
  scratch.assign(1, '\1');
  scratch += uid;
  return scratch;
}

// The XXH3-128 digest of a content key.
NarrowKeys::Digest digest_of(std::string_view key) noexcept {
  const XXH128_hash_t h = XXH3_128bits(key.data(), key.size());
  return {h.low64, h.high64};
}

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

std::int64_t Interner::Ids::find(const Digest& d) const noexcept {
  if (m_slots.empty()) return 0;
  const std::size_t mask = m_slots.size() - 1;
  for (std::size_t i = d.low & mask;; i = (i + 1) & mask) {
    const Slot& s = m_slots[i];
    if (s.id == 0) return 0;
    if (s.digest == d) return s.id;
  }
}

void Interner::Ids::insert(const Digest& d, std::int64_t id) {
  if (2 * (m_size + 1) > m_slots.size()) {
    std::vector<Slot> old = std::move(m_slots);
    m_slots.assign(std::max<std::size_t>(1024, 2 * old.size()), Slot{});
    m_size = 0;
    for (const Slot& s : old) {
      if (s.id != 0) insert(s.digest, s.id);
    }
  }
  const std::size_t mask = m_slots.size() - 1;
  for (std::size_t i = d.low & mask;; i = (i + 1) & mask) {
    Slot& s = m_slots[i];
    if (s.id == 0) {
      s = Slot{d, id};
      ++m_size;
      return;
    }
    if (s.digest == d) return;  // the first id stays, as a map's emplace does
  }
}

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
    for (int c = 1; c <= m_count; ++c) w.column(*st, c);
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
