// docs/schema.md's attribute tables against the declarations (model/attributes.hpp): the
// text between its "attribute tables" markers is what attribute_tables() makes of them,
// so that a declared attribute the docs lack (or one they keep after it went) fails.
// MDESYNC_UPDATE_DOCS=1 rewrites the text instead (then review and commit the file).

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <type_traits>

#include <fmt/format.h>

#include "model/model.hpp"
#include "store/declared_columns.hpp"

namespace mdesync::store {
namespace {

constexpr std::string_view k_begin =
    "<!-- attribute tables: generated from the declarations in src/model/*.hpp by "
    "tests/unit/store/attribute_docs_test.cpp (MDESYNC_UPDATE_DOCS=1 rewrites them) -->\n";
constexpr std::string_view k_end = "<!-- end of the attribute tables -->\n";

std::string_view place_table(std::string_view object, model::Place place) {
  switch (place) {
    case model::Place::row:
      return object == "vulnerability" ? "vulnerability_finding" : "installed_package_entry";
    case model::Place::target:
      return object == "vulnerability" ? "vulnerability_target" : "installed_package_target";
    case model::Place::item:
      return object == "vulnerability" ? "vulnerability_item" : "installed_package_item";
    case model::Place::host_context:
      return object == "vulnerability" ? "vulnerability_host_context"
                                       : "installed_package_host_context";
    case model::Place::item_context:
      return object == "vulnerability" ? "vulnerability_item_context"
                                       : "installed_package_item_context";
  }
  return {};
}

std::string type_text(std::string_view type, const ColumnType& t) {
  return fmt::format("{}{}", type, t.not_null ? " NOT NULL" : "");
}

template <typename Row>
std::string table_of(std::string_view object, std::string_view intro) {
  constexpr bool narrow =
      std::is_same_v<Row, model::Vulnerability> || std::is_same_v<Row, model::InstalledPackage>;
  std::string out = fmt::format("### `{}`\n\n{}\n\n", object, intro);
  out += narrow ? "| Attribute | Column | Held by | Notes |\n|---|---|---|---|\n"
                : "| Attribute | Column | SQLite | PostgreSQL | Notes |\n|---|---|---|---|---|\n";
  model::for_each_attribute<Row>([&](const auto& a) {
    using T = typename std::remove_cvref_t<decltype(a)>::value_type;
    const auto& i = a.info;
    const std::string name =
        fmt::format("`{}{}`", i.group == model::AttrGroup::source ? "source." : "", i.name);
    std::string notes;
    if (!i.hashed) notes += "not in the content hash";
    if (i.hashed && i.appended) notes += "in the content hash when set";
    if (!i.exported) notes += std::string(notes.empty() ? "" : "; ") + "not exported";
    std::string column(i.column);
    if (column.front() == '"') column = column.substr(1, column.size() - 2);
    if constexpr (narrow) {
      out += fmt::format("| {} | `{}` | `{}` | {} |\n", name, column, place_table(object, i.place),
                         notes);
    } else {
      constexpr ColumnType t = column_type<T>();
      out += fmt::format("| {} | `{}` | {} | {} | {} |\n", name, column, type_text(t.sqlite, t),
                         type_text(t.postgres, t), notes);
    }
  });
  return out + "\n";
}

std::string attribute_tables() {
  std::string out(k_begin);
  out += "\n";
  out += table_of<model::Host>("host", "A table.");
  out +=
      table_of<model::Package>("package",
                               "A table; `versions` is a JSON array of `{version, installations, "
                               "vulnerabilities}`.");
  out += table_of<model::VulnerabilityDefinition>("vulnerability_definition", "A table.");
  out += table_of<model::Vulnerability>(
      "vulnerability",
      "A view over the narrow tables (\"Narrow tables\" above); times are INTEGER microseconds "
      "in `vulnerability_finding` and ISO 8601 text in the view.");
  out += table_of<model::InstalledPackage>(
      "installed_package",
      "A view over the narrow tables (\"Narrow tables\" above); `first_seen` is INTEGER "
      "microseconds in `installed_package_entry` and ISO 8601 text in the view.");
  return out + std::string(k_end);
}

TEST(AttributeDocs, SchemaMdListsTheDeclaredAttributes) {
  const std::string path = std::string(MDESYNC_SOURCE_DIR) + "/docs/schema.md";
  std::string doc;
  {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    doc = text.str();
  }
  const auto begin = doc.find(k_begin);
  const auto end = doc.find(k_end);
  ASSERT_NE(begin, std::string::npos) << "docs/schema.md lacks the attribute tables marker";
  ASSERT_NE(end, std::string::npos) << "docs/schema.md lacks the end marker";
  const std::string current = doc.substr(begin, end + k_end.size() - begin);
  const std::string expected = attribute_tables();
  const char* update = std::getenv("MDESYNC_UPDATE_DOCS");
  if (update != nullptr && std::string(update) == "1" && current != expected) {
    std::ofstream(path, std::ios::binary | std::ios::trunc)
        << doc.substr(0, begin) << expected << doc.substr(end + k_end.size());
    GTEST_SKIP() << "rewrote the attribute tables of " << path;
  }
  EXPECT_EQ(current, expected)
      << "docs/schema.md's attribute tables disagree with the declarations: run this test "
         "with MDESYNC_UPDATE_DOCS=1 and commit the file";
}

// docs/model.md describes every exported attribute: each declared export name appears
// in it (in backquotes), so that a new attribute is not left out of the prose.
TEST(AttributeDocs, ModelMdNamesEveryExportedAttribute) {
  std::ifstream in(std::string(MDESYNC_SOURCE_DIR) + "/docs/model.md");
  std::stringstream text;
  text << in.rdbuf();
  const std::string doc = text.str();
  auto check = [&](auto tag) {
    using Row = typename decltype(tag)::type;
    model::for_each_attribute<Row>([&](const auto& a) {
      if (!a.info.exported) return;
      EXPECT_NE(doc.find(fmt::format("`{}`", a.info.name)), std::string::npos)
          << "docs/model.md does not name " << a.info.name;
    });
  };
  check(std::type_identity<model::Host>{});
  check(std::type_identity<model::Package>{});
  check(std::type_identity<model::InstalledPackage>{});
  check(std::type_identity<model::Vulnerability>{});
  check(std::type_identity<model::VulnerabilityDefinition>{});
}

}  // namespace
}  // namespace mdesync::store
