// The store columns that come from the declarations (store/declared_columns.hpp): a store whose
// table lacks a declared column (made before the attribute was declared) gets it when
// opened for writing, with the type its C++ type implies, and the attribute then
// round-trips; the narrow tables' context columns are the declared ones.

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <span>
#include <string>

#include "store/declared_columns.hpp"
#include "store/narrow_layout.hpp"
#include "store/open.hpp"
#include "store/store.hpp"
#include "util/time.hpp"

namespace mdesync::store {
namespace {

namespace fs = std::filesystem;

std::string exec_text(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  std::string out;
  auto collect = [](void* p, int n, char** values, char**) {
    auto* s = static_cast<std::string*>(p);
    for (int i = 0; i < n; ++i) *s += std::string(values[i] ? values[i] : "NULL") + "|";
    return 0;
  };
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), collect, &out, &err), SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
  return out;
}

class DeclaredColumns : public ::testing::Test {
 protected:
  void SetUp() override {
    m_dir = fs::temp_directory_path() /
            ("mdesync_columns_test_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(m_dir);
    fs::create_directories(m_dir);
    m_path = (m_dir / "store.db").string();
  }
  void TearDown() override { fs::remove_all(m_dir); }
  fs::path m_dir;
  std::string m_path;
};

// A store made before `uptime`, `is_excluded` and `categories` were declared (dropped
// here): opening it adds them, NOT NULL with a default where the value is never null.
TEST_F(DeclaredColumns, AStoreLackingADeclaredColumnGetsItWhenOpened) {
  { ASSERT_TRUE(open_store("sqlite:" + m_path)); }
  exec_text(m_path,
            "ALTER TABLE host DROP COLUMN uptime; ALTER TABLE host DROP COLUMN is_excluded; "
            "DROP INDEX host_status_idx; ALTER TABLE package DROP COLUMN categories;");
  ASSERT_EQ(exec_text(m_path,
                      "SELECT count(*) FROM pragma_table_info('host') WHERE name = "
                      "'uptime'"),
            "0|");
  auto s = open_store("sqlite:" + m_path);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(exec_text(m_path,
                      "SELECT type, \"notnull\" FROM pragma_table_info('host') WHERE "
                      "name IN ('uptime', 'is_excluded') ORDER BY name"),
            "INTEGER|0|TEXT|0|");
  EXPECT_EQ(exec_text(m_path,
                      "SELECT type, \"notnull\", dflt_value FROM "
                      "pragma_table_info('package') WHERE name = 'categories'"),
            "TEXT|1|'[]'|");

  model::Host h;
  h.uid = "h1";
  h.name = "web-01";
  h.source.uptime = "5 days";
  h.source.is_excluded = true;
  WriteContext ctx;
  ctx.run_id = 1;
  ctx.now = util::parse_timestamp("2025-06-01T00:00:00Z").value();
  {
    auto tx = (*s)->begin().value();
    std::vector<model::Host> rows = {h};
    ASSERT_TRUE((*s)->upsert(ctx, std::span<const model::Host>(rows)));
    ASSERT_TRUE(tx.commit());
  }
  auto back = (*s)->find_host("h1").value();
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->source.uptime, "5 days");
  EXPECT_EQ(back->source.is_excluded, true);
}

// A store made before `os_build` was declared and not opened for writing since (an
// upgrade followed by `mdesync export` or `status` before any sync): a read-only open
// adds nothing, and its reads give the attribute as absent instead of failing.
TEST_F(DeclaredColumns, AReadOnlyOpenReadsAColumnTheStoreLacksAsAbsent) {
  model::Host h;
  h.uid = "h1";
  h.name = "web-01";
  h.source.uptime = "5 days";
  {
    auto s = open_store("sqlite:" + m_path);
    ASSERT_TRUE(s) << s.error().message;
    WriteContext ctx;
    ctx.run_id = 1;
    ctx.now = util::parse_timestamp("2025-06-01T00:00:00Z").value();
    auto tx = (*s)->begin().value();
    std::vector<model::Host> rows = {h};
    ASSERT_TRUE((*s)->upsert(ctx, std::span<const model::Host>(rows)));
    ASSERT_TRUE(tx.commit());
  }
  exec_text(m_path, "ALTER TABLE host DROP COLUMN os_build; ALTER TABLE host DROP COLUMN uptime;");
  OpenOptions ro;
  ro.read_only = true;
  auto s = open_store("sqlite:" + m_path, ro);
  ASSERT_TRUE(s) << s.error().message;
  auto found = (*s)->find_host("h1");
  ASSERT_TRUE(found) << found.error().message;
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->name, "web-01");
  EXPECT_FALSE((*found)->source.uptime.has_value());
  EXPECT_FALSE((*found)->source.os_build.has_value());
  int scanned = 0;
  auto st = (*s)->scan(RowVisitor<model::Host>([&](const model::Host& row) {
    EXPECT_FALSE(row.source.uptime.has_value());
    ++scanned;
    return true;
  }));
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(scanned, 1);
  EXPECT_EQ(exec_text(m_path,
                      "SELECT count(*) FROM pragma_table_info('host') WHERE name IN "
                      "('os_build', 'uptime')"),
            "0|");
}

// A new store's wide tables (the frozen migrations) have exactly the declared columns,
// with the declared types, besides the connector's own.
TEST_F(DeclaredColumns, ANewStoreHasTheDeclaredColumnsAndTypes) {
  { ASSERT_TRUE(open_store("sqlite:" + m_path)); }
  std::string declared;
  for (const auto& table : k_wide_tables) {
    for (const auto& c : wide_columns()) {
      if (c.table == table) {
        declared += std::string(c.name) + "|" + std::string(c.type.sqlite) + "|" +
                    (c.type.not_null ? "1" : "0") + "|";
      }
    }
    EXPECT_EQ(exec_text(m_path, "SELECT name, type, \"notnull\" FROM pragma_table_info('" +
                                    std::string(table) +
                                    "') WHERE name NOT IN ('id', 'first_synced_at', "
                                    "'last_changed_at', 'last_run_id', 'row_hash') ORDER BY cid"),
              declared)
        << table;
    declared.clear();
  }
}

TEST(DeclaredColumnsSql, AddColumnHasTheTypeOfTheAttribute) {
  const auto all = wide_columns();
  auto find = [&](std::string_view table, std::string_view name) {
    for (const auto& c : all) {
      if (c.table == table && c.name == name) return c;
    }
    ADD_FAILURE() << table << "." << name << " is not declared";
    return DeclaredColumn{};
  };
  EXPECT_EQ(add_column_sql(find("host", "potential_duplication"), true),
            "ALTER TABLE host ADD COLUMN \"potential_duplication\" boolean");
  EXPECT_EQ(add_column_sql(find("host", "tags"), false),
            "ALTER TABLE host ADD COLUMN \"tags\" TEXT NOT NULL DEFAULT '[]'");
  EXPECT_EQ(add_column_sql(find("package", "impact_score"), true),
            "ALTER TABLE package ADD COLUMN \"impact_score\" double precision");
  EXPECT_EQ(add_column_sql(find("vulnerability_definition", "references"), false),
            "ALTER TABLE vulnerability_definition ADD COLUMN \"references\" TEXT NOT NULL "
            "DEFAULT '[]'");
  EXPECT_TRUE(missing_columns("host", {}).size() == model::attribute_count<model::Host>());
}

// The columns of a narrow object's shared tables, as the declaration places them.
template <typename Row>
std::string declared_at(model::Place place) {
  std::string out;
  model::for_each_attribute<Row>([&](const auto& a) {
    if (a.info.place == place) out += (out.empty() ? "" : ", ") + std::string(a.info.column);
  });
  return out;
}

// A narrow row keeps the rest of its uid after its device id (or char(1) and the whole
// uid when it does not start with it); uid_of gives the uid back from both.
TEST(NarrowLayout, AUidComesBackFromItsTargetsAndSuffix) {
  std::string scratch;
  for (const auto& [uid, targets] : {std::pair<std::string, std::string>{"dev1_CVE-1", "dev1"},
                                     {"other_CVE-1", "dev1"},
                                     {"dev1", "dev1"}}) {
    const std::string suffix(narrow::uid_suffix(uid, targets, scratch));
    EXPECT_EQ(narrow::uid_of(targets, suffix), uid) << uid;
  }
  EXPECT_EQ(narrow::uid_of("dev1", "\1other_CVE-1"), "other_CVE-1");
}

TEST(DeclaredColumnsNarrow, ContextColumnsAreTheDeclaredOnes) {
  using model::Place;
  using VL = narrow::Layout<model::Vulnerability>;
  using IL = narrow::Layout<model::InstalledPackage>;
  EXPECT_EQ(declared_at<model::Vulnerability>(Place::host_context), VL::host_context_cols);
  EXPECT_EQ(declared_at<model::Vulnerability>(Place::item_context) + ", source_uid_rest",
            VL::item_context_cols);
  EXPECT_EQ(declared_at<model::InstalledPackage>(Place::host_context), IL::host_context_cols);
  EXPECT_EQ(declared_at<model::InstalledPackage>(Place::item_context), IL::item_context_cols);
}

}  // namespace
}  // namespace mdesync::store
