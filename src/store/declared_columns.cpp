#include "store/declared_columns.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace mdesync::store {
namespace {

template <typename Row>
void add_columns(std::string_view table, std::vector<DeclaredColumn>& out) {
  model::for_each_attribute<Row>([&](const auto& a) {
    using T = typename std::remove_cvref_t<decltype(a)>::value_type;
    out.push_back({table, model::unquoted_column(a.info), column_type<T>()});
  });
}

}  // namespace

std::vector<DeclaredColumn> wide_columns() {
  std::vector<DeclaredColumn> out;
  add_columns<model::Host>("host", out);
  add_columns<model::Package>("package", out);
  add_columns<model::VulnerabilityDefinition>("vulnerability_definition", out);
  return out;
}

std::string add_column_sql(const DeclaredColumn& column, bool postgres) {
  const auto& t = column.type;
  return fmt::format("ALTER TABLE {} ADD COLUMN \"{}\" {}{}", column.table, column.name,
                     postgres ? t.postgres : t.sqlite,
                     t.not_null ? fmt::format(" NOT NULL DEFAULT {}", t.fill) : std::string());
}

std::vector<DeclaredColumn> missing_columns(std::string_view table,
                                            const std::vector<std::string>& existing) {
  std::vector<DeclaredColumn> out;
  for (const auto& c : wide_columns()) {
    if (c.table == table && std::find(existing.begin(), existing.end(), c.name) == existing.end()) {
      out.push_back(c);
    }
  }
  return out;
}

std::vector<std::string> missing_column_names(std::string_view table,
                                              const std::vector<std::string>& existing) {
  std::vector<std::string> out;
  for (const auto& c : missing_columns(table, existing)) out.emplace_back(c.name);
  return out;
}

}  // namespace mdesync::store
