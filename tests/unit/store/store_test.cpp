#include "store/store.hpp"

#include "model/hash.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <set>

namespace mdesync::store {
namespace {

namespace fs = std::filesystem;
using model::StatusCategory;
using model::VulnerabilityStatus;

// The first column of the first row of `sql`, as text, on a connection of its own.
std::string scalar(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr);
  std::string out;
  if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != nullptr) {
    out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

int count_rows(const std::string& path, const char* table) {
  return std::stoi(scalar(path, std::string("SELECT count(*) FROM ") + table));
}

int index_count(const std::string& path, const char* table) {
  return std::stoi(scalar(
      path,
      std::string("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = '") +
          table + "'"));
}

Timestamp at(const char* text) {
  return util::parse_timestamp(text).value();
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m_dir = fs::temp_directory_path() /
            ("mdesync_store_test_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(m_dir);
    fs::create_directories(m_dir);
    m_path = (m_dir / "store.db").string();
  }
  void TearDown() override { fs::remove_all(m_dir); }

  std::unique_ptr<Store> open(OpenOptions options = {}) {
    auto s = open_store("sqlite:" + m_path, options);
    EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().message);
    return s ? std::move(*s) : nullptr;
  }

  static model::Host host(const std::string& uid, const std::string& name = "h") {
    model::Host h;
    h.uid = uid;
    h.name = name;
    h.hostnames = {name};
    h.status = model::HostStatus::active;
    h.last_seen = at("2025-06-01T07:58:10.301Z");
    h.source.rbac_group_id = "17";
    return h;
  }

  static model::Vulnerability vuln(const std::string& uid, VulnerabilityStatus status,
                                   const char* time) {
    model::Vulnerability v;
    v.uid = uid;
    v.type = "CVE-2025-40001";
    v.targets = "dev1";
    v.status = status;
    v.status_category = model::category_of(status);
    v.severity = model::Severity::high;
    v.state_time = at(time);
    if (status == VulnerabilityStatus::fixed) v.last_fixed = v.state_time;
    v.source.software_name = "exampleviewer";
    return v;
  }

  // A full read (`seen`) passes every row unless said otherwise, as the engine's do but
  // the inventory read's: the store then looks rows up in its in-memory key index; a
  // read with every_row false looks them up through the uid index.
  static WriteContext ctx(RunId run, bool seen = false, std::optional<bool> every_row = {}) {
    return WriteContext{run, at("2025-06-02T00:00:00Z"), seen, every_row.value_or(seen)};
  }

  fs::path m_dir;
  std::string m_path;
};

TEST_F(StoreTest, MigratesAnEmptyFileAndReopensWithoutChange) {
  {
    auto s = open();
    ASSERT_TRUE(s);
    EXPECT_EQ(s->schema_version().value(), 6);
  }
  auto s = open();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->schema_version().value(), 6);
  EXPECT_TRUE(s->count_by_status().value().empty());
  EXPECT_TRUE(s->checkpoints().value().empty());
}

TEST_F(StoreTest, UpsertIsIdempotentAndRoundTrips) {
  auto s = open();
  std::vector<model::Host> rows = {host("a", "alpha"), host("b", "beta")};
  rows[0].source.is_excluded = false;
  rows[0].potential_duplication = true;
  auto first = s->upsert(ctx(1), std::span<const model::Host>(rows)).value();
  EXPECT_EQ(first.written, 2);
  EXPECT_EQ(first.unchanged, 0);
  auto again = s->upsert(WriteContext{2, at("2025-06-03T00:00:00Z"), false},
                         std::span<const model::Host>(rows))
                   .value();
  EXPECT_EQ(again.written, 0);
  EXPECT_EQ(again.unchanged, 2);

  auto stored = s->find_host("a").value();
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->meta.last_run_id, 1);  // not rewritten by run 2
  EXPECT_EQ(stored->meta.first_synced_at, at("2025-06-02T00:00:00Z"));
  EXPECT_EQ(model::content_hash(*stored), model::content_hash(rows[0]));
  EXPECT_EQ(stored->source.is_excluded, false);
  EXPECT_EQ(stored->source.is_aad_joined, std::nullopt);

  rows[1].name = "beta2";
  auto changed = s->upsert(ctx(3), std::span<const model::Host>(rows)).value();
  EXPECT_EQ(changed.written, 1);
  EXPECT_EQ(changed.unchanged, 1);
  EXPECT_EQ(s->find_host("b").value()->meta.last_run_id, 3);
  EXPECT_EQ(s->find_host("b").value()->meta.first_synced_at, at("2025-06-02T00:00:00Z"));
}

TEST_F(StoreTest, UncommittedTransactionRollsBack) {
  auto s = open();
  {
    auto tx = s->begin();
    ASSERT_TRUE(tx);
    std::vector<model::Host> rows = {host("a")};
    ASSERT_TRUE(s->upsert(ctx(1), std::span<const model::Host>(rows)));
    EXPECT_TRUE(s->find_host("a").value().has_value());
  }  // destroyed without commit
  EXPECT_FALSE(s->find_host("a").value().has_value());
  auto nested = s->begin();
  ASSERT_TRUE(nested);
  EXPECT_FALSE(s->begin().has_value());  // one at a time
}

TEST_F(StoreTest, RowsAndCheckpointCommitTogether) {
  auto s = open();
  Checkpoint cp;
  cp.object = ObjectType::host;
  cp.run_id = 1;
  cp.mode = "full";
  cp.snapshot_time = at("2025-06-01T06:01:00Z");
  cp.completed_at = at("2025-06-02T00:00:00Z");
  std::vector<model::Host> rows = {host("a")};
  {
    auto tx = s->begin().value();
    ASSERT_TRUE(s->upsert(ctx(1), std::span<const model::Host>(rows)));
    ASSERT_TRUE(s->save_checkpoint(cp));
    tx.rollback();
  }
  EXPECT_FALSE(s->checkpoint(ObjectType::host).value().has_value());
  EXPECT_FALSE(s->find_host("a").value().has_value());
  {
    auto tx = s->begin().value();
    ASSERT_TRUE(s->upsert(ctx(1), std::span<const model::Host>(rows)));
    ASSERT_TRUE(s->save_checkpoint(cp));
    ASSERT_TRUE(tx.commit());
  }
  s.reset();
  s = open();
  auto got = s->checkpoint(ObjectType::host).value();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->snapshot_time, cp.snapshot_time);
  EXPECT_EQ(got->mode, "full");
  EXPECT_TRUE(s->find_host("a").value().has_value());
}

TEST_F(StoreTest, SweepClosesOnlyWhatTheRunDidNotSee) {
  auto s = open();
  std::vector<model::Vulnerability> all = {
      vuln("v1", VulnerabilityStatus::active, "2025-06-01T00:00:00Z"),
      vuln("v2", VulnerabilityStatus::active, "2025-06-01T00:00:00Z"),
      vuln("v3", VulnerabilityStatus::active, "2025-06-01T00:00:00Z")};
  ASSERT_TRUE(s->upsert(ctx(1, true), std::span<const model::Vulnerability>(all)));
  EXPECT_EQ(s->sweep(ObjectType::vulnerability, ctx(1), at("2025-06-01T00:00:00Z"))->closed, 0);

  std::vector<model::Vulnerability> second = {
      vuln("v1", VulnerabilityStatus::active, "2025-06-01T06:00:00Z")};
  auto up = s->upsert(ctx(2, true), std::span<const model::Vulnerability>(second)).value();
  EXPECT_EQ(up.unchanged, 1);  // only stateTime differs: not rewritten
  EXPECT_EQ(s->sweep(ObjectType::vulnerability, ctx(2), at("2025-06-01T06:00:00Z"))->closed, 2);
  auto v2 = s->find_vulnerability("v2").value().value();
  EXPECT_EQ(v2.status, VulnerabilityStatus::fixed);
  EXPECT_EQ(v2.status_category, StatusCategory::closed);
  EXPECT_EQ(v2.last_fixed, at("2025-06-01T06:00:00Z"));
  EXPECT_EQ(s->find_vulnerability("v1").value()->status, VulnerabilityStatus::active);

  // Seen again in a later snapshot: reopened, lastFixed kept.
  std::vector<model::Vulnerability> third = {
      vuln("v1", VulnerabilityStatus::active, "2025-06-01T12:00:00Z"),
      vuln("v2", VulnerabilityStatus::active, "2025-06-01T12:00:00Z")};
  auto up3 = s->upsert(ctx(3, true), std::span<const model::Vulnerability>(third)).value();
  EXPECT_EQ(up3.written, 1);
  auto v2b = s->find_vulnerability("v2").value().value();
  EXPECT_EQ(v2b.status, VulnerabilityStatus::reopened);
  EXPECT_EQ(v2b.status_category, StatusCategory::open);
  EXPECT_EQ(v2b.last_fixed, at("2025-06-01T06:00:00Z"));
  EXPECT_EQ(s->sweep(ObjectType::vulnerability, ctx(3), at("2025-06-01T12:00:00Z"))->closed, 0);
}

// A read that skips unchanged rows upstream (every_row false) looks rows up through the
// uid index and has no key index at its sweep: the open findings come from SQL.
TEST_F(StoreTest, SweepAfterAReadWithoutKeyIndexClosesWhatItDidNotSee) {
  auto s = open();
  std::vector<model::Vulnerability> all = {
      vuln("v1", VulnerabilityStatus::active, "2025-06-01T00:00:00Z"),
      vuln("v2", VulnerabilityStatus::active, "2025-06-01T00:00:00Z"),
      vuln("v3", VulnerabilityStatus::active, "2025-06-01T00:00:00Z")};
  ASSERT_TRUE(s->upsert(ctx(1, true, false), std::span<const model::Vulnerability>(all)));
  EXPECT_EQ(s->sweep(ObjectType::vulnerability, ctx(1), at("2025-06-01T00:00:00Z"))->closed, 0);
  all[0].source.cvss_score = 9.0;
  std::vector<model::Vulnerability> second = {all[0]};
  auto up = s->upsert(ctx(2, true, false), std::span<const model::Vulnerability>(second)).value();
  EXPECT_EQ(up.written, 1);
  EXPECT_EQ(s->sweep(ObjectType::vulnerability, ctx(2), at("2025-06-01T06:00:00Z"))->closed, 2);
  EXPECT_EQ(s->find_vulnerability("v3").value()->status, VulnerabilityStatus::fixed);
  EXPECT_EQ(s->find_vulnerability("v1").value()->source.cvss_score, 9.0);
}

// A finding rewritten by a full read keeps the stateTime at which its status began, by
// either lookup path; a new status takes the read's stateTime.
TEST_F(StoreTest, ARewrittenFindingKeepsItsStateTimeWhileItsStatusHolds) {
  auto s = open();
  // The uid-index path first: a key index, once loaded, serves later reads too.
  for (const bool every_row : {false, true}) {
    const std::string uid = every_row ? "keys" : "uids";
    const RunId base = every_row ? 10 : 20;
    auto v = vuln(uid, VulnerabilityStatus::active, "2025-06-01T00:00:00Z");
    v.source.cvss_score = 5.0;
    std::vector<model::Vulnerability> rows = {v};
    ASSERT_TRUE(s->upsert(ctx(base, true, every_row), std::span<const model::Vulnerability>(rows)));
    rows[0].state_time = at("2025-06-01T06:00:00Z");
    rows[0].last_found = at("2025-06-01T05:00:00Z");
    rows[0].source.cvss_score = 9.0;
    auto up =
        s->upsert(ctx(base + 1, true, every_row), std::span<const model::Vulnerability>(rows));
    EXPECT_EQ(up->written, 1) << uid;
    auto got = s->find_vulnerability(uid).value().value();
    EXPECT_EQ(got.state_time, at("2025-06-01T00:00:00Z")) << uid;
    EXPECT_EQ(got.last_found, at("2025-06-01T05:00:00Z")) << uid;
    EXPECT_EQ(got.source.cvss_score, 9.0) << uid;
    EXPECT_EQ(got.status, VulnerabilityStatus::active) << uid;

    rows[0].status = VulnerabilityStatus::fixed;
    rows[0].status_category = StatusCategory::closed;
    rows[0].state_time = at("2025-06-01T12:00:00Z");
    up = s->upsert(ctx(base + 2, true, every_row), std::span<const model::Vulnerability>(rows));
    EXPECT_EQ(up->written, 1) << uid;
    got = s->find_vulnerability(uid).value().value();
    EXPECT_EQ(got.status, VulnerabilityStatus::fixed) << uid;
    EXPECT_EQ(got.state_time, at("2025-06-01T12:00:00Z")) << uid;
    EXPECT_EQ(got.last_fixed, at("2025-06-01T12:00:00Z")) << uid;
  }
  EXPECT_EQ(scalar(m_path, "PRAGMA integrity_check"), "ok");
}

TEST_F(StoreTest, SweepMarksHostsRemovedAndIsScopedToTheRun) {
  auto s = open();
  std::vector<model::Host> rows = {host("a"), host("b")};
  ASSERT_TRUE(s->upsert(ctx(1, true), std::span<const model::Host>(rows)));
  std::vector<model::Host> only_a = {host("a")};
  ASSERT_TRUE(s->upsert(ctx(2, true), std::span<const model::Host>(only_a)));
  // Run 1 saw both: sweeping run 1 removes nothing; run 2 lacks b.
  EXPECT_EQ(s->sweep(ObjectType::host, ctx(1), at("2025-06-01T00:00:00Z"))->closed, 0);
  EXPECT_EQ(s->sweep(ObjectType::host, ctx(2), at("2025-06-01T00:00:00Z"))->closed, 1);
  EXPECT_EQ(s->find_host("b").value()->status, model::HostStatus::removed);
  EXPECT_EQ(s->find_host("a").value()->status, model::HostStatus::active);
  // Back in the listing: written again as Active.
  auto up = s->upsert(ctx(3, true), std::span<const model::Host>(rows)).value();
  EXPECT_EQ(up.written, 1);
  EXPECT_EQ(s->find_host("b").value()->status, model::HostStatus::active);
}

TEST_F(StoreTest, DeltaRules) {
  auto s = open();
  std::vector<model::Vulnerability> base = {
      vuln("open", VulnerabilityStatus::active, "2025-06-01T00:00:00Z"),
      vuln("moved", VulnerabilityStatus::active, "2025-06-01T00:00:00Z")};
  ASSERT_TRUE(s->upsert(ctx(1), std::span<const model::Vulnerability>(base)));

  std::vector<model::Vulnerability> events = {
      // stale: older than the finding's state
      vuln("open", VulnerabilityStatus::fixed, "2025-05-31T18:00:00Z"),
      // device-group move: Fixed + New at one timestamp
      vuln("moved", VulnerabilityStatus::fixed, "2025-06-01T06:00:00Z"),
      vuln("moved", VulnerabilityStatus::active, "2025-06-01T06:00:00Z"),
      // Fixed for a finding never seen: created closed
      vuln("ghost", VulnerabilityStatus::fixed, "2025-06-01T06:00:00Z"),
      // fixed then new again later: reopened
      vuln("open", VulnerabilityStatus::fixed, "2025-06-01T06:00:00Z"),
      vuln("open", VulnerabilityStatus::active, "2025-06-01T12:00:00Z"),
  };
  auto c = s->apply_vulnerability_events(ctx(2), events, std::nullopt).value();
  EXPECT_EQ(c.stale, 1);
  EXPECT_EQ(c.paired, 1);
  EXPECT_EQ(c.created_closed, 1);
  EXPECT_EQ(c.fixed, 1);
  EXPECT_EQ(c.reopened, 1);

  EXPECT_EQ(s->find_vulnerability("moved").value()->status_category, StatusCategory::open);
  auto ghost = s->find_vulnerability("ghost").value().value();
  EXPECT_EQ(ghost.status, VulnerabilityStatus::fixed);
  EXPECT_EQ(ghost.last_fixed, at("2025-06-01T06:00:00Z"));
  auto open = s->find_vulnerability("open").value().value();
  EXPECT_EQ(open.status, VulnerabilityStatus::reopened);
  EXPECT_EQ(open.last_fixed, at("2025-06-01T06:00:00Z"));
  EXPECT_EQ(open.state_time, at("2025-06-01T12:00:00Z"));

  // Replaying the same window changes nothing.
  auto replay = s->apply_vulnerability_events(ctx(3), events, std::nullopt).value();
  EXPECT_EQ(replay.written, 0);
  EXPECT_EQ(s->find_vulnerability("open").value()->status, VulnerabilityStatus::reopened);
  EXPECT_EQ(s->find_vulnerability("moved").value()->status, VulnerabilityStatus::active);
  EXPECT_EQ(s->find_vulnerability("open").value()->meta.last_run_id, 2);
}

TEST_F(StoreTest, DeltaPairSplitAcrossCallsStaysOpen) {
  auto s = open();
  std::vector<model::Vulnerability> base = {
      vuln("m", VulnerabilityStatus::active, "2025-06-01T00:00:00Z")};
  ASSERT_TRUE(s->upsert(ctx(1), std::span<const model::Vulnerability>(base)));
  std::vector<model::Vulnerability> fixed = {
      vuln("m", VulnerabilityStatus::fixed, "2025-06-01T06:00:00Z")};
  std::vector<model::Vulnerability> fresh = {
      vuln("m", VulnerabilityStatus::active, "2025-06-01T06:00:00Z")};
  ASSERT_TRUE(s->apply_vulnerability_events(ctx(2), fixed, std::nullopt));
  ASSERT_TRUE(s->apply_vulnerability_events(ctx(2), fresh, std::nullopt));
  EXPECT_EQ(s->find_vulnerability("m").value()->status, VulnerabilityStatus::active);
}

TEST_F(StoreTest, BaselineMakesOlderEventsStale) {
  auto s = open();
  std::vector<model::Vulnerability> base = {
      vuln("v", VulnerabilityStatus::active, "2025-06-01T00:00:00Z")};
  ASSERT_TRUE(s->upsert(ctx(1), std::span<const model::Vulnerability>(base)));
  std::vector<model::Vulnerability> ev = {
      vuln("v", VulnerabilityStatus::fixed, "2025-06-01T06:00:00Z")};
  auto c = s->apply_vulnerability_events(ctx(2), ev, at("2025-06-01T12:00:00Z")).value();
  EXPECT_EQ(c.stale, 1);
  EXPECT_EQ(s->find_vulnerability("v").value()->status, VulnerabilityStatus::active);
}

TEST_F(StoreTest, SecondExclusiveOpenIsRefused) {
  auto first = open(OpenOptions{true, false});
  ASSERT_TRUE(first);
  auto second = open_store("sqlite:" + m_path, OpenOptions{true, false});
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, util::ErrorCode::store_locked);
  EXPECT_NE(second.error().message.find("another mdesync sync"), std::string::npos);
  // Readers are not blocked.
  EXPECT_TRUE(open_store("sqlite:" + m_path, OpenOptions{false, true}).has_value());
  first.reset();
  EXPECT_TRUE(open_store("sqlite:" + m_path, OpenOptions{true, false}).has_value());
}

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
  auto pg = open_store("postgresql://localhost/mdesync");
  ASSERT_FALSE(pg);
  EXPECT_EQ(pg.error().code, util::ErrorCode::config);
  EXPECT_NE(pg.error().message.find("not built yet"), std::string::npos);
  EXPECT_FALSE(open_store("mysql://x"));
  EXPECT_TRUE(open_store("sqlite::memory:"));
}

TEST_F(StoreTest, RunsCountsAndScans) {
  auto s = open();
  const RunId run =
      s->begin_run("full", {"machine", "vulnerability"}, at("2025-06-02T00:00:00Z")).value();
  std::vector<model::Host> rows = {host("b"), host("a")};
  ASSERT_TRUE(s->upsert(ctx(run), std::span<const model::Host>(rows)));
  ASSERT_TRUE(s->end_run(run, at("2025-06-02T00:05:00Z"), "success", R"({"host":{"read":2}})"));
  auto runs = s->recent_runs(10).value();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].objects, (std::vector<std::string>{"machine", "vulnerability"}));
  EXPECT_EQ(runs[0].outcome, "success");
  EXPECT_EQ(runs[0].counts_json, R"({"host":{"read":2}})");
  auto counts = s->count_by_status().value();
  ASSERT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts[0].status, "Active");
  EXPECT_EQ(counts[0].count, 2);
  std::vector<std::string> uids;
  ASSERT_TRUE(s->scan(RowVisitor<model::Host>([&](const model::Host& h) {
    uids.push_back(h.uid);
    return true;
  })));
  EXPECT_EQ(uids, (std::vector<std::string>{"a", "b"}));
}

TEST_F(StoreTest, EveryObjectRoundTrips) {
  auto s = open();
  model::Package p;
  p.uid = "mozilla-_-firefox";
  p.name = "firefox";
  p.categories = {"Software", "Vulnerable"};
  p.source.versions = {{"128.0.3", 40, 12}, {"139.0.1", std::nullopt, 0}};
  model::InstalledPackage ip;
  ip.uid = "dev1_mozilla-_-firefox";
  ip.type = p.uid;
  ip.targets = "dev1";
  ip.version = {"128.0.3", "139.0.1"};
  ip.end_of_support_date = at("2026-10-13T00:00:00Z");
  model::VulnerabilityDefinition d;
  d.uid = "CVE-2025-40001";
  d.cve_ids = d.cve_records = {d.uid};
  d.exploitability = "Public exploit";
  d.affected = std::vector<std::string>{};
  d.cvss_v3.av = "Local";
  d.cvss_v3.base_score = 7.8;
  d.patch_available = true;
  std::vector<model::Package> ps = {p};
  std::vector<model::InstalledPackage> ips = {ip};
  std::vector<model::VulnerabilityDefinition> ds = {d};
  ASSERT_TRUE(s->upsert(ctx(1), std::span<const model::Package>(ps)));
  ASSERT_TRUE(s->upsert(ctx(1), std::span<const model::InstalledPackage>(ips)));
  ASSERT_TRUE(s->upsert(ctx(1), std::span<const model::VulnerabilityDefinition>(ds)));
  int n = 0;
  ASSERT_TRUE(s->scan(RowVisitor<model::Package>([&](const model::Package& r) {
    EXPECT_EQ(model::content_hash(r), model::content_hash(p));
    ++n;
    return true;
  })));
  ASSERT_TRUE(s->scan(RowVisitor<model::InstalledPackage>([&](const model::InstalledPackage& r) {
    EXPECT_EQ(model::content_hash(r), model::content_hash(ip));
    ++n;
    return true;
  })));
  ASSERT_TRUE(s->scan(
      RowVisitor<model::VulnerabilityDefinition>([&](const model::VulnerabilityDefinition& r) {
        EXPECT_EQ(model::content_hash(r), model::content_hash(d));
        EXPECT_TRUE(r.affected.has_value());
        EXPECT_FALSE(r.recommendation.has_value());
        ++n;
        return true;
      })));
  EXPECT_EQ(n, 3);
  EXPECT_EQ(s->upsert(ctx(2), std::span<const model::VulnerabilityDefinition>(ds))->unchanged, 1);
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

// The rows of a first load are seen by its read: a sweep after the commit closes none.
TEST_F(StoreTest, FirstLoadRowsAreSeenBySweepAfterCommit) {
  auto s = open();
  std::vector<model::Vulnerability> rows = {
      vuln("a", VulnerabilityStatus::active, "2025-06-01T00:00:00Z"),
      vuln("b", VulnerabilityStatus::active, "2025-06-01T00:00:00Z")};
  {
    auto tx = s->begin().value();
    EXPECT_EQ(s->upsert(ctx(1, true), std::span<const model::Vulnerability>(rows))->written, 2);
    ASSERT_TRUE(tx.commit());
  }
  EXPECT_EQ(s->sweep(ObjectType::vulnerability, ctx(1), at("2025-06-01T00:00:00Z"))->closed, 0);
  EXPECT_EQ(s->find_vulnerability("a").value()->status, VulnerabilityStatus::active);
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

// Runs a one-value query on the store file (read by another connection).
std::string query_text(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  std::string out;
  if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != nullptr) {
    out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
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
    return query_text(m_path, (std::string("SELECT count(*) FROM vulnerability_finding f "
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
    EXPECT_EQ(query_text(m_path, "PRAGMA integrity_check"), "ok");
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
      sqlite3_exec(
          db,
          "CREATE TABLE v1 AS SELECT * FROM vulnerability; DROP VIEW vulnerability; "
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
          "DROP TABLE inventory_digest; DROP TABLE inventory_versions; DROP TABLE finding_digest; "
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
    EXPECT_EQ(s->schema_version().value(), 6);
    EXPECT_TRUE(s->find_host("a").value().has_value());
  }
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

// A sync killed with -9 leaves its run without an outcome; once no process holds the
// sync lock, status reports it interrupted, and the next sync records it so.
TEST_F(StoreTest, KilledRunIsInterruptedOnceNoSyncHoldsTheLock) {
  RunId killed = 0;
  {
    auto syncing = open({true, false});
    killed = syncing->begin_run("full", {"machine"}, at("2025-06-01T00:00:00Z")).value();
    // While its process lives, a reader sees it running.
    auto reader = open({false, true});
    EXPECT_FALSE(reader->recent_runs(5).value().front().outcome.has_value());
  }  // the process is gone: the kernel released its lock
  {
    auto reader = open({false, true});
    const auto runs = reader->recent_runs(5).value();
    ASSERT_EQ(runs.front().id, killed);
    EXPECT_EQ(runs.front().outcome, "interrupted");
    EXPECT_EQ(scalar(m_path, "SELECT count(*) FROM sync_run WHERE outcome IS NULL"), "1")
        << "a reader writes nothing";
  }
  auto next = open({true, false});
  ASSERT_TRUE(next->begin_run("full", {"machine"}, at("2025-06-02T00:00:00Z")));
  EXPECT_EQ(scalar(m_path, "SELECT outcome FROM sync_run WHERE id = " + std::to_string(killed)),
            "interrupted");
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
    f.seekp(static_cast<std::streamoff>((size / 16384 / 2) * 16384));
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

TEST_F(StoreTest, InventoryDigestsRoundTripAndRollBackWithTheirTransaction) {
  auto s = open();
  const std::string digest = std::string(1, '\0') + "\x01" + "binary" + "\xff";
  {
    auto tx = s->begin().value();
    const std::vector<InventoryDigest> two = {{"dev1", digest, std::string("v\0\x01", 3)},
                                              {"dev2", "d2", std::nullopt}};
    ASSERT_TRUE(s->put_inventory_digests(two));
    ASSERT_TRUE(tx.commit());
  }
  std::map<std::string, std::pair<std::string, bool>> seen;
  auto scan = [&] {
    seen.clear();
    ASSERT_TRUE(s->scan_inventory_digests([&](std::string_view id, std::string_view d, bool v) {
      seen[std::string(id)] = {std::string(d), v};
    }));
  };
  scan();
  EXPECT_EQ(seen.size(), 2U);
  EXPECT_EQ(seen["dev1"], std::make_pair(digest, true));
  EXPECT_EQ(seen["dev2"], std::make_pair(std::string("d2"), false));
  EXPECT_EQ(s->inventory_versions("dev1").value(),
            std::optional<std::string>(std::string("v\0\x01", 3)));
  EXPECT_EQ(s->inventory_versions("dev2").value(), std::nullopt);
  EXPECT_EQ(s->inventory_versions("nobody").value(), std::nullopt);
  {
    // Not committed: the erase and the replacement are undone.
    auto tx = s->begin().value();
    ASSERT_TRUE(s->erase_inventory_digest("dev2"));
    const std::vector<InventoryDigest> other = {{"dev1", "other", std::nullopt}};
    ASSERT_TRUE(s->put_inventory_digests(other));
  }
  scan();
  EXPECT_EQ(seen.size(), 2U);
  EXPECT_EQ(seen["dev1"].first, digest);
  {
    auto tx = s->begin().value();
    ASSERT_TRUE(s->erase_inventory_digest("dev2"));
    ASSERT_TRUE(tx.commit());
  }
  scan();
  EXPECT_EQ(seen.size(), 1U);
  ASSERT_TRUE(s->clear_inventory_digests());
  scan();
  EXPECT_TRUE(seen.empty());
}

TEST_F(StoreTest, InstalledPackagesMarkedSeenByDeviceSurviveTheSweep) {
  auto s = open();
  auto ip = [](const std::string& device, const std::string& sw) {
    model::InstalledPackage p;
    p.uid = device + "_" + sw;
    p.type = sw;
    p.targets = device;
    p.version = {"1.0"};
    return p;
  };
  std::vector<model::InstalledPackage> rows = {ip("dev1", "a"), ip("dev1", "b"), ip("dev2", "a")};
  {
    auto tx = s->begin().value();
    ASSERT_TRUE(s->upsert(ctx(1, true), std::span<const model::InstalledPackage>(rows)));
    ASSERT_TRUE(tx.commit());
  }
  ASSERT_TRUE(s->sweep(ObjectType::installed_package, ctx(1), at("2025-06-01T00:00:00Z")));
  {
    // Run 2 reads dev1 unchanged (marked, not upserted) and no longer lists dev2.
    auto tx = s->begin().value();
    EXPECT_EQ(s->mark_installed_seen(ctx(2, true), "dev1").value(), 2);
    EXPECT_EQ(s->mark_installed_seen(ctx(2, true), "nobody").value(), 0);
    EXPECT_EQ(s->sweep(ObjectType::installed_package, ctx(2), at("2025-06-01T06:00:00Z"))->closed,
              1);
    ASSERT_TRUE(tx.commit());
  }
  EXPECT_EQ(scalar(m_path,
                   "SELECT group_concat(uid || '=' || status, ' ') FROM "
                   "(SELECT uid, status FROM installed_package ORDER BY uid)"),
            "dev1_a=Installed dev1_b=Installed dev2_a=Removed");
}

}  // namespace
TEST_F(StoreTest, FindingDigestsSkipDevicesAnEventChangedAndRollBackWithTheirTransaction) {
  auto s = open();
  auto finding = [](const std::string& device, const std::string& cve, const char* time) {
    auto v = vuln(device + "_" + cve, VulnerabilityStatus::active, time);
    v.targets = device;
    v.type = cve;
    return v;
  };
  std::vector<model::Vulnerability> rows = {finding("dev1", "CVE-1", "2025-06-01T00:00:00Z"),
                                            finding("dev2", "CVE-2", "2025-06-01T00:00:00Z")};
  {
    auto tx = s->begin().value();
    ASSERT_TRUE(s->upsert(ctx(1, true), std::span<const model::Vulnerability>(rows)));
    const std::vector<InventoryDigest> two = {{"dev1", "d1", std::nullopt},
                                              {"dev2", "d2", std::nullopt}};
    ASSERT_TRUE(s->put_finding_digests(two));
    ASSERT_TRUE(tx.commit());
  }
  std::map<std::string, std::string> seen;
  auto scan = [&](std::optional<Timestamp> changed_after) {
    seen.clear();
    ASSERT_TRUE(s->scan_finding_digests(
        changed_after,
        [&](std::string_view id, std::string_view d) { seen[std::string(id)] = std::string(d); }));
  };
  scan(at("2025-06-01T00:00:00Z"));
  EXPECT_EQ(seen, (std::map<std::string, std::string>{{"dev1", "d1"}, {"dev2", "d2"}}));
  {
    // An event after the full read fixes dev2's finding: its digest no longer counts.
    auto tx = s->begin().value();
    std::vector<model::Vulnerability> ev = {
        vuln("dev2_CVE-2", VulnerabilityStatus::fixed, "2025-06-01T03:00:00Z")};
    ev[0].targets = "dev2";
    ev[0].type = "CVE-2";
    ASSERT_TRUE(s->apply_vulnerability_events(ctx(2), ev, at("2025-06-01T00:00:00Z")));
    ASSERT_TRUE(tx.commit());
  }
  scan(at("2025-06-01T00:00:00Z"));
  EXPECT_EQ(seen, (std::map<std::string, std::string>{{"dev1", "d1"}}));
  scan(std::nullopt);
  EXPECT_EQ(seen.size(), 2U);
  {
    // Not committed: the erase is undone.
    auto tx = s->begin().value();
    const std::vector<std::string> dev1 = {"dev1"};
    ASSERT_TRUE(s->erase_finding_digests(dev1));
  }
  scan(std::nullopt);
  EXPECT_EQ(seen.size(), 2U);
  ASSERT_TRUE(s->clear_finding_digests());
  scan(std::nullopt);
  EXPECT_TRUE(seen.empty());
}

TEST_F(StoreTest, FindingsMarkedSeenByDeviceSurviveTheSweepAndGiveTheirLinks) {
  auto s = open();
  auto finding = [](const std::string& device, const std::string& cve, const char* rec) {
    auto v = vuln(device + "_" + cve, VulnerabilityStatus::active, "2025-06-01T00:00:00Z");
    v.targets = device;
    v.type = cve;
    if (rec != nullptr) v.source.recommendation_reference = std::string(rec);
    return v;
  };
  std::vector<model::Vulnerability> rows = {
      finding("dev1", "CVE-1", "rec-a"), finding("dev1", "CVE-2", nullptr),
      finding("dev2", "CVE-1", "rec-a"), finding("dev3", "CVE-3", "rec-b")};
  {
    auto tx = s->begin().value();
    ASSERT_TRUE(s->upsert(ctx(1, true), std::span<const model::Vulnerability>(rows)));
    ASSERT_TRUE(s->sweep(ObjectType::vulnerability, ctx(1), at("2025-06-01T00:00:00Z")));
    ASSERT_TRUE(tx.commit());
  }
  {
    // Run 2 finds dev1 and dev2 unchanged (marked, not upserted); dev3 is gone.
    auto tx = s->begin().value();
    std::set<std::pair<std::string, std::string>> links;
    const std::vector<std::string> devices = {"dev1", "dev2", "nobody"};
    auto marked = s->mark_findings_seen(
        ctx(2, true, false), devices,
        [&](std::string_view cve, std::string_view rec) { links.emplace(cve, rec); });
    ASSERT_TRUE(marked) << marked.error().message;
    EXPECT_EQ(*marked, 3);
    EXPECT_EQ(links, (std::set<std::pair<std::string, std::string>>{{"CVE-1", "rec-a"}}));
    EXPECT_EQ(s->sweep(ObjectType::vulnerability, ctx(2), at("2025-06-01T06:00:00Z"))->closed, 1);
    ASSERT_TRUE(tx.commit());
  }
  EXPECT_EQ(scalar(m_path,
                   "SELECT group_concat(uid || '=' || status, ' ') FROM "
                   "(SELECT uid, status FROM vulnerability ORDER BY uid)"),
            "dev1_CVE-1=Active dev1_CVE-2=Active dev2_CVE-1=Active dev3_CVE-3=Fixed");
}

}  // namespace mdesync::store
