// The example queries of docs/schema.md run against a store as the docs print them, and
// each one that says "uses `INDEX`" does use that index (EXPLAIN QUERY PLAN): the views
// over the narrow tables must not turn an indexed question into a scan.

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "store/open.hpp"
#include "store/store.hpp"
#include "temp_dir.hpp"
#include "util/time.hpp"

namespace mdesync::store {
namespace {

namespace fs = std::filesystem;

struct Example {
  std::string index;  // empty when the text names none
  std::string sql;
};

// Every ```sql block of schema.md's "Example queries", with the index named by the
// paragraph before it.
std::vector<Example> examples() {
  std::ifstream in(std::string(MDESYNC_SOURCE_DIR) + "/docs/schema.md");
  std::stringstream text;
  text << in.rdbuf();
  const std::string doc = text.str();
  const auto start = doc.find("## Example queries");
  EXPECT_NE(start, std::string::npos);
  std::vector<Example> out;
  const std::regex uses("uses `([a-z_]+)`");
  std::size_t at = start;
  std::size_t prose = start;
  for (;;) {
    const auto open = doc.find("```sql\n", at);
    if (open == std::string::npos) break;
    const auto close = doc.find("```", open + 7);
    Example e;
    const std::string before = doc.substr(prose, open - prose);
    std::smatch m;
    if (std::regex_search(before, m, uses)) e.index = m[1];
    e.sql = doc.substr(open + 7, close - open - 7);
    out.push_back(e);
    at = prose = close + 3;
  }
  return out;
}

std::vector<std::string> run(sqlite3* db, const std::string& sql, std::string& error) {
  std::vector<std::string> rows;
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
    error = sqlite3_errmsg(db);
    return rows;
  }
  int rc = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const int last = sqlite3_column_count(st) - 1;
    const auto* text = sqlite3_column_text(st, last);
    rows.emplace_back(text != nullptr ? reinterpret_cast<const char*>(text) : "");
  }
  if (rc != SQLITE_DONE) error = sqlite3_errmsg(db);
  sqlite3_finalize(st);
  return rows;
}

TEST(SchemaDocs, ExampleQueriesRunAndUseTheIndexTheyName) {
  const ::testing_support::TempDir tmp("mdesync-schema-docs");
  const fs::path& dir = tmp.path();
  const std::string path = (dir / "store.db").string();
  {
    // A store with a row in each view, so that the views are exercised, not just planned.
    auto s = open_store("sqlite:" + path).value();
    model::Vulnerability v;
    v.uid = "dev1_acme_viewer_1.0_CVE-2025-40001";
    v.type = "CVE-2025-40001";
    v.targets = "dev1";
    v.severity = model::Severity::critical;
    model::InstalledPackage p;
    p.uid = "dev1_mozilla-_-firefox";
    p.type = "mozilla-_-firefox";
    p.targets = "dev1";
    p.version = {"128.0"};
    const WriteContext ctx{1, util::parse_timestamp("2025-06-02T00:00:00Z").value(), false, false};
    ASSERT_TRUE(s->upsert(ctx, std::span<const model::Vulnerability>(&v, 1)));
    ASSERT_TRUE(s->upsert(ctx, std::span<const model::InstalledPackage>(&p, 1)));
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  const auto all = examples();
  EXPECT_GE(all.size(), 8U);
  int checked = 0;
  for (const auto& e : all) {
    SCOPED_TRACE(e.sql);
    std::string error;
    run(db, e.sql, error);
    EXPECT_EQ(error, "");
    if (e.index.empty()) continue;
    const auto plan = run(db, "EXPLAIN QUERY PLAN " + e.sql, error);
    std::string joined;
    for (const auto& line : plan) joined += line + "\n";
    EXPECT_NE(joined.find("INDEX " + e.index), std::string::npos) << joined;
    ++checked;
  }
  EXPECT_GE(checked, 6);
  sqlite3_close(db);
}

}  // namespace
}  // namespace mdesync::store
