#pragma once

// What the narrow objects (ADR 0062) keep apart from their rows, shared by the SQLite
// store's NarrowDims and the PostgreSQL store's interning (ADR 0070): the interned
// tables and their columns, the fields of a model row that fill them, and the content
// key of an interned row (the same whether it comes from a model row or from a table).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <xxhash.h>

#include "model/installed_package.hpp"
#include "model/vulnerability.hpp"
#include "store/codec.hpp"
#include "store/store.hpp"

namespace mdesync::store::narrow {

using OptText = std::optional<std::string_view>;

inline OptText view_of(const model::OptString& s) {
  return s ? OptText(*s) : std::nullopt;
}
inline std::optional<std::int64_t> int_of(const model::OptBool& b) {
  return b ? std::optional<std::int64_t>(*b ? 1 : 0) : std::nullopt;
}

// Appends each field to a key string that tells NULL from empty and never runs two
// fields together: the content of a row, the same whether it comes from a model row or
// from the table.
class KeyWriter final {
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

inline std::string_view json_of(const model::Strings& list, std::string& out) {
  out.clear();
  if (list.empty()) return "[]";
  append_json_list(out, list);
  return out;
}

inline OptText time_of(const model::OptTime& t, std::string& out) {
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

// The XXH3-128 digest of a content key (KeyWriter), as narrow_keys() computes them.
inline NarrowKeys::Digest digest_of(std::string_view key) noexcept {
  const XXH128_hash_t h = XXH3_128bits(key.data(), key.size());
  return {h.low64, h.high64};
}

// The part of `uid` after `targets`, or char(1) + the whole uid when it does not start
// with them (schema v4).
inline std::string_view uid_suffix(std::string_view uid, std::string_view targets,
                                   std::string& scratch) {
  if (uid.substr(0, targets.size()) == targets) return uid.substr(targets.size());
  scratch.assign(1, '\1');
  scratch += uid;
  return scratch;
}

// The uid whose uid_suffix under `targets` is `suffix` (its inverse).
inline std::string uid_of(std::string_view targets, std::string_view suffix) {
  if (!suffix.empty() && suffix.front() == '\1') return std::string(suffix.substr(1));
  std::string uid(targets);
  uid += suffix;
  return uid;
}

}  // namespace mdesync::store::narrow
