#pragma once

// The store columns of each object as its declaration names them (model/attributes.hpp,
// docs/adr/0097), for both backends: the column lists in bind and read order, the SQL
// type a C++ type implies, and the columns a store made by an older mdesync lacks.

#include <array>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "model/model.hpp"

namespace mdesync::store {

// The SQL type of a column holding a C++ value. A value that is never null has NOT NULL
// and, for the column added to an existing table, the default its existing rows get.
struct ColumnType {
  std::string_view sqlite;
  std::string_view postgres;
  bool not_null = false;
  std::string_view fill;  // DEFAULT of an added NOT NULL column
};

template <typename T>
constexpr ColumnType column_type() {
  using namespace mdesync::model;
  if constexpr (std::is_enum_v<T> || std::is_same_v<T, std::string>) {
    return {"TEXT", "text", true, "''"};
  } else if constexpr (std::is_same_v<T, Strings> ||
                       std::is_same_v<T, std::vector<PackageVersion>>) {
    return {"TEXT", "text", true, "'[]'"};  // a JSON array
  } else if constexpr (std::is_same_v<T, OptBool>) {
    return {"INTEGER", "boolean", false, {}};
  } else if constexpr (std::is_same_v<T, OptInt>) {
    return {"INTEGER", "bigint", false, {}};
  } else if constexpr (std::is_same_v<T, OptDouble>) {
    return {"REAL", "double precision", false, {}};
  } else {
    static_assert(std::is_same_v<T, OptString> || std::is_same_v<T, OptTime> ||
                      std::is_same_v<T, std::optional<Strings>>,
                  "no column type for this attribute type");
    return {"TEXT", "text", false, {}};  // text, an ISO 8601 time or a JSON array
  }
}

template <typename Row>
constexpr std::size_t column_count(model::AttrGroup group) {
  std::size_t n = 0;
  model::for_each_attribute<Row>([&](const auto& a) {
    if (a.info.group == group) ++n;
  });
  return n;
}

// The columns of one group (model attributes or source-only fields), in declaration
// order: the bind and read order of Table<Row> (columns.hpp).
template <typename Row, model::AttrGroup Group>
constexpr auto declared_columns() {
  std::array<std::string_view, column_count<Row>(Group)> out{};
  std::size_t i = 0;
  model::for_each_attribute<Row>([&](const auto& a) {
    if (a.info.group == Group) out[i++] = a.info.column;
  });
  return out;
}

// A declared column of a wide object's table (host, package, vulnerability_definition).
struct DeclaredColumn {
  std::string_view table;
  std::string_view name;  // unquoted
  ColumnType type;
};

// Every declared column of the wide objects' tables, table by table in column order.
std::vector<DeclaredColumn> wide_columns();

// The ALTER TABLE that adds `column` to a store made before it was declared (the frozen
// migrations create only the columns of their day). `postgres` picks the dialect.
std::string add_column_sql(const DeclaredColumn& column, bool postgres);

// The declared columns of `table` that `existing` (its column names) lacks, in order.
std::vector<DeclaredColumn> missing_columns(std::string_view table,
                                            const std::vector<std::string>& existing);

// The names of those columns (read_column_list's `absent`).
std::vector<std::string> missing_column_names(std::string_view table,
                                              const std::vector<std::string>& existing);

// The wide objects' tables, in the order their missing columns are added.
inline constexpr std::string_view k_wide_tables[] = {"host", "package", "vulnerability_definition"};

}  // namespace mdesync::store
