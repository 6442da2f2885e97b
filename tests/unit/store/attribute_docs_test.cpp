// The docs made from the declarations (model/attributes.hpp): docs/schema.md's attribute
// tables and docs/model.md's lists of source-only fields. The text between each pair of
// markers is what this file makes of the declarations, so that a declared attribute the
// docs lack (or one they keep after it went) fails. MDESYNC_UPDATE_DOCS=1 rewrites the
// text instead (then review and commit the file).

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

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
    const std::string_view column = model::unquoted_column(i);
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

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Checks (or, with MDESYNC_UPDATE_DOCS=1, rewrites) the text of `doc_path` between
// `begin` and `end`, markers included, against `expected`.
void expect_generated(const std::string& doc_path, std::string_view begin_marker,
                      std::string_view end_marker, const std::string& expected) {
  const std::string path = std::string(MDESYNC_SOURCE_DIR) + "/" + doc_path;
  const std::string doc = read_file(path);
  const auto begin = doc.find(begin_marker);
  const auto end = doc.find(end_marker);
  ASSERT_NE(begin, std::string::npos) << doc_path << " lacks the marker " << begin_marker;
  ASSERT_NE(end, std::string::npos) << doc_path << " lacks the marker " << end_marker;
  const std::string current = doc.substr(begin, end + end_marker.size() - begin);
  const char* update = std::getenv("MDESYNC_UPDATE_DOCS");
  if (update != nullptr && std::string(update) == "1" && current != expected) {
    std::ofstream(path, std::ios::binary | std::ios::trunc)
        << doc.substr(0, begin) << expected << doc.substr(end + end_marker.size());
    GTEST_SKIP() << "rewrote the generated text of " << path;
  }
  EXPECT_EQ(current, expected) << doc_path
                               << "'s generated text disagrees with the declarations: run "
                                  "this test with MDESYNC_UPDATE_DOCS=1 and commit the file";
}

TEST(AttributeDocs, SchemaMdListsTheDeclaredAttributes) {
  const std::string expected = attribute_tables();
  expect_generated("docs/schema.md", k_begin, k_end, expected);
}

// Words joined into lines of at most 90 characters (the docs' width).
std::string wrapped(const std::vector<std::string>& words) {
  std::string out;
  std::size_t line = 0;
  for (const auto& w : words) {
    if (line > 0 && line + 1 + w.size() > 90) {
      out += "\n";
      line = 0;
    } else if (line > 0) {
      out += ' ';
      ++line;
    }
    out += w;
    line += w.size();
  }
  return out + "\n";
}

// "Source-only: `a`, `b` (note) and `c`." for the exported source-only fields of Row, in
// declaration order, each with its declared note.
template <typename Row>
std::string source_only_list() {
  std::vector<std::string> items;
  model::for_each_attribute<Row>([&](const auto& a) {
    if (a.info.group != model::AttrGroup::source || !a.info.exported) return;
    items.push_back(a.info.doc.empty() ? fmt::format("`{}`", a.info.name)
                                       : fmt::format("`{}` ({})", a.info.name, a.info.doc));
  });
  std::string text = "Source-only:";
  for (std::size_t i = 0; i < items.size(); ++i) {
    text += i == 0 ? " " : (i + 1 == items.size() ? " and " : ", ");
    text += items[i];
  }
  text += ".";
  std::vector<std::string> words;
  std::istringstream in(text);
  for (std::string w; in >> w;) words.push_back(w);
  return wrapped(words);
}

std::string source_begin(std::string_view object) {
  return fmt::format(
      "<!-- source-only fields of {}: generated from its declaration by "
      "tests/unit/store/attribute_docs_test.cpp (MDESYNC_UPDATE_DOCS=1 rewrites them) -->\n",
      object);
}
std::string source_end(std::string_view object) {
  return fmt::format("<!-- end of the source-only fields of {} -->\n", object);
}

template <typename Row>
void expect_source_only(std::string_view object) {
  SCOPED_TRACE(object);
  expect_generated("docs/model.md", source_begin(object), source_end(object),
                   source_begin(object) + source_only_list<Row>() + source_end(object));
}

// docs/model.md lists each object's exported source-only fields as they are declared,
// with their notes: a field declared in src/model/*.hpp is documented without an edit
// of the docs by hand.
TEST(AttributeDocs, ModelMdListsTheDeclaredSourceOnlyFields) {
  expect_source_only<model::Host>("host");
  expect_source_only<model::Package>("package");
  expect_source_only<model::InstalledPackage>("installed_package");
  expect_source_only<model::Vulnerability>("vulnerability");
  expect_source_only<model::VulnerabilityDefinition>("vulnerability_definition");
}

// docs/model.md describes every exported attribute: each declared export name appears
// in it (in backquotes), so that a new attribute is not left out of the prose.
TEST(AttributeDocs, ModelMdNamesEveryExportedAttribute) {
  const std::string doc = read_file(std::string(MDESYNC_SOURCE_DIR) + "/docs/model.md");
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
