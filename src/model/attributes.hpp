#pragma once

// The declaration of a model object's attributes (docs/adr/0097): one list per object,
// written beside its struct (model/host.hpp, ...), from which come its content hash
// (model/hash.cpp), its JSON and CSV export (model/json.cpp), the columns, binds and
// reads of both stores and the columns they add to an older store (store/declared_columns.hpp),
// the attribute tables of docs/schema.md and the source-only lists of docs/model.md (both
// generated, checked by a test).
//
// An entry names the C++ member (a member of the row, or of one of its parts such as
// `source` or `cvss_v3`), the user-facing name (the export key; under "source" for the
// source-only fields), the store column, whether the attribute enters the content hash
// and the export, and for the narrow objects (ADR 0062) which table holds the column.
// The list order is the hash order and the column order: a new attribute goes at the
// end of its group (model attributes, then source-only fields), so that the columns
// added to an existing table come last, and is declared `.appended = true`: it enters
// the hash only when it holds a value, so that the rows that have none keep the hash
// they were stored with (and are not all rewritten by the first sync after an upgrade),
// while a row that has one is written again and fills the new column. The entries are constexpr: a
// visit compiles to the same code as the hand-written field lists it replaced (no virtual call, no
// allocation).

#include <optional>
#include <string_view>
#include <tuple>
#include <type_traits>

#include "model/common.hpp"

namespace mdesync::model {

// Model attribute (top level of an exported row) or source-only field (under "source").
enum class AttrGroup { model, source };

// The table of a narrow object (ADR 0062) that holds an attribute's column: the finding
// or installed-package row itself, or one of the tables its rows share. `row` for the
// wide objects, whose attributes are all columns of their one table.
enum class Place { row, target, item, host_context, item_context };

struct AttrInfo {
  std::string_view name;    // export key
  std::string_view column;  // store column (as written in SQL: quoted when reserved)
  AttrGroup group = AttrGroup::model;
  bool hashed = true;    // enters the content hash
  bool exported = true;  // written by `mdesync export`
  Place place = Place::row;
  bool appended = false;  // declared after stores existed: hashed only when it has a value
  std::string_view doc;   // a note for docs/model.md's generated lists ("from `vmMetadata`")
};

// The store column's name as the catalog holds it: without the quotes a reserved word
// takes in SQL (`"type"` -> `type`).
constexpr std::string_view unquoted_column(const AttrInfo& info) noexcept {
  const std::string_view c = info.column;
  if (c.size() >= 2 && c.front() == '"' && c.back() == '"') return c.substr(1, c.size() - 2);
  return c;
}

// The optional part of an entry.
struct AttrFlags {
  bool hashed = true;
  bool exported = true;
  Place place = Place::row;
  bool appended = false;
  std::string_view doc = {};
};

// An attribute held by a member of the row.
template <typename Row, typename T>
struct Attr {
  using value_type = T;
  T Row::*member;
  AttrInfo info;
  constexpr const T& get(const Row& r) const noexcept { return r.*member; }
  constexpr T& get(Row& r) const noexcept { return r.*member; }
};

// An attribute held by a member of a part of the row (`source.x`, `cvss_v3.av`).
template <typename Row, typename Part, typename T>
struct PartAttr {
  using value_type = T;
  Part Row::*part;
  T Part::*member;
  AttrInfo info;
  constexpr const T& get(const Row& r) const noexcept { return (r.*part).*member; }
  constexpr T& get(Row& r) const noexcept { return (r.*part).*member; }
};

// A model attribute.
template <typename Row, typename T>
constexpr Attr<Row, T> attribute(T Row::*member, std::string_view name, std::string_view column,
                                 AttrFlags f = {}) {
  return {member,
          {name, column, AttrGroup::model, f.hashed, f.exported, f.place, f.appended, f.doc}};
}
// A model attribute in a part of the row (the CVSS metrics of a definition).
template <typename Row, typename Part, typename T>
constexpr PartAttr<Row, Part, T> attribute(Part Row::*part, T Part::*member, std::string_view name,
                                           std::string_view column, AttrFlags f = {}) {
  return {part,
          member,
          {name, column, AttrGroup::model, f.hashed, f.exported, f.place, f.appended, f.doc}};
}
// A source-only field (a member of the row's `source`).
template <typename Row, typename Part, typename T>
constexpr PartAttr<Row, Part, T> source_field(Part Row::*part, T Part::*member,
                                              std::string_view name, std::string_view column,
                                              AttrFlags f = {}) {
  return {part,
          member,
          {name, column, AttrGroup::source, f.hashed, f.exported, f.place, f.appended, f.doc}};
}

// Specialised beside each object's struct: `static constexpr auto list = std::tuple{...}`.
template <typename Row>
struct Attributes;

// Calls `visit(entry)` for each declared attribute of Row, in declaration order. An
// entry has `info` (AttrInfo), `get(row)` and `value_type`.
template <typename Row, typename Visitor>
constexpr void for_each_attribute(Visitor&& visit) {
  std::apply([&](const auto&... entry) { (visit(entry), ...); }, Attributes<Row>::list);
}

template <typename Row>
constexpr std::size_t attribute_count() {
  return std::tuple_size_v<std::remove_cvref_t<decltype(Attributes<Row>::list)>>;
}

// The enums an attribute may have, read back from their names (to_string in common.hpp).
inline std::optional<HostStatus> parse_enum(std::string_view text, HostStatus*) noexcept {
  return parse_host_status(text);
}
inline std::optional<PackageStatus> parse_enum(std::string_view text, PackageStatus*) noexcept {
  return parse_package_status(text);
}
inline std::optional<InstalledPackageStatus> parse_enum(std::string_view text,
                                                        InstalledPackageStatus*) noexcept {
  return parse_installed_package_status(text);
}
inline std::optional<VulnerabilityStatus> parse_enum(std::string_view text,
                                                     VulnerabilityStatus*) noexcept {
  return parse_vulnerability_status(text);
}
inline std::optional<StatusCategory> parse_enum(std::string_view text, StatusCategory*) noexcept {
  return parse_status_category(text);
}
// A severity outside the four levels ("Unknown" included) reads as Unknown.
inline std::optional<Severity> parse_enum(std::string_view text, Severity*) noexcept {
  return parse_severity(text).value_or(Severity::unknown);
}

}  // namespace mdesync::model
