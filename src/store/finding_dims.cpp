#include "store/finding_dims.hpp"

#include <cstring>
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
// fields together: the content of a context row, the same whether it comes from a
// model row or from the table.
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

// Reads each field from the next column of a stored context row (column 0 is its id).
template <typename Out>
class ColumnReader {
 public:
  ColumnReader(const Statement& st, Out& out) : m_st(st), m_out(out) {}
  void text() {
    const int c = m_column++;
    m_out.text(m_st.is_null(c) ? std::nullopt : OptText(m_st.text(c)));
  }
  void real() {
    const int c = m_column++;
    m_out.real(m_st.is_null(c) ? std::nullopt : std::optional<double>(m_st.real(c)));
  }
  void integer() {
    const int c = m_column++;
    m_out.integer(m_st.is_null(c) ? std::nullopt : std::optional<std::int64_t>(m_st.int64(c)));
  }

 private:
  const Statement& m_st;
  Out& m_out;
  int m_column = 1;
};

// The fields of each context, in column order (schema v4). `json` is the encoded host
// names; `rest` the source_uid after targets (or nothing).
template <typename W>
void host_context_fields(W& w, const model::Vulnerability& v, std::string_view json) {
  const auto& s = v.source;
  w.text(json);
  w.text(view_of(s.rbac_group_id));
  w.text(view_of(s.rbac_group_name));
  w.text(view_of(s.os_platform));
  w.text(view_of(s.os_version));
  w.text(view_of(s.os_architecture));
  w.integer(int_of(s.is_onboarded));
}
template <typename R>
void host_context_columns(R& r) {
  for (int i = 0; i < 6; ++i) r.text();
  r.integer();
}

template <typename W>
void item_context_fields(W& w, const model::Vulnerability& v, OptText rest) {
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
  w.text(rest);
}
template <typename R>
void item_context_columns(R& r) {
  r.text();
  r.text();
  r.real();
  for (int i = 0; i < 5; ++i) r.text();
  r.integer();
  for (int i = 0; i < 4; ++i) r.text();
}

constexpr std::string_view k_host_context_insert =
    "INSERT INTO vulnerability_host_context (hostnames, rbac_group_id, rbac_group_name, "
    "os_platform, os_version, os_architecture, is_onboarded) VALUES (?, ?, ?, ?, ?, ?, ?)";
constexpr std::string_view k_item_context_insert =
    "INSERT INTO vulnerability_item_context (source_severity, results, cvss_score, "
    "exploitability_level, recommendation_reference, recommended_security_update, "
    "recommended_security_update_id, recommended_security_update_url, "
    "security_update_available, software_vendor, software_name, software_version, "
    "source_uid_rest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

// source_uid after targets, when it starts with them.
OptText source_uid_rest(const model::Vulnerability& v) {
  if (!v.source_uid) return std::nullopt;
  const std::string_view id = *v.source_uid;
  if (id.substr(0, v.targets.size()) != v.targets) return std::nullopt;
  return id.substr(v.targets.size());
}

}  // namespace

std::string_view uid_suffix(const model::Vulnerability& v, std::string& scratch) {
  const std::string_view uid = v.uid;
  if (uid.substr(0, v.targets.size()) == v.targets) return uid.substr(v.targets.size());
  scratch.assign(1, '\1');
  scratch += uid;
  return scratch;
}

void FindingDims::forget() noexcept {
  m_loaded = false;
  m_targets.clear();
  m_items.clear();
  m_host_contexts.clear();
  m_item_contexts.clear();
}

util::Status FindingDims::load(Db& db) {
  forget();
  auto read = [&](std::string_view sql, auto&& each) -> util::Status {
    auto st = db.prepare(sql);
    if (!st) return fail(st.error());
    for (;;) {
      auto more = st->step();
      if (!more) return fail(more.error());
      if (!*more) return {};
      each(*st);
    }
  };
  if (auto st = read("SELECT id, targets FROM vulnerability_target",
                     [&](const Statement& q) { m_targets.emplace(q.text(1), q.int64(0)); });
      !st) {
    return st;
  }
  if (auto st = read("SELECT id, uid_suffix, type FROM vulnerability_item",
                     [&](const Statement& q) {
                       m_items.emplace(q.text(1), std::pair{q.int64(0), std::string(q.text(2))});
                     });
      !st) {
    return st;
  }
  if (auto st = read("SELECT id, hostnames, rbac_group_id, rbac_group_name, os_platform, "
                     "os_version, os_architecture, is_onboarded FROM vulnerability_host_context",
                     [&](const Statement& q) {
                       KeyWriter w(m_key);
                       ColumnReader r(q, w);
                       host_context_columns(r);
                       m_host_contexts.emplace(m_key, q.int64(0));
                     });
      !st) {
    return st;
  }
  if (auto st = read("SELECT id, source_severity, results, cvss_score, exploitability_level, "
                     "recommendation_reference, recommended_security_update, "
                     "recommended_security_update_id, recommended_security_update_url, "
                     "security_update_available, software_vendor, software_name, "
                     "software_version, source_uid_rest FROM vulnerability_item_context",
                     [&](const Statement& q) {
                       KeyWriter w(m_key);
                       ColumnReader r(q, w);
                       item_context_columns(r);
                       m_item_contexts.emplace(m_key, q.int64(0));
                     });
      !st) {
    return st;
  }
  m_loaded = true;
  return {};
}

util::Result<std::int64_t> FindingDims::insert(Db& db, Statement& st, std::string_view sql,
                                               const auto& bind) {
  if (!st.valid()) {
    auto p = db.prepare(sql);
    if (!p) return fail(p.error());
    st = std::move(*p);
  }
  bind(st);
  if (auto r = st.run(); !r) {
    st.reset();
    return fail(r.error());
  }
  return db.last_insert_rowid();
}

util::Status FindingDims::key_refs(Db& db, const model::Vulnerability& v, FindingRefs& out) {
  if (!m_loaded) {
    if (auto st = load(db); !st) return st;
  }
  if (auto it = m_targets.find(std::string_view(v.targets)); it != m_targets.end()) {
    out.host = it->second;
  } else {
    auto id = insert(db, m_insert_target, "INSERT INTO vulnerability_target (targets) VALUES (?)",
                     [&](Statement& st) { st.bind(1, std::string_view(v.targets)); });
    if (!id) return fail(id.error());
    m_targets.emplace(v.targets, *id);
    out.host = *id;
  }
  std::string scratch;
  const std::string_view suffix = uid_suffix(v, scratch);
  if (auto it = m_items.find(suffix); it != m_items.end()) {
    auto& [id, type] = it->second;
    out.item = id;
    if (type != v.type) {
      auto done =
          insert(db, m_update_item_type, "UPDATE vulnerability_item SET type = ?2 WHERE id = ?1",
                 [&](Statement& st) {
                   st.bind(1, id);
                   st.bind(2, std::string_view(v.type));
                 });
      if (!done) return fail(done.error());
      type = v.type;
    }
  } else {
    auto id =
        insert(db, m_insert_item, "INSERT INTO vulnerability_item (uid_suffix, type) VALUES (?, ?)",
               [&](Statement& st) {
                 st.bind(1, suffix);
                 st.bind(2, std::string_view(v.type));
               });
    if (!id) return fail(id.error());
    m_items.emplace(suffix, std::pair{*id, v.type});
    out.item = *id;
  }
  return {};
}

util::Status FindingDims::context_refs(Db& db, const model::Vulnerability& v, FindingRefs& out) {
  if (!m_loaded) {
    if (auto st = load(db); !st) return st;
  }
  m_json.clear();
  if (v.hostnames.empty()) {
    m_json = "[]";
  } else {
    append_json_list(m_json, v.hostnames);
  }
  {
    KeyWriter w(m_key);
    host_context_fields(w, v, m_json);
  }
  if (auto it = m_host_contexts.find(std::string_view(m_key)); it != m_host_contexts.end()) {
    out.host_context = it->second;
  } else {
    auto id = insert(db, m_insert_host_context, k_host_context_insert, [&](Statement& st) {
      ParamWriter p(st);
      host_context_fields(p, v, m_json);
    });
    if (!id) return fail(id.error());
    m_host_contexts.emplace(m_key, *id);
    out.host_context = *id;
  }
  const OptText rest = source_uid_rest(v);
  out.literal_source_uid = v.source_uid.has_value() && !rest;
  {
    KeyWriter w(m_key);
    item_context_fields(w, v, rest);
  }
  if (auto it = m_item_contexts.find(std::string_view(m_key)); it != m_item_contexts.end()) {
    out.item_context = it->second;
  } else {
    auto id = insert(db, m_insert_item_context, k_item_context_insert, [&](Statement& st) {
      ParamWriter p(st);
      item_context_fields(p, v, rest);
    });
    if (!id) return fail(id.error());
    m_item_contexts.emplace(m_key, *id);
    out.item_context = *id;
  }
  return {};
}

}  // namespace mdesync::store::sqlite
