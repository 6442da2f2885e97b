#include "store/store.hpp"
#include "store/open.hpp"

#include "model/hash.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/resource.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <utility>

#include "sqlite_damage.hpp"
#include "store_rows.hpp"
#include "temp_dir.hpp"

namespace mdesync::store {
namespace {

namespace fs = std::filesystem;
using model::StatusCategory;
using model::VulnerabilityStatus;
using namespace test_rows;

int count_rows(const std::string& path, const char* table) {
  return std::stoi(scalar(path, std::string("SELECT count(*) FROM ") + table));
}

int index_count(const std::string& path, const char* table) {
  return std::stoi(scalar(
      path,
      std::string("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = '") +
          table + "'"));
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m_dir = m_tmp
                .emplace(std::string("mdesync-store-test-") +
                         ::testing::UnitTest::GetInstance()->current_test_info()->name())
                .path();
    m_path = (m_dir / "store.db").string();
  }
  void TearDown() override { m_tmp.reset(); }

  std::unique_ptr<Store> open(OpenOptions options = {}) {
    auto s = open_store("sqlite:" + m_path, options);
    EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().message);
    return s ? std::move(*s) : nullptr;
  }

  std::optional<::testing_support::TempDir> m_tmp;  // the test's own folder
  fs::path m_dir;
  std::string m_path;
};

TEST_F(StoreTest, DatabaseLockedByAnotherConnectionIsAClearErrorAndWritesNothing) {
  { auto s = open(); }
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(m_path.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  OpenOptions opts;
  opts.busy_timeout_ms = 50;
  auto s = open_store("sqlite:" + m_path, opts);
  if (s) {
    std::vector<model::Host> rows = {host("a")};
    auto r = (*s)->upsert(ctx(1), std::span<const model::Host>(rows));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, util::ErrorCode::store_locked);
  } else {
    EXPECT_EQ(s.error().code, util::ErrorCode::store_locked);
  }
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  auto after = open();
  EXPECT_FALSE(after->find_host("a").value().has_value());
}

// The first sync into an empty store runs with a rollback journal (pages written once);
// once it has stored an object the file is in WAL mode for good.
TEST_F(StoreTest, FirstSyncUsesARollbackJournalThenWal) {
  auto journal = [&] { return scalar(m_path, "PRAGMA journal_mode"); };
  {
    auto s = open();
    EXPECT_EQ(journal(), "delete");
  }
  EXPECT_EQ(journal(), "delete");  // nothing stored yet: the next sync is still a first
  {
    auto s = open();
    auto tx = s->begin().value();
    std::vector<model::Host> rows = {host("a")};
    ASSERT_TRUE(s->upsert(ctx(1, true), std::span<const model::Host>(rows)));
    store::Checkpoint cp;
    cp.object = ObjectType::host;
    cp.run_id = 1;
    cp.mode = "full";
    cp.completed_at = at("2025-06-01T00:00:00Z");
    ASSERT_TRUE(s->save_checkpoint(cp));
    ASSERT_TRUE(tx.commit());
    EXPECT_EQ(journal(), "delete");
  }
  EXPECT_EQ(journal(), "wal");
  auto s = open();
  EXPECT_EQ(journal(), "wal");
  EXPECT_TRUE(s->find_host("a").value().has_value());
}

// A VFS over the default one that counts the bytes SQLite writes to statement journals
// (files opened with SQLITE_OPEN_SUBJOURNAL), installed as the default while it lives.
// SQLite keeps a statement journal in memory up to a size (64 KiB by default): while the
// counter lives it spills at once, so that every byte journaled reaches a file.
class SubjournalCounter {
 public:
  SubjournalCounter() {
    // No connection is open between tests: SQLite may be reconfigured.
    EXPECT_EQ(sqlite3_shutdown(), SQLITE_OK);
    EXPECT_EQ(sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, 0), SQLITE_OK);
    EXPECT_EQ(sqlite3_initialize(), SQLITE_OK);
    s_base = sqlite3_vfs_find(nullptr);
    m_vfs = *s_base;
    m_vfs.zName = "mdesync-subjournal-counter";
    m_vfs.szOsFile = static_cast<int>(sizeof(File)) + s_base->szOsFile;
    m_vfs.xOpen = &open;
    s_bytes = 0;
    EXPECT_EQ(sqlite3_vfs_register(&m_vfs, 1), SQLITE_OK);
  }
  ~SubjournalCounter() {
    sqlite3_vfs_unregister(&m_vfs);
    sqlite3_vfs_register(s_base, 1);
    sqlite3_shutdown();
    sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, 64 * 1024);
    sqlite3_initialize();
  }
  SubjournalCounter(const SubjournalCounter&) = delete;
  SubjournalCounter& operator=(const SubjournalCounter&) = delete;
  static std::int64_t bytes() { return s_bytes; }

 private:
  // Our file, then the base VFS's file right after it.
  struct File {
    sqlite3_file base;
    sqlite3_io_methods methods;
    sqlite3_file* real() { return reinterpret_cast<sqlite3_file*>(this + 1); }
  };
  static int open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags,
                  int* out_flags) {
    auto* f = reinterpret_cast<File*>(file);
    const int rc = s_base->xOpen(s_base, name, f->real(), flags, out_flags);
    if (rc != SQLITE_OK || f->real()->pMethods == nullptr) {
      f->base.pMethods = nullptr;
      return rc;
    }
    f->methods = *f->real()->pMethods;
    // Every method forwards to the real file; only writes of statement journals count.
    f->methods.xClose = [](sqlite3_file* p) {
      auto* self = reinterpret_cast<File*>(p);
      return self->real()->pMethods->xClose(self->real());
    };
    f->methods.xRead = [](sqlite3_file* p, void* b, int n, sqlite3_int64 o) {
      auto* self = reinterpret_cast<File*>(p);
      return self->real()->pMethods->xRead(self->real(), b, n, o);
    };
    f->methods.xWrite = (flags & SQLITE_OPEN_SUBJOURNAL) != 0
                            ? +[](sqlite3_file* p, const void* b, int n, sqlite3_int64 o) {
                                s_bytes += n;
                                auto* self = reinterpret_cast<File*>(p);
                                return self->real()->pMethods->xWrite(self->real(), b, n, o);
                              }
                            : +[](sqlite3_file* p, const void* b, int n, sqlite3_int64 o) {
                                auto* self = reinterpret_cast<File*>(p);
                                return self->real()->pMethods->xWrite(self->real(), b, n, o);
                              };
    f->methods.xTruncate = [](sqlite3_file* p, sqlite3_int64 size) {
      auto* self = reinterpret_cast<File*>(p);
      return self->real()->pMethods->xTruncate(self->real(), size);
    };
    f->methods.xSync = [](sqlite3_file* p, int fl) {
      auto* self = reinterpret_cast<File*>(p);
      return self->real()->pMethods->xSync(self->real(), fl);
    };
    f->methods.xFileSize = [](sqlite3_file* p, sqlite3_int64* size) {
      auto* self = reinterpret_cast<File*>(p);
      return self->real()->pMethods->xFileSize(self->real(), size);
    };
    f->methods.xLock = [](sqlite3_file* p, int l) {
      auto* self = reinterpret_cast<File*>(p);
      return self->real()->pMethods->xLock(self->real(), l);
    };
    f->methods.xUnlock = [](sqlite3_file* p, int l) {
      auto* self = reinterpret_cast<File*>(p);
      return self->real()->pMethods->xUnlock(self->real(), l);
    };
    f->methods.xCheckReservedLock = [](sqlite3_file* p, int* out) {
      auto* self = reinterpret_cast<File*>(p);
      return self->real()->pMethods->xCheckReservedLock(self->real(), out);
    };
    f->methods.xFileControl = [](sqlite3_file* p, int op, void* arg) {
      auto* self = reinterpret_cast<File*>(p);
      return self->real()->pMethods->xFileControl(self->real(), op, arg);
    };
    f->methods.xSectorSize = [](sqlite3_file* p) {
      auto* self = reinterpret_cast<File*>(p);
      return self->real()->pMethods->xSectorSize(self->real());
    };
    f->methods.xDeviceCharacteristics = [](sqlite3_file* p) {
      auto* self = reinterpret_cast<File*>(p);
      return self->real()->pMethods->xDeviceCharacteristics(self->real());
    };
    f->methods.xShmMap = [](sqlite3_file* p, int pg, int sz, int ext, void volatile** out) {
      auto* self = reinterpret_cast<File*>(p);
      return self->real()->pMethods->xShmMap(self->real(), pg, sz, ext, out);
    };
    f->methods.xShmLock = [](sqlite3_file* p, int off, int n, int fl) {
      auto* self = reinterpret_cast<File*>(p);
      return self->real()->pMethods->xShmLock(self->real(), off, n, fl);
    };
    f->methods.xShmBarrier = [](sqlite3_file* p) {
      auto* self = reinterpret_cast<File*>(p);
      self->real()->pMethods->xShmBarrier(self->real());
    };
    f->methods.xShmUnmap = [](sqlite3_file* p, int del) {
      auto* self = reinterpret_cast<File*>(p);
      return self->real()->pMethods->xShmUnmap(self->real(), del);
    };
    // Memory-mapped I/O is off in the store (mmap_size 0): no xFetch through this file.
    f->methods.iVersion = std::min(f->methods.iVersion, 2);
    f->base.pMethods = &f->methods;
    return SQLITE_OK;
  }

  static inline sqlite3_vfs* s_base = nullptr;
  static inline std::int64_t s_bytes = 0;
  sqlite3_vfs m_vfs{};
};

// Writing a finding fires the history triggers (ADR 0074). With SQLite's default
// conflict policy each such statement keeps a statement journal of every page it
// touches: a whole page copied per row, gigabytes over a large first load. The store's
// row writes need none (ADR 0105); the savepoint of each batch still journals the pages
// it changes once.
TEST_F(StoreTest, RowWritesKeepNoStatementJournalPerRow) {
  SubjournalCounter counter;
  auto s = open();
  std::vector<model::Vulnerability> rows;
  for (int i = 0; i < 400; ++i) {
    rows.push_back(
        vuln("v" + std::to_string(i), VulnerabilityStatus::active, "2025-06-01T00:00:00Z"));
    rows.back().targets = "dev" + std::to_string(i % 40);
  }
  auto write = [&](RunId run, bool first) {
    auto tx = s->begin().value();
    auto up = s->upsert(ctx(run, true), std::span<const model::Vulnerability>(rows)).value();
    EXPECT_EQ(up.written, rows.size());
    if (!first) {
      EXPECT_EQ(up.unchanged, 0);
    }
    ASSERT_TRUE(tx.commit());
  };
  // Opening a new store (its schema) may journal: only the row writes are counted.
  auto journaled = [from = SubjournalCounter::bytes()]() mutable {
    const auto now = SubjournalCounter::bytes();
    return now - std::exchange(from, now);
  };
  write(1, true);  // a first load: inserts
  // 400 rows of one 16 KiB page each would be 6.5 MB; a batch's savepoint journals at
  // most the few pages that existed before it.
  EXPECT_LT(journaled(), 256 * 1024);
  for (auto& r : rows) {
    r.severity = model::Severity::low;  // every row updated, an indexed column included
    r.last_found = at("2025-06-02T00:00:00Z");
  }
  write(2, false);
  EXPECT_LT(journaled(), 256 * 1024);
  EXPECT_EQ(count_rows(m_path, "vulnerability"), 400);
}

TEST_F(StoreTest, CorruptFileIsRefusedUntouched) {
  {
    std::ofstream f(m_path, std::ios::binary);
    f << "this is not a database, just some bytes that are long enough to look like a header "
         "........................................................................";
  }
  const auto before = fs::file_size(m_path);
  auto s = open_store("sqlite:" + m_path);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, util::ErrorCode::store);
  EXPECT_NE(s.error().message.find("not a usable SQLite database"), std::string::npos)
      << s.error().message;
  EXPECT_EQ(fs::file_size(m_path), before);
  EXPECT_FALSE(fs::exists(m_path + "-wal"));
}

TEST_F(StoreTest, ForeignDatabaseIsRefused) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(m_path.c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "CREATE TABLE customers(id INTEGER)", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  auto s = open_store("sqlite:" + m_path);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("not an mdesync store"), std::string::npos);
}

TEST_F(StoreTest, UrlSchemes) {
  // No server on port 1 of loopback: the error names the store without its password.
  auto pg = open_store("postgresql://u:s3cr3t@127.0.0.1:1/mdesync?password=pw2&schema=x");
  ASSERT_FALSE(pg);
  EXPECT_EQ(pg.error().code, util::ErrorCode::store);
  EXPECT_NE(pg.error().message.find("postgresql://u:***@127.0.0.1:1/mdesync"), std::string::npos)
      << pg.error().message;
  EXPECT_EQ(pg.error().message.find("s3cr3t"), std::string::npos);
  EXPECT_EQ(pg.error().message.find("pw2"), std::string::npos);
  auto bad_schema = open_store("postgresql://127.0.0.1:1/mdesync?schema=Bad-Name");
  ASSERT_FALSE(bad_schema);
  EXPECT_EQ(bad_schema.error().code, util::ErrorCode::config);
  EXPECT_FALSE(open_store("mysql://x"));
  EXPECT_TRUE(open_store("sqlite::memory:"));
}

// A first load (empty table, in a transaction) appends without lookups and rebuilds the
// indexes at commit; a uid the read delivered twice is resolved then (the last row
// stands, counted as written twice); a rollback restores the indexes.
TEST_F(StoreTest, FirstLoadRebuildsIndexesAndRollbackRestoresThem) {
  auto s = open();
  const int indexes = index_count(m_path, "vulnerability_finding");
  ASSERT_GT(indexes, 0);
  auto v1_again = vuln("v1", VulnerabilityStatus::active, "2025-06-01T00:00:00Z");
  v1_again.severity = model::Severity::critical;
  std::vector<model::Vulnerability> rows = {
      vuln("v1", VulnerabilityStatus::active, "2025-06-01T00:00:00Z"),
      vuln("v2", VulnerabilityStatus::active, "2025-06-01T00:00:00Z"), v1_again};
  {
    auto tx = s->begin().value();
    auto up = s->upsert(ctx(1, true), std::span<const model::Vulnerability>(rows)).value();
    EXPECT_EQ(up.written, 3);
    EXPECT_TRUE(s->find_vulnerability("v2").value().has_value());
  }  // rolled back
  EXPECT_EQ(index_count(m_path, "vulnerability_finding"), indexes);
  EXPECT_FALSE(s->find_vulnerability("v1").value().has_value());
  {
    auto tx = s->begin().value();
    auto up = s->upsert(ctx(2, true), std::span<const model::Vulnerability>(rows)).value();
    EXPECT_EQ(up.written, 3);
    EXPECT_EQ(s->sweep(ObjectType::vulnerability, ctx(2), at("2025-06-01T00:00:00Z"))->closed, 0);
    ASSERT_TRUE(tx.commit());
  }
  EXPECT_EQ(index_count(m_path, "vulnerability_finding"), indexes);
  EXPECT_EQ(count_rows(m_path, "vulnerability"), 2);
  EXPECT_EQ(s->find_vulnerability("v1").value()->severity, model::Severity::critical);
  // A new full read in a new transaction reloads the key index from the table.
  auto tx = s->begin().value();
  std::vector<model::Vulnerability> only_v2 = {rows[1]};
  EXPECT_EQ(s->upsert(ctx(3, true), std::span<const model::Vulnerability>(only_v2))->unchanged, 1);
  EXPECT_EQ(s->sweep(ObjectType::vulnerability, ctx(3), at("2025-06-01T06:00:00Z"))->closed, 1);
  ASSERT_TRUE(tx.commit());
  EXPECT_EQ(s->find_vulnerability("v1").value()->status, VulnerabilityStatus::fixed);
}

// The narrow keys the engine computes from model rows (ADR 0071) find the rows the store
// wrote, after a reopen too, where the store knows them only by their columns: the same
// content gives the same digest whichever side wrote it (NULL and empty told apart).
TEST_F(StoreTest, NarrowKeysOfRowsFindTheRowsReadBackFromTheTables) {
  std::vector<model::Vulnerability> findings;
  for (int i = 0; i < 4; ++i) {
    findings.push_back(
        vuln("dev1_sw_" + std::to_string(i), VulnerabilityStatus::active, "2025-06-01T00:00:00Z"));
  }
  findings[0].hostnames = {"a", "b"};
  findings[0].source.cvss_score = 7.5;
  findings[0].source.is_onboarded = true;
  findings[0].source_uid = "dev1_rest";
  findings[1].source.rbac_group_name = "";  // empty, not absent
  findings[1].source.is_onboarded = false;
  findings[1].source_uid = "elsewhere";  // not after targets: kept whole
  findings[2].results = "Path: x";
  findings[3].uid = "other_uid";  // a uid that does not start with targets
  std::vector<model::InstalledPackage> installed(2);
  for (std::size_t i = 0; i < installed.size(); ++i) {
    auto& p = installed[i];
    p.uid = "dev1_sw" + std::to_string(i);
    p.type = "sw" + std::to_string(i);
    p.targets = "dev1";
    p.version = {"1.0"};
    p.dns_names = {"a"};
  }
  installed[0].end_of_support_date = at("2026-01-01T00:00:00Z");
  installed[0].source.disk_paths = {"C:\\x"};
  installed[1].source.number_of_weaknesses = 3;
  installed[1].name = "";
  const std::vector<std::string> tables = {
      "vulnerability_target",           "vulnerability_item",
      "vulnerability_host_context",     "vulnerability_item_context",
      "installed_package_target",       "installed_package_item",
      "installed_package_host_context", "installed_package_item_context"};
  auto counts = [&] {
    std::vector<int> out;
    for (const auto& t : tables) out.push_back(count_rows(m_path, t.c_str()));
    return out;
  };
  {
    auto s = open();
    ASSERT_TRUE(s->upsert(ctx(1), std::span<const model::Vulnerability>(findings)));
    ASSERT_TRUE(s->upsert(ctx(1), std::span<const model::InstalledPackage>(installed)));
  }
  const auto before = counts();
  // Three host contexts (two set apart, two rows alike); three item contexts (rows 1 and
  // 3 share one: a whole source_uid is kept in the row, not in the context).
  EXPECT_EQ(before, (std::vector<int>{1, 4, 3, 3, 1, 2, 1, 2}));
  // Reopened: the interned rows are known only by their columns now. The same rows,
  // changed where no context is (so they are written), with keys from the caller.
  for (auto& f : findings) f.last_found = at("2025-06-01T05:00:00Z");
  for (auto& p : installed) p.version = {"2.0"};
  std::vector<NarrowKeys> finding_keys;
  for (const auto& f : findings) finding_keys.push_back(narrow_keys(f));
  std::vector<NarrowKeys> installed_keys;
  for (const auto& p : installed) installed_keys.push_back(narrow_keys(p));
  auto s = open();
  auto with_keys = ctx(2);
  with_keys.keys = finding_keys;
  EXPECT_EQ(s->upsert(with_keys, std::span<const model::Vulnerability>(findings))->written, 4);
  with_keys.keys = installed_keys;
  EXPECT_EQ(s->upsert(with_keys, std::span<const model::InstalledPackage>(installed))->written, 2);
  EXPECT_EQ(counts(), before);
  EXPECT_EQ(s->find_vulnerability("dev1_sw_1").value()->source_uid, "elsewhere");
  EXPECT_EQ(s->find_vulnerability("dev1_sw_1").value()->source.rbac_group_name, "");
  EXPECT_EQ(s->find_vulnerability("dev1_sw_0").value()->source.is_onboarded, true);
  // A changed context is a new context row, found by its new key.
  findings[2].results = "Path: y";
  finding_keys[2] = narrow_keys(findings[2]);
  with_keys.keys = finding_keys;
  EXPECT_EQ(s->upsert(with_keys, std::span<const model::Vulnerability>(findings))->written, 1);
  EXPECT_EQ(count_rows(m_path, "vulnerability_item_context"), before[3] + 1);
  EXPECT_EQ(s->find_vulnerability("dev1_sw_2").value()->results, "Path: y");
}

// row_hash is persisted: a change of content_hash makes every stored row look changed
// once. These values were computed by the byte-at-a-time original implementation.
TEST(RowHash, IsStableAcrossVersions) {
  model::Vulnerability v;
  v.uid = "0123456789abcdef0123456789abcdef01234567_vendor_product_1.2.3_CVE-2025-12345";
  v.source_uid = "abc";
  v.type = "CVE-2025-12345";
  v.targets = "0123456789abcdef0123456789abcdef01234567";
  v.hostnames = {"host-1.corp.example.org", "h"};
  v.first_found = at("2025-05-01T04:10:00Z");
  v.severity = model::Severity::high;
  v.results = "Software: x\nPath: C:\\y.exe";
  v.source.cvss_score = 7.8;
  v.source.rbac_group_id = "7";
  v.source.security_update_available = true;
  EXPECT_EQ(model::content_hash(v), -8723870324487359901LL);
  model::Host h;
  h.uid = "m1";
  h.name = "alpha";
  h.hostnames = {"alpha", "alpha.corp"};
  EXPECT_EQ(model::content_hash(h), 1524850772938919101LL);
}

// An update sets an indexed column only when it differs: the indexes must follow every
// change, whichever path (key index or uid index) found the row.
TEST_F(StoreTest, UpdatesKeepEveryIndexInStep) {
  auto s = open();
  std::vector<model::Vulnerability> rows;
  for (int i = 0; i < 7; ++i) {
    rows.push_back(
        vuln("v" + std::to_string(i), VulnerabilityStatus::active, "2025-06-01T00:00:00Z"));
  }
  rows[6].targets = "dev9";
  ASSERT_TRUE(s->upsert(ctx(1, true, false), std::span<const model::Vulnerability>(rows)));
  // Findings counted through one index of the narrow table (ADR 0062); targets and type
  // live in the rows a finding refers to (t and i).
  auto count = [&](const char* index, const std::string& where) {
    return scalar(m_path, (std::string("SELECT count(*) FROM vulnerability_finding f "
                                       "INDEXED BY ") +
                           index +
                           " JOIN vulnerability_target t ON t.id = f.host JOIN "
                           "vulnerability_item i ON i.id = f.item WHERE " +
                           where)
                              .c_str());
  };
  // Unseen first, through the uid index: a key index, once loaded by the seen (full)
  // read, serves later reads too.
  for (const bool seen : {false, true}) {
    const RunId run = seen ? 3 : 2;
    rows[0].last_found = at(seen ? "2025-06-01T01:00:00Z" : "2025-06-01T02:00:00Z");  // plain
    rows[1].severity = seen ? model::Severity::low : model::Severity::medium;         // open_idx
    // Targets and type are part of a finding's identity (its uid): what changes with the
    // same uid is kept in the context rows it refers to.
    rows[2].source.rbac_group_id = seen ? "g1" : "g2";                           // host ctx
    rows[3].results = seen ? "Path: a" : "Path: b";                              // item ctx
    rows[4].severity = seen ? model::Severity::critical : model::Severity::low;  // open_idx
    rows[4].source_severity = seen ? "critical" : "low";
    rows[5].source.cvss_score = seen ? 9.5 : 1.5;
    // Closed, then open again: out of the partial open-findings index and back in.
    rows[6].status = seen ? VulnerabilityStatus::active : VulnerabilityStatus::fixed;
    rows[6].status_category = model::category_of(rows[6].status);
    auto up = s->upsert(ctx(run, seen), std::span<const model::Vulnerability>(rows)).value();
    EXPECT_EQ(up.written, 7);
    EXPECT_EQ(scalar(m_path, "PRAGMA integrity_check"), "ok");
    const char* sev = seen ? "'Low'" : "'Medium'";
    const std::string open = "f.status_category = 'Open' AND ";
    EXPECT_EQ(
        count("vulnerability_open_idx", open + "f.severity = " + sev + " AND t.targets = 'dev1'"),
        "1");
    EXPECT_EQ(count("vulnerability_key_idx", "i.type = 'CVE-2025-40001'"), "7");
    EXPECT_EQ(
        count("vulnerability_open_idx",
              open + "f.severity = " + (seen ? "'Critical'" : "'Low'") + " AND t.targets = 'dev1'"),
        "1");
    EXPECT_EQ(s->find_vulnerability("v2").value()->source.rbac_group_id,
              rows[2].source.rbac_group_id);
    EXPECT_EQ(s->find_vulnerability("v3").value()->results, rows[3].results);
    EXPECT_EQ(count("vulnerability_open_idx", open + "f.severity = 'High' AND t.targets = 'dev9'"),
              seen ? "1" : "0");
    EXPECT_EQ(s->find_vulnerability("v6").value()->status,
              seen ? VulnerabilityStatus::reopened : VulnerabilityStatus::fixed);
    EXPECT_EQ(s->find_vulnerability("v0").value()->last_found, rows[0].last_found);
    EXPECT_EQ(s->find_vulnerability("v4").value()->severity, rows[4].severity);
    EXPECT_EQ(s->find_vulnerability("v5").value()->source.cvss_score, rows[5].source.cvss_score);
    EXPECT_EQ(s->find_vulnerability("v2").value()->meta.last_run_id, run);
    // The same rows again are unchanged.
    EXPECT_EQ(s->upsert(ctx(run, seen), std::span<const model::Vulnerability>(rows))->unchanged, 7);
  }
}

// Every finding a version 1 file holds comes back through the view after the upgrade,
// value for value, and a re-read of the same rows rewrites none of them.
TEST_F(StoreTest, UpgradesAVersion1FileWithItsRows) {
  // A uid that starts with its targets and one that does not; source_uid with and
  // without the targets; a finding with most attributes unknown.
  std::vector<model::Vulnerability> rows = {
      vuln("open", VulnerabilityStatus::active, "2025-06-01T00:00:00Z"),
      vuln("closed", VulnerabilityStatus::fixed, "2025-06-01T00:00:00Z")};
  auto full = vuln("dev1_acme_viewer_1.0_CVE-2025-40001", VulnerabilityStatus::reopened,
                   "2025-06-01T00:00:00.000001Z");
  full.source_uid = "dev1-_-CVE-2025-40001-_-acme";
  full.hostnames = {"dev1.example.org", "dev1"};
  full.first_found = at("1969-12-31T23:59:59.999999Z");
  full.last_found = at("2025-06-01T05:06:07.891234Z");
  full.last_fixed = at("2025-05-01T00:00:00Z");
  full.results = "Software: acme viewer 1.0\nPath: C:\\viewer.exe";
  full.source_severity = "high";
  full.source.rbac_group_id = "7";
  full.source.cvss_score = 7.5;
  full.source.is_onboarded = true;
  full.source.security_update_available = false;
  full.source.software_vendor = "Acme";
  full.source.software_version = "1.0";
  rows.push_back(full);
  rows[1].source_uid = "elsewhere";
  std::vector<model::InstalledPackage> installed(2);
  installed[0].uid = "dev1_acme-_-viewer";
  installed[0].type = "acme-_-viewer";
  installed[0].targets = "dev1";
  installed[0].name = "viewer";
  installed[0].dns_names = {"dev1.example.org", "dev1"};
  installed[0].version = {"1.0", "1.1"};
  installed[0].first_seen = at("2025-01-02T03:04:05.678901Z");
  installed[0].end_of_support_date = at("2026-10-13T00:00:00Z");
  installed[0].source.disk_paths = {"C:\\viewer.exe"};
  installed[0].source.number_of_weaknesses = 3;
  installed[1].uid = "odd";  // does not start with its targets
  installed[1].type = "acme-_-viewer";
  installed[1].targets = "dev2";
  installed[1].status = model::InstalledPackageStatus::removed;
  {
    auto s = open();
    std::vector<model::Host> hosts = {host("a")};
    ASSERT_TRUE(s->upsert(ctx(1), std::span<const model::Host>(hosts)));
    ASSERT_TRUE(s->upsert(ctx(1), std::span<const model::Vulnerability>(rows)));
    ASSERT_TRUE(s->upsert(ctx(1), std::span<const model::InstalledPackage>(installed)));
  }
  auto stored = [&] {
    std::vector<model::Vulnerability> out;
    auto s = open();
    EXPECT_TRUE(s->scan(RowVisitor<model::Vulnerability>([&](const model::Vulnerability& r) {
      out.push_back(r);
      return true;
    })));
    return out;
  };
  auto stored_installed = [&] {
    std::vector<model::InstalledPackage> out;
    auto s = open();
    EXPECT_TRUE(s->scan(RowVisitor<model::InstalledPackage>([&](const model::InstalledPackage& r) {
      out.push_back(r);
      return true;
    })));
    return out;
  };
  const auto before = stored();
  ASSERT_EQ(before.size(), 3U);
  const auto installed_before = stored_installed();
  ASSERT_EQ(installed_before.size(), 2U);
  // Back to what version 1 wrote: one vulnerability table with every column, no
  // inventory_digest table, the open-findings index over every finding.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(m_path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db,
                   "DROP VIEW vulnerability_history; DROP TABLE vulnerability_event; "
                   "DROP TRIGGER history_start_on_insert; DROP TRIGGER history_start_on_update; "
                   "DROP TABLE history_start; "
                   "CREATE TABLE v1 AS SELECT * FROM vulnerability; DROP VIEW vulnerability; "
                   "DROP TABLE vulnerability_device_seen; "
                   "DROP TABLE vulnerability_finding; DROP TABLE vulnerability_target; "
                   "DROP TABLE vulnerability_item; DROP TABLE vulnerability_host_context; "
                   "DROP TABLE vulnerability_item_context; "
                   "ALTER TABLE v1 RENAME TO vulnerability; "
                   "CREATE TABLE ip1 AS SELECT * FROM installed_package; "
                   "DROP VIEW installed_package; DROP TABLE installed_package_entry; "
                   "DROP TABLE installed_package_target; DROP TABLE installed_package_item; "
                   "DROP TABLE installed_package_host_context; "
                   "DROP TABLE installed_package_item_context; "
                   "ALTER TABLE ip1 RENAME TO installed_package; "
                   "CREATE UNIQUE INDEX installed_package_uid_idx ON installed_package(uid); "
                   "CREATE INDEX installed_package_targets_idx ON installed_package(targets); "
                   "CREATE INDEX installed_package_type_idx ON installed_package(type); "
                   "CREATE UNIQUE INDEX vulnerability_uid_idx ON vulnerability(uid); "
                   "CREATE INDEX vulnerability_type_idx ON vulnerability(type); "
                   "DROP TABLE inventory_digest; DROP TABLE inventory_versions; "
                   "DROP TABLE finding_digest; "
                   "CREATE INDEX vulnerability_open_idx "
                   "ON vulnerability(status_category, severity, targets); "
                   "DELETE FROM schema_version WHERE version > 1",
                   nullptr, nullptr, nullptr),
      SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);
  ASSERT_EQ(scalar(m_path, "SELECT max(version) FROM schema_version"), "1");
  ASSERT_EQ(scalar(m_path, "SELECT last_found FROM vulnerability WHERE source_uid LIKE 'dev1%'"),
            "2025-06-01T05:06:07.891234Z");
  {
    auto s = open();
    ASSERT_TRUE(s);
    EXPECT_EQ(s->schema_version().value(), 8);
    EXPECT_TRUE(s->find_host("a").value().has_value());
  }
  // The history starts with what the rows know: each closed finding's fix, each
  // reopened one's fix and reopening (schema v7).
  EXPECT_EQ(scalar(m_path, "SELECT count(*) FROM vulnerability_history WHERE event <> 'New'"),
            scalar(m_path,
                   "SELECT sum(CASE WHEN status_category = 'Closed' THEN 1 WHEN status = "
                   "'Reopened' THEN 1 + (last_fixed IS NOT NULL) ELSE 0 END) FROM vulnerability"));
  EXPECT_EQ(scalar(m_path, "SELECT count(*) FROM vulnerability_history WHERE event = 'New'"),
            scalar(m_path, "SELECT count(*) FROM vulnerability"));
  EXPECT_EQ(count_rows(m_path, "inventory_digest"), 0);
  EXPECT_EQ(count_rows(m_path, "inventory_versions"), 0);
  const auto after = stored();
  ASSERT_EQ(after.size(), before.size());
  for (std::size_t i = 0; i < after.size(); ++i) {
    SCOPED_TRACE(before[i].uid);
    EXPECT_EQ(after[i].uid, before[i].uid);
    EXPECT_EQ(model::content_hash(after[i]), model::content_hash(before[i]));
    EXPECT_EQ(after[i].state_time, before[i].state_time);
    EXPECT_EQ(after[i].first_found, before[i].first_found);
    EXPECT_EQ(after[i].source_uid, before[i].source_uid);
    EXPECT_EQ(after[i].meta.first_synced_at, before[i].meta.first_synced_at);
    EXPECT_EQ(after[i].meta.last_run_id, before[i].meta.last_run_id);
  }
  // Open findings only in the open-findings index, keyed (severity, host).
  EXPECT_EQ(scalar(m_path,
                   "SELECT group_concat(f.id) FROM vulnerability_finding f INDEXED BY "
                   "vulnerability_open_idx WHERE status_category = 'Open' AND severity = 'High'"),
            scalar(m_path,
                   "SELECT group_concat(id) FROM vulnerability WHERE status_category = 'Open' AND "
                   "severity = 'High'"));
  EXPECT_EQ(scalar(m_path, "PRAGMA integrity_check"), "ok");
  const auto installed_after = stored_installed();
  ASSERT_EQ(installed_after.size(), installed_before.size());
  for (std::size_t i = 0; i < installed_after.size(); ++i) {
    SCOPED_TRACE(installed_before[i].uid);
    EXPECT_EQ(installed_after[i].uid, installed_before[i].uid);
    EXPECT_EQ(installed_after[i].targets, installed_before[i].targets);
    EXPECT_EQ(model::content_hash(installed_after[i]), model::content_hash(installed_before[i]));
    EXPECT_EQ(installed_after[i].first_seen, installed_before[i].first_seen);
    EXPECT_EQ(installed_after[i].meta.last_changed_at, installed_before[i].meta.last_changed_at);
  }
  auto s = open();
  EXPECT_EQ(s->upsert(ctx(2), std::span<const model::Vulnerability>(rows))->unchanged, 3);
  auto again = s->upsert(ctx(2), std::span<const model::InstalledPackage>(installed));
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->unchanged, 2);
}

// A store with a damaged page (not the header) commits nothing of a sync's objects, and a
// reader's check says so.
TEST_F(StoreTest, DamagedPagesAreRefusedBeforeAnyObjectCommits) {
  {
    auto s = open({true, false});
    std::vector<model::Vulnerability> rows;
    for (int i = 0; i < 3000; ++i) {
      rows.push_back(vuln("dev1_v_n_" + std::to_string(i) + "_CVE-2025-1",
                          VulnerabilityStatus::active, "2025-06-01T00:00:00Z"));
    }
    ASSERT_TRUE(s->upsert(ctx(1), std::span<const model::Vulnerability>(rows)));
    ASSERT_TRUE(s->save_checkpoint(Checkpoint{
        ObjectType::vulnerability, 1, "full", {}, {}, at("2025-06-01T00:00:00Z"), "{}"}));
    EXPECT_TRUE(s->check());
  }
  {
    // Checkpoint the WAL into the file, then overwrite a page in the middle.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(m_path.c_str(), &db), SQLITE_OK);
    sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr);
    sqlite3_close(db);
    const auto size = fs::file_size(m_path);
    ASSERT_GT(size, 16384U * 4);
    std::fstream f(m_path, std::ios::in | std::ios::out | std::ios::binary);
    // Three quarters in: a page of findings, past the schema's pages.
    f.seekp(static_cast<std::streamoff>((size / 16384 * 3 / 4) * 16384));
    const std::string garbage(16384, '\x5A');
    f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  {
    auto syncing = open({true, false});
    ASSERT_TRUE(syncing);
    // The run's own record may be written; no object's rows are committed.
    (void)syncing->begin_run("full", {"machine"}, at("2025-06-02T00:00:00Z"));
    auto tx = syncing->begin();
    ASSERT_TRUE(tx);
    std::vector<model::Vulnerability> more = {
        vuln("dev1_v_n_x_CVE-2025-2", VulnerabilityStatus::active, "2025-06-02T00:00:00Z")};
    (void)syncing->upsert(ctx(2), std::span<const model::Vulnerability>(more));
    auto committed = tx->commit();
    ASSERT_FALSE(committed);
    EXPECT_EQ(committed.error().code, util::ErrorCode::store);
    EXPECT_NE(committed.error().message.find("is damaged"), std::string::npos)
        << committed.error().message;
    auto op = syncing->save_checkpoint(
        Checkpoint{ObjectType::vulnerability, 2, "full", {}, {}, at("2025-06-02T00:00:00Z"), "{}"});
    EXPECT_FALSE(op) << "a write of its own is refused too";
  }
  EXPECT_EQ(scalar(m_path, "SELECT count(*) FROM checkpoint WHERE run_id = 2"), "0");
  auto reader = open({false, true});
  auto checked = reader->check();
  ASSERT_FALSE(checked);
  EXPECT_EQ(checked.error().code, util::ErrorCode::store);
}

// Store files beside `path`: the file itself and its -wal, -shm, -journal and .lock.
std::vector<std::string> files_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// Issue 27, item 5: a damaged page does not always fail a read (a page whose cell count
// was overwritten reads as empty), so a reader's scan checks the pages it reads first and
// never ends early with success.
TEST_F(StoreTest, AReaderScanOfADamagedTableFailsInsteadOfEndingEarly) {
  {
    auto s = open({true, false});
    std::vector<model::Vulnerability> rows;
    for (int i = 0; i < 3000; ++i) {
      rows.push_back(vuln("dev1_v_n_" + std::to_string(i) + "_CVE-2025-1",
                          VulnerabilityStatus::active, "2025-06-01T00:00:00Z"));
    }
    auto tx = s->begin();
    ASSERT_TRUE(tx);
    ASSERT_TRUE(s->upsert(ctx(1), std::span<const model::Vulnerability>(rows)));
    ASSERT_TRUE(s->save_checkpoint(Checkpoint{
        ObjectType::vulnerability, 1, "full", {}, {}, at("2025-06-01T00:00:00Z"), "{}"}));
    ASSERT_TRUE(tx->commit());
  }
  ASSERT_EQ(scalar(m_path, "SELECT count(*) FROM vulnerability"), "3000");
  testing_support::shorten_last_leaf(m_path, "vulnerability_finding");
  // What SQLite itself makes of it: fewer rows, no error.
  const std::string counted = scalar(m_path, "SELECT count(*) FROM vulnerability");
  ASSERT_FALSE(counted.empty()) << "SQLite fails this read: the test needs a damage it does not";
  ASSERT_LT(std::stoi(counted), 3000) << "the damage no longer shortens a read";

  auto reader = open({false, true});
  ASSERT_TRUE(reader);
  std::int64_t seen = 0;
  const auto st = reader->scan(RowVisitor<model::Vulnerability>([&](const model::Vulnerability&) {
    ++seen;
    return true;
  }));
  ASSERT_FALSE(st) << seen << " rows read as if that were all of them";
  EXPECT_EQ(st.error().code, util::ErrorCode::store);
  EXPECT_NE(st.error().message.find("is damaged"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("vulnerability_finding"), std::string::npos)
      << st.error().message;
  EXPECT_EQ(seen, 0);
  // The other objects' tables are sound: they are read.
  EXPECT_TRUE(reader->scan(RowVisitor<model::Host>([](const model::Host&) { return true; })));
}

// Issue 27, item 5: a reader (status, export, report) writes nothing: no lock file, and
// none of the -wal and -shm files SQLite makes for a read of a WAL store is left behind.
TEST_F(StoreTest, AReaderLeavesNoFileBehind) {
  {
    auto s = open({true, false});
    std::vector<model::Host> rows = {host("a"), host("b")};
    auto tx = s->begin();
    ASSERT_TRUE(s->upsert(ctx(1), std::span<const model::Host>(rows)));
    ASSERT_TRUE(s->save_checkpoint(
        Checkpoint{ObjectType::host, 1, "full", {}, {}, at("2025-06-01T00:00:00Z"), "{}"}));
    ASSERT_TRUE(tx->commit());
  }
  fs::remove(m_path + ".lock");
  ASSERT_EQ(files_in(m_dir), std::vector<std::string>{"store.db"});
  ASSERT_EQ(scalar(m_path, "PRAGMA journal_mode"), "wal");
  {
    auto reader = open({false, true});
    ASSERT_TRUE(reader);
    ASSERT_TRUE(reader->check());
    ASSERT_TRUE(reader->recent_runs(10));
    int n = 0;
    ASSERT_TRUE(reader->scan(RowVisitor<model::Host>([&](const model::Host&) { return ++n > 0; })));
    EXPECT_EQ(n, 2);
  }
  EXPECT_EQ(files_in(m_dir), std::vector<std::string>{"store.db"});
}

// What a reader leaves is removed only when nobody else has the store open: a sync that
// opened it meanwhile keeps its -wal and -shm files, and what it commits.
TEST_F(StoreTest, AReaderClosingWhileASyncWritesLeavesTheSyncsFiles) {
  {
    auto s = open({true, false});  // a store with an object is in WAL mode from then on
    ASSERT_TRUE(s->save_checkpoint(
        Checkpoint{ObjectType::host, 1, "full", {}, {}, at("2025-06-01T00:00:00Z"), "{}"}));
  }
  ASSERT_EQ(scalar(m_path, "PRAGMA journal_mode"), "wal");
  fs::remove(m_path + ".lock");
  auto reader = open({false, true});
  ASSERT_TRUE(reader);
  ASSERT_TRUE(reader->recent_runs(1));
  auto writer = open({true, false});
  ASSERT_TRUE(writer);
  std::vector<model::Host> rows = {host("a")};
  {
    auto tx = writer->begin();
    ASSERT_TRUE(writer->upsert(ctx(1), std::span<const model::Host>(rows)));
    ASSERT_TRUE(tx->commit());
  }
  reader.reset();
  EXPECT_TRUE(fs::exists(m_path + "-wal"));
  EXPECT_TRUE(fs::exists(m_path + "-shm"));
  rows = {host("b")};
  {
    auto tx = writer->begin();
    ASSERT_TRUE(writer->upsert(ctx(1), std::span<const model::Host>(rows)));
    ASSERT_TRUE(tx->commit());
  }
  writer.reset();
  EXPECT_EQ(scalar(m_path, "SELECT count(*) FROM host"), "2");
  EXPECT_EQ(scalar(m_path, "PRAGMA quick_check"), "ok");
}

// Issue 27, item 5: a first sync that fails for lack of space while it creates the store
// leaves no store file that is none (a 0-byte file `status` refuses): the open removes
// the files it created. Lack of space is a file size limit here (RLIMIT_FSIZE).
TEST_F(StoreTest, AFirstOpenThatRunsOutOfSpaceLeavesNoFile) {
  rlimit before{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &before), 0);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit small = before;
  small.rlim_cur = 64 * 1024;  // the schema alone needs more
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  auto s = open_store("sqlite:" + m_path, {true, false});
  ::setrlimit(RLIMIT_FSIZE, &before);
  std::signal(SIGXFSZ, old_handler);
  ASSERT_FALSE(s) << "the store was created within the limit: the test fails nothing";
  EXPECT_EQ(s.error().code, util::ErrorCode::store) << s.error().message;
  EXPECT_TRUE(files_in(m_dir).empty()) << fmt::format("{}", fmt::join(files_in(m_dir), ", "));

  // With room the same open creates a store that readers accept.
  ASSERT_TRUE(open({true, false}));
  auto reader = open({false, true});
  ASSERT_TRUE(reader);
  EXPECT_TRUE(reader->check());
}

}  // namespace
}  // namespace mdesync::store
