// The Store contract, one suite run unchanged against every backend (issue 18): the
// SQLite store on a file and the PostgreSQL store in a schema of its own on the test
// cluster (scripts/pg-cluster, started by the CTest fixture `pg_cluster`). Backend-
// specific behaviour (SQLite files, pages, indexes; PostgreSQL tenants and connections)
// is tested in store_test.cpp and at the end of this file.

#include <gtest/gtest.h>

#include <fmt/format.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <unistd.h>
#include <future>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "model/hash.hpp"
#include "store/open.hpp"
#include "store/store.hpp"
#include "store_rows.hpp"
#include "temp_dir.hpp"

namespace mdesync::store {
namespace {

namespace fs = std::filesystem;
using model::StatusCategory;
using model::VulnerabilityStatus;
using test_rows::at;
using test_rows::ctx;
using test_rows::host;
using test_rows::vuln;

// The test cluster's URL: MDESYNC_TEST_PG_URL, else what the CTest fixture wrote.
std::string pg_base_url() {
  if (const char* env = std::getenv("MDESYNC_TEST_PG_URL"); env != nullptr && *env != '\0') {
    return env;
  }
  std::ifstream f(std::string(MDESYNC_BINARY_DIR) + "/pg-cluster/url");
  std::string url;
  std::getline(f, url);
  return url;
}

// Runs `sql` on a connection of its own; the first column of the first row as text.
std::string pg_scalar(const std::string& url, const std::string& sql) {
  PGconn* c = PQconnectdb(url.c_str());
  std::string out;
  if (PQstatus(c) == CONNECTION_OK) {
    PGresult* r = PQexec(c, sql.c_str());
    const auto st = PQresultStatus(r);
    if (st == PGRES_TUPLES_OK && PQntuples(r) > 0 && PQgetisnull(r, 0, 0) == 0) {
      out = PQgetvalue(r, 0, 0);
    } else if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
      ADD_FAILURE() << sql << ": " << PQresultErrorMessage(r);
    }
    PQclear(r);
  } else {
    ADD_FAILURE() << "cannot connect to the test cluster: " << PQerrorMessage(c);
  }
  PQfinish(c);
  return out;
}

class StoreContract : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    if (pg()) {
      m_base = pg_base_url();
      ASSERT_FALSE(m_base.empty())
          << "no PostgreSQL test cluster: run the tests through ctest (fixture pg_cluster) or "
             "set MDESYNC_TEST_PG_URL";
      m_schema = schema_for(info->name());
      admin("DROP SCHEMA IF EXISTS " + m_schema + " CASCADE");
      return;
    }
    m_dir = m_tmp.emplace(std::string("mdesync-contract-") + info->name()).path();
    m_path = (m_dir / "store.db").string();
  }
  void TearDown() override {
    if (pg()) {
      if (!m_base.empty()) {
        admin("DROP SCHEMA IF EXISTS " + m_schema + " CASCADE");
        for (const auto& other : m_other_schemas)
          admin("DROP SCHEMA IF EXISTS " + other + " CASCADE");
      }
      return;
    }
    m_tmp.reset();
  }

  [[nodiscard]] bool pg() const { return GetParam() == "postgresql"; }

  // A schema per test (and process): tests of both backends run in parallel.
  static std::string schema_for(const std::string& test) {
    return "t" + std::to_string(::getpid()) + "_" +
           std::to_string(std::hash<std::string>{}(test) % 1000000007U);
  }

  // The store of `tenant` (another schema, or another SQLite file) next to this test's.
  std::string tenant_url(const std::string& tenant) {
    if (!pg()) return "sqlite:" + (m_dir / (tenant + ".db")).string();
    m_other_schemas.push_back(m_schema + "_" + tenant);
    return url(m_other_schemas.back());
  }

  std::string url(const std::string& schema = {}) const {
    if (!pg()) return "sqlite:" + m_path;
    return m_base + (m_base.find('?') == std::string::npos ? "?" : "&") +
           "schema=" + (schema.empty() ? m_schema : schema);
  }

  // SQL on the store's database, outside the Store (the test's own connection).
  std::string scalar(const std::string& sql) const {
    if (!pg()) return test_rows::scalar(m_path, sql);
    return pg_scalar(m_base, "SET search_path = " + m_schema + "; " + sql);
  }
  // The same on the store tenant_url("merged") names.
  std::string merged_scalar(const std::string& sql) const {
    if (!pg()) return test_rows::scalar((m_dir / "merged.db").string(), sql);
    return pg_scalar(m_base, "SET search_path = " + m_schema + "_merged; " + sql);
  }
  std::string admin(const std::string& sql) const {
    return pg_scalar(m_base, "SET client_min_messages = warning; " + sql);
  }

  int latest_version() const { return pg() ? 6 : 8; }

  std::unique_ptr<Store> open(OpenOptions options = {}) {
    auto s = open_store(url(), options);
    EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().message);
    return s ? std::move(*s) : nullptr;
  }

  std::string m_base;
  std::string m_schema;
  std::vector<std::string> m_other_schemas;
  std::optional<::testing_support::TempDir> m_tmp;  // the test's own folder
  fs::path m_dir;
  std::string m_path;
};

TEST_P(StoreContract, MigratesAnEmptyFileAndReopensWithoutChange) {
  {
    auto s = open();
    ASSERT_TRUE(s);
    EXPECT_EQ(s->schema_version().value(), latest_version());
  }
  auto s = open();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->schema_version().value(), latest_version());
  EXPECT_TRUE(s->count_by_status().value().empty());
  EXPECT_TRUE(s->checkpoints().value().empty());
}

TEST_P(StoreContract, UpsertIsIdempotentAndRoundTrips) {
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

TEST_P(StoreContract, UncommittedTransactionRollsBack) {
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

TEST_P(StoreContract, RowsAndCheckpointCommitTogether) {
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

TEST_P(StoreContract, SweepClosesOnlyWhatTheRunDidNotSee) {
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
TEST_P(StoreContract, SweepAfterAReadWithoutKeyIndexClosesWhatItDidNotSee) {
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
TEST_P(StoreContract, ARewrittenFindingKeepsItsStateTimeWhileItsStatusHolds) {
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
}

TEST_P(StoreContract, SweepMarksHostsRemovedAndIsScopedToTheRun) {
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

TEST_P(StoreContract, DeltaRules) {
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

TEST_P(StoreContract, DeltaPairSplitAcrossCallsStaysOpen) {
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

TEST_P(StoreContract, BaselineMakesOlderEventsStale) {
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

TEST_P(StoreContract, SecondExclusiveOpenIsRefused) {
  auto first = open(OpenOptions{true, false});
  ASSERT_TRUE(first);
  auto second = open_store(url(), OpenOptions{true, false});
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, util::ErrorCode::store_locked);
  EXPECT_NE(second.error().message.find("another mdesync sync"), std::string::npos);
  // Readers are not blocked.
  EXPECT_TRUE(open_store(url(), OpenOptions{false, true}).has_value());
  first.reset();
  EXPECT_TRUE(open_store(url(), OpenOptions{true, false}).has_value());
}

TEST_P(StoreContract, RunsCountsAndScans) {
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

TEST_P(StoreContract, EveryObjectRoundTrips) {
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

// The rows of a first load are seen by its read: a sweep after the commit closes none.
TEST_P(StoreContract, FirstLoadRowsAreSeenBySweepAfterCommit) {
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

// A sync killed with -9 leaves its run without an outcome; once no process holds the
// sync lock, status reports it interrupted, and the next sync records it so.
TEST_P(StoreContract, KilledRunIsInterruptedOnceNoSyncHoldsTheLock) {
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
    EXPECT_EQ(scalar("SELECT count(*) FROM sync_run WHERE outcome IS NULL"), "1")
        << "a reader writes nothing";
  }
  auto next = open({true, false});
  ASSERT_TRUE(next->begin_run("full", {"machine"}, at("2025-06-02T00:00:00Z")));
  EXPECT_EQ(scalar("SELECT outcome FROM sync_run WHERE id = " + std::to_string(killed)),
            "interrupted");
}

// An interrupted sync ends the store statement in progress (a long sweep or index build)
// through the store's interrupter, called from another thread; the store stays usable.
TEST_P(StoreContract, InterrupterEndsTheStatementInProgress) {
  auto s = open({true, false});
  ASSERT_TRUE(s);
  const auto interrupt = s->interrupter();
  auto query = std::async(std::launch::async, [&] {
    return s->read_query(
        "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 2000000000) "
        "SELECT count(*) FROM c",
        [](const QueryRow&) { return true; });
  });
  // A call while no statement runs changes nothing: call until the query has ended.
  bool ended = false;
  for (int i = 0; i < 1200 && !ended; ++i) {
    interrupt();
    ended = query.wait_for(std::chrono::milliseconds{50}) == std::future_status::ready;
  }
  ASSERT_TRUE(ended) << "the statement was not interrupted";
  EXPECT_FALSE(query.get());
  // The next statements run.
  EXPECT_TRUE(s->begin_run("full", {"machine"}, at("2025-06-01T00:00:00Z")));
  EXPECT_TRUE(s->recent_runs(5));
}

TEST_P(StoreContract, InventoryDigestsRoundTripAndRollBackWithTheirTransaction) {
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

TEST_P(StoreContract, InstalledPackagesMarkedSeenByDeviceSurviveTheSweep) {
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
  std::string states;
  ASSERT_TRUE(s->scan(RowVisitor<model::InstalledPackage>([&](const model::InstalledPackage& r) {
    states += (states.empty() ? "" : " ") + r.uid + "=" + std::string(model::to_string(r.status));
    return true;
  })));
  EXPECT_EQ(states, "dev1_a=Installed dev1_b=Installed dev2_a=Removed");
}

TEST_P(StoreContract, FindingDigestsSkipDevicesAnEventChangedAndRollBackWithTheirTransaction) {
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

TEST_P(StoreContract, FindingsMarkedSeenByDeviceSurviveTheSweepAndGiveTheirLinks) {
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
    std::vector<std::int64_t> per_device(devices.size(), -1);
    auto marked = s->mark_findings_seen(
        ctx(2, true, false), devices,
        [&](std::string_view cve, std::string_view rec) { links.emplace(cve, rec); }, per_device);
    ASSERT_TRUE(marked) << marked.error().message;
    EXPECT_EQ(*marked, 3);
    EXPECT_EQ(per_device, (std::vector<std::int64_t>{2, 1, 0}));
    EXPECT_EQ(links, (std::set<std::pair<std::string, std::string>>{{"CVE-1", "rec-a"}}));
    EXPECT_EQ(s->sweep(ObjectType::vulnerability, ctx(2), at("2025-06-01T06:00:00Z"))->closed, 1);
    ASSERT_TRUE(tx.commit());
  }
  std::string states;
  ASSERT_TRUE(s->scan(RowVisitor<model::Vulnerability>([&](const model::Vulnerability& r) {
    states += (states.empty() ? "" : " ") + r.uid + "=" + std::string(model::to_string(r.status));
    return true;
  })));
  EXPECT_EQ(states, "dev1_CVE-1=Active dev1_CVE-2=Active dev2_CVE-1=Active dev3_CVE-3=Fixed");
}

// A device whose lines moved only their lastSeenTimestamp is one row (ADR 0110): its open
// findings show that time without being written; a closed one keeps the time it had when
// it closed; a line read again rewrites its finding, even one equal to the row's own
// (stale) content.
TEST_P(StoreContract, AMovedDeviceIsOneRowThatItsOpenFindingsFollow) {
  auto s = open();
  const char* t1 = "2025-06-01T00:00:00.000000Z";
  const char* t2 = "2025-06-02T00:00:00.000000Z";
  const char* t3 = "2025-06-03T00:00:00.000000Z";
  auto finding = [&](const std::string& device, const std::string& cve, const char* last_found) {
    auto v = vuln(device + "_" + cve, VulnerabilityStatus::active, "2025-06-01T00:00:00Z");
    v.targets = device;
    v.type = cve;
    v.last_found = at(last_found);
    return v;
  };
  auto shown = [&](const std::string& uid) {
    return scalar(
        "SELECT last_found || ' ' || status_category || ' ' || last_run_id FROM "
        "vulnerability WHERE uid = '" +
        uid + "'");
  };
  auto moved = [&](RunId run, const char* time) {
    const std::vector<FindingLastFound> devices = {{"dev1", at(time)}};
    auto changed = s->set_findings_last_found(ctx(run, true, false), devices);
    EXPECT_TRUE(changed) << changed.error().message;
    return changed.value_or(-1);
  };
  {
    std::vector<model::Vulnerability> rows = {
        finding("dev1", "CVE-1", t1), finding("dev1", "CVE-2", t1), finding("dev2", "CVE-1", t1)};
    auto tx = s->begin().value();
    ASSERT_TRUE(s->upsert(ctx(1, true), std::span<const model::Vulnerability>(rows)));
    ASSERT_TRUE(tx.commit());
  }
  {
    auto tx = s->begin().value();
    EXPECT_EQ(moved(2, t2), 2);
    ASSERT_TRUE(tx.commit());
  }
  EXPECT_EQ(shown("dev1_CVE-1"), std::string(t2) + " Open 2");
  EXPECT_EQ(shown("dev1_CVE-2"), std::string(t2) + " Open 2");
  EXPECT_EQ(shown("dev2_CVE-1"), std::string(t1) + " Open 1");
  // One row for the device; no finding was written.
  EXPECT_EQ(scalar("SELECT count(*) FROM vulnerability_device_seen"), "1");
  EXPECT_EQ(scalar("SELECT count(*) FROM vulnerability_finding WHERE last_run_id > 1"), "0");
  {
    auto tx = s->begin().value();
    EXPECT_EQ(moved(3, t2), 0);  // already at that time
    ASSERT_TRUE(tx.commit());
  }
  {
    // Run 4 reads dev1_CVE-1 with the time its row still holds (the device's time went
    // back), marks dev2 seen and misses dev1_CVE-2, which closes at the time it showed.
    auto tx = s->begin().value();
    std::vector<model::Vulnerability> rows = {finding("dev1", "CVE-1", t1)};
    auto up = s->upsert(ctx(4, true, false), std::span<const model::Vulnerability>(rows));
    ASSERT_TRUE(up) << up.error().message;
    EXPECT_EQ(up->written, 1);
    const std::vector<std::string> devices = {"dev2"};
    ASSERT_TRUE(s->mark_findings_seen(ctx(4, true, false), devices,
                                      [](std::string_view, std::string_view) {}, {}));
    EXPECT_EQ(s->sweep(ObjectType::vulnerability, ctx(4), at("2025-06-04T00:00:00Z"))->closed, 1);
    ASSERT_TRUE(tx.commit());
  }
  EXPECT_EQ(shown("dev1_CVE-1"), std::string(t1) + " Open 4");
  EXPECT_EQ(shown("dev1_CVE-2"), std::string(t2) + " Closed 4");
  {
    auto tx = s->begin().value();
    EXPECT_EQ(moved(5, t3), 1);  // the open finding follows again; the closed one does not
    ASSERT_TRUE(tx.commit());
  }
  EXPECT_EQ(shown("dev1_CVE-1"), std::string(t3) + " Open 5");
  EXPECT_EQ(shown("dev1_CVE-2"), std::string(t2) + " Closed 4");
  EXPECT_EQ(s->find_vulnerability("dev1_CVE-1").value()->last_found, at(t3));
}

// A partly decoded device's findings whose lines are gone (ADR 0111) close by their
// identity as the sweep would close them, at the last_found they showed, before the
// device's open findings follow its new time.
TEST_P(StoreContract, GoneFindingsCloseByIdentityAtTheTimeTheyShowed) {
  auto s = open();
  const char* t1 = "2025-06-01T00:00:00.000000Z";
  const char* t2 = "2025-06-02T00:00:00.000000Z";
  const char* t3 = "2025-06-03T00:00:00.000000Z";
  auto finding = [&](const std::string& cve) {
    auto v = vuln("dev1_" + cve, VulnerabilityStatus::active, "2025-06-01T00:00:00Z");
    v.targets = "dev1";
    v.type = cve;
    v.last_found = at(t1);
    return v;
  };
  auto shown = [&](const std::string& uid) {
    return scalar(
        "SELECT last_found || ' ' || status || ' ' || coalesce(last_fixed, '-') FROM "
        "vulnerability WHERE uid = '" +
        uid + "'");
  };
  {
    std::vector<model::Vulnerability> rows = {finding("CVE-1"), finding("CVE-2"), finding("CVE-3")};
    auto tx = s->begin().value();
    ASSERT_TRUE(s->upsert(ctx(1, true), std::span<const model::Vulnerability>(rows)));
    ASSERT_TRUE(tx.commit());
  }
  {
    auto tx = s->begin().value();
    const std::vector<FindingLastFound> devices = {{"dev1", at(t2)}};
    ASSERT_TRUE(s->set_findings_last_found(ctx(2, true, false), devices));
    ASSERT_TRUE(tx.commit());
  }
  {
    auto tx = s->begin().value();
    const std::vector<GoneFindings> gone = {
        {"dev1", {finding_identity("dev1_CVE-2"), finding_identity("dev1_CVE-9")}},
        {"nobody", {finding_identity("nobody_CVE-1")}}};
    auto closed = s->close_gone_findings(ctx(3, true, false), at(t3), gone);
    ASSERT_TRUE(closed) << closed.error().message;
    EXPECT_EQ(*closed, 1);
    const std::vector<FindingLastFound> devices = {{"dev1", at(t3)}};
    EXPECT_EQ(s->set_findings_last_found(ctx(3, true, false), devices).value_or(-1), 2);
    ASSERT_TRUE(tx.commit());
  }
  EXPECT_EQ(shown("dev1_CVE-1"), std::string(t3) + " Active -");
  EXPECT_EQ(shown("dev1_CVE-2"), std::string(t2) + " Fixed " + t3);
  EXPECT_EQ(shown("dev1_CVE-3"), std::string(t3) + " Active -");
  EXPECT_EQ(scalar("SELECT count(*) FROM vulnerability_history WHERE event = 'Fixed'"), "1");
}

// Migrations are recorded; a store migrated by a newer mdesync is refused untouched.
TEST_P(StoreContract, MigrationsAreRecordedAndANewerStoreIsRefused) {
  { auto s = open(); }
  EXPECT_EQ(scalar("SELECT count(*) FROM schema_version"), std::to_string(latest_version()));
  { auto s = open(); }  // a reopen applies nothing again
  EXPECT_EQ(scalar("SELECT count(*) FROM schema_version"), std::to_string(latest_version()));
  scalar(
      "INSERT INTO schema_version (version, description, applied_at) VALUES (99, 'future', "
      "'2030-01-01T00:00:00.000000Z')");
  auto s = open_store(url());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, util::ErrorCode::store);
  EXPECT_NE(s.error().message.find("newer"), std::string::npos) << s.error().message;
}

// Tenants do not wait for each other: two syncs, one per tenant, each inside an open
// transaction at once; a second sync of the same tenant is refused, a reader is not.
TEST_P(StoreContract, TwoTenantsSyncConcurrentlyAndTheSameTenantIsRefused) {
  auto a = open(OpenOptions{.exclusive = true});
  ASSERT_TRUE(a);
  auto again = open_store(url(), OpenOptions{.exclusive = true});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, util::ErrorCode::store_locked);
  const std::string other = tenant_url("b");
  auto b_opened = open_store(other, OpenOptions{.exclusive = true});
  ASSERT_TRUE(b_opened) << b_opened.error().message;
  auto& b = *b_opened;

  std::vector<model::Vulnerability> rows;
  for (int i = 0; i < 3000; ++i) {
    auto v = vuln("dev" + std::to_string(i % 30) + "_v_n_" + std::to_string(i) + "_CVE-2025-1",
                  VulnerabilityStatus::active, "2025-06-01T00:00:00Z");
    v.targets = "dev" + std::to_string(i % 30);
    rows.push_back(v);
  }
  auto tx_a = a->begin();
  auto tx_b = b->begin();
  ASSERT_TRUE(tx_a && tx_b);
  std::vector<model::Vulnerability> half_a(rows.begin(), rows.begin() + 1500);
  ASSERT_TRUE(a->upsert(ctx(1, true), std::span<const model::Vulnerability>(half_a)));
  ASSERT_TRUE(b->upsert(ctx(1, true), std::span<const model::Vulnerability>(rows)));
  std::vector<model::Vulnerability> half_b(rows.begin() + 1500, rows.end());
  ASSERT_TRUE(a->upsert(ctx(1, true), std::span<const model::Vulnerability>(half_b)));
  // Readers of either tenant see the last committed state while both write.
  auto reader = open_store(url(), OpenOptions{.read_only = true});
  if (pg() || reader) {
    ASSERT_TRUE(reader) << reader.error().message;
    EXPECT_TRUE((*reader)->count_by_status().value().empty());
  }
  ASSERT_TRUE(tx_b->commit());
  ASSERT_TRUE(tx_a->commit());
  for (Store* s : {a.get(), b.get()}) {
    auto counts = s->count_by_status().value();
    ASSERT_EQ(counts.size(), 1U);
    EXPECT_EQ(counts[0].status, "Active");
    EXPECT_EQ(counts[0].count, 3000);
  }
}

// Findings whose context rows differ in every way the interning must tell apart: NULL
// from empty, doubles, booleans, lists, a source_uid that starts with its device and
// one that does not.
std::vector<model::Vulnerability> varied_findings(int devices, int per_device) {
  std::vector<model::Vulnerability> out;
  for (int d = 0; d < devices; ++d) {
    for (int i = 0; i < per_device; ++i) {
      const std::string dev = "dev" + std::to_string(d);
      auto v = vuln(dev + "_sw_" + std::to_string(i) + "_CVE-2025-" + std::to_string(i),
                    i % 5 == 4 ? VulnerabilityStatus::fixed : VulnerabilityStatus::active,
                    "2025-06-01T00:00:00Z");
      v.targets = dev;
      v.type = "CVE-2025-" + std::to_string(i);
      v.hostnames = d % 3 == 0 ? model::Strings{} : model::Strings{dev + ".corp", dev + ".lan"};
      v.first_found = at("2025-05-01T10:00:00.123456Z");
      v.last_found = at("2025-06-01T00:00:00Z");
      v.source_uid = i % 4 == 0   ? std::optional<std::string>(v.uid + "_x")
                     : i % 4 == 1 ? std::optional<std::string>("other-" + std::to_string(i))
                                  : std::nullopt;
      v.results = i % 2 == 0 ? std::optional<std::string>("") : std::nullopt;
      v.source.cvss_score = i % 3 == 0 ? std::optional<double>(0.1 + 0.2 * i) : std::nullopt;
      v.source.is_onboarded = d % 2 == 0 ? std::optional<bool>(true) : std::optional<bool>(false);
      v.source.security_update_available = i % 3 == 1 ? std::optional<bool>(false) : std::nullopt;
      v.source.os_platform = d % 2 == 0 ? std::optional<std::string>("Windows11") : std::nullopt;
      v.source.software_version = std::to_string(i % 7) + ".0";
      out.push_back(v);
    }
  }
  return out;
}

// Every stored finding by uid: its content hash, state time and meta.
std::map<std::string, std::string> findings_of(Store& s) {
  std::map<std::string, std::string> out;
  EXPECT_TRUE(s.scan(RowVisitor<model::Vulnerability>([&](const model::Vulnerability& r) {
    out[r.uid] = std::to_string(model::content_hash(r)) + " " +
                 std::to_string(r.state_time ? r.state_time->time_since_epoch().count() : -1) +
                 " " + std::to_string(r.meta.last_run_id.value_or(-1));
    return true;
  })));
  return out;
}

// A first load (bulk: appended, PostgreSQL's streamed COPY) and the same rows merged
// into the table give the same findings, and the same interned rows.
TEST_P(StoreContract, FirstLoadAndMergeStoreTheSameFindings) {
  const auto rows = varied_findings(12, 40);
  const std::span<const model::Vulnerability> all(rows);
  auto loaded = open();
  ASSERT_TRUE(loaded);
  {
    auto tx = loaded->begin().value();
    EXPECT_EQ(loaded->upsert(ctx(1, true), all.subspan(0, 200))->written, 200);
    EXPECT_EQ(loaded->upsert(ctx(1, true), all.subspan(200))->written, 280);
    ASSERT_TRUE(tx.commit());
  }
  auto merged_opened = open_store(tenant_url("merged"), {});
  ASSERT_TRUE(merged_opened);
  auto& merged = *merged_opened;
  {
    // A row first, so that the read below is not a first load.
    std::vector<model::Vulnerability> one(rows.begin(), rows.begin() + 1);
    ASSERT_TRUE(merged->upsert(ctx(1, true), std::span<const model::Vulnerability>(one)));
    auto tx = merged->begin().value();
    EXPECT_EQ(merged->upsert(ctx(1, true), all.subspan(0, 200))->written, 199);
    EXPECT_EQ(merged->upsert(ctx(1, true), all.subspan(200))->written, 280);
    ASSERT_TRUE(tx.commit());
  }
  const auto a = findings_of(*loaded);
  EXPECT_EQ(a.size(), rows.size());
  EXPECT_EQ(a, findings_of(*merged));
  // Interned once each: 12 devices, 40 items; both stores hold the same context rows.
  for (const char* table : {"vulnerability_target", "vulnerability_item",
                            "vulnerability_host_context", "vulnerability_item_context"}) {
    const std::string sql = std::string("SELECT count(*) FROM ") + table;
    EXPECT_EQ(scalar(sql), merged_scalar(sql)) << table;
  }
  EXPECT_EQ(scalar("SELECT count(*) FROM vulnerability_target"), "12");
  EXPECT_EQ(scalar("SELECT count(*) FROM vulnerability_item"), "40");
  // A second read of the same rows, maps loaded again from the tables: nothing written,
  // no interned row added.
  const std::string contexts = scalar("SELECT count(*) FROM vulnerability_item_context");
  const std::string hosts = scalar("SELECT count(*) FROM vulnerability_host_context");
  loaded.reset();
  loaded = open();
  {
    auto tx = loaded->begin().value();
    auto again = loaded->upsert(ctx(2, true), all).value();
    EXPECT_EQ(again.written, 0);
    EXPECT_EQ(again.unchanged, static_cast<std::int64_t>(rows.size()));
    ASSERT_TRUE(tx.commit());
  }
  EXPECT_EQ(scalar("SELECT count(*) FROM vulnerability_item_context"), contexts);
  EXPECT_EQ(scalar("SELECT count(*) FROM vulnerability_host_context"), hosts);
}

// A uid repeated in a first load, within a batch and across batches: one row, the last.
TEST_P(StoreContract, AUidRepeatedInAFirstLoadKeepsItsLastRow) {
  auto s = open();
  auto a1 = vuln("dev1_a_CVE-1", VulnerabilityStatus::active, "2025-06-01T00:00:00Z");
  auto b = vuln("dev1_b_CVE-2", VulnerabilityStatus::active, "2025-06-01T00:00:00Z");
  auto a2 = a1;
  a2.results = "changed";
  a2.source.cvss_score = 9.1;
  auto c1 = vuln("dev1_c_CVE-3", VulnerabilityStatus::active, "2025-06-01T00:00:00Z");
  auto c2 = c1;
  c2.severity = model::Severity::low;
  auto c3 = c1;
  c3.severity = model::Severity::critical;
  std::vector<model::Vulnerability> first = {a1, b};
  std::vector<model::Vulnerability> second = {c1, a2, c2, c3};
  {
    auto tx = s->begin().value();
    EXPECT_EQ(s->upsert(ctx(1, true), std::span<const model::Vulnerability>(first))->written, 2);
    EXPECT_EQ(s->upsert(ctx(1, true), std::span<const model::Vulnerability>(second))->written, 4);
    ASSERT_TRUE(tx.commit());
  }
  const auto stored = findings_of(*s);
  ASSERT_EQ(stored.size(), 3U);
  EXPECT_EQ(model::content_hash(*s->find_vulnerability("dev1_a_CVE-1").value()),
            model::content_hash(a2));
  EXPECT_EQ(s->find_vulnerability("dev1_c_CVE-3").value()->severity, model::Severity::critical);
  EXPECT_EQ(scalar("SELECT count(*) FROM vulnerability_finding"), "3");
  // The stored hashes are the last rows': a read of them changes nothing.
  std::vector<model::Vulnerability> last = {a2, b, c3};
  auto again = s->upsert(ctx(2, true), std::span<const model::Vulnerability>(last)).value();
  EXPECT_EQ(again.unchanged, 3);
}

// A first load rolled back leaves the store as it was, indexes included; the next one
// commits.
TEST_P(StoreContract, AFirstLoadRolledBackLeavesThePreviousState) {
  auto s = open();
  const std::string index_sql =
      pg() ? "SELECT count(*) FROM pg_indexes WHERE tablename = 'vulnerability_finding' AND "
             "schemaname = current_schema()"
           : "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = "
             "'vulnerability_finding'";
  const std::string indexes = scalar(index_sql);
  std::vector<model::Host> hosts = {host("dev0")};
  ASSERT_TRUE(s->upsert(ctx(1), std::span<const model::Host>(hosts)));
  const auto rows = varied_findings(3, 10);
  const std::span<const model::Vulnerability> all(rows);
  {
    auto tx = s->begin().value();
    ASSERT_TRUE(s->upsert(ctx(2, true), all.subspan(0, 12)));
    ASSERT_TRUE(s->upsert(ctx(2, true), all.subspan(12)));
    tx.rollback();
  }
  EXPECT_TRUE(findings_of(*s).empty());
  EXPECT_EQ(scalar("SELECT count(*) FROM vulnerability_finding"), "0");
  EXPECT_EQ(scalar("SELECT count(*) FROM vulnerability_item_context"), "0");
  EXPECT_EQ(scalar(index_sql), indexes);
  EXPECT_TRUE(s->find_host("dev0").value().has_value());
  {
    auto tx = s->begin().value();
    EXPECT_EQ(s->upsert(ctx(3, true), all)->written, 30);
    ASSERT_TRUE(tx.commit());
  }
  EXPECT_EQ(findings_of(*s).size(), 30U);
  EXPECT_EQ(scalar(index_sql), indexes);
  EXPECT_EQ(s->upsert(ctx(4, true), all)->unchanged, 30);
}

// Rows written into an empty table by another operation (delta events, an upsert that
// is not a full read), then a full read of them in the same transaction: the read
// merges, it does not append those keys a second time.
TEST_P(StoreContract, AReadAfterOtherWritesInTheSameTransactionIsNotAppended) {
  auto s = open();
  auto a = vuln("dev1_a_CVE-1", VulnerabilityStatus::active, "2025-06-01T00:00:00Z");
  auto b = vuln("dev1_b_CVE-2", VulnerabilityStatus::active, "2025-06-01T00:00:00Z");
  auto c = vuln("dev1_c_CVE-3", VulnerabilityStatus::active, "2025-06-01T00:00:00Z");
  std::vector<model::Vulnerability> plain = {a};
  std::vector<model::Vulnerability> events = {b};
  std::vector<model::Vulnerability> read = {a, b, c};
  {
    auto tx = s->begin().value();
    ASSERT_TRUE(s->upsert(ctx(1), std::span<const model::Vulnerability>(plain)));
    ASSERT_TRUE(s->apply_vulnerability_events(ctx(1), std::span<const model::Vulnerability>(events),
                                              std::nullopt));
    auto counts = s->upsert(ctx(1, true), std::span<const model::Vulnerability>(read));
    ASSERT_TRUE(counts) << counts.error().message;
    auto committed = tx.commit();
    ASSERT_TRUE(committed) << committed.error().message;
  }
  EXPECT_EQ(findings_of(*s).size(), 3U);
  EXPECT_EQ(scalar("SELECT count(*) FROM vulnerability_finding"), "3");
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreContract, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& p) { return p.param; });

// --- PostgreSQL only ----------------------------------------------------------------------

class PgStoreTest : public StoreContract {
 protected:
  // The installed package of software `sw` on device `device`.
  static model::InstalledPackage installed(int device, int sw, const std::string& version) {
    model::InstalledPackage p;
    p.targets = fmt::format("dev{:04}", device);
    p.type = fmt::format("sw{:03}", sw);
    p.uid = p.targets + "_" + p.type;
    p.version = {version};
    return p;
  }
  // A full read's context whose installed packages the store may hold (ADR 0106).
  static WriteContext held_read(RunId run) {
    WriteContext hold = ctx(run, true, false);
    hold.hold = true;
    return hold;
  }
  static void add_counts(UpsertCounts& total, const UpsertCounts& c) {
    total.written += c.written;
    total.unchanged += c.unchanged;
  }
  // From now on, each INSERT statement into the installed packages' table (each merge)
  // adds a row to `merges`.
  void count_installed_merges() const {
    admin("CREATE TABLE " + m_schema + ".merges (n int); CREATE FUNCTION " + m_schema +
          ".count_merge() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN INSERT INTO " + m_schema +
          ".merges VALUES (1); RETURN NULL; END$$; CREATE TRIGGER count_merge AFTER INSERT ON " +
          m_schema + ".installed_package_entry FOR EACH STATEMENT EXECUTE FUNCTION " + m_schema +
          ".count_merge()");
  }
};

// The server drops the sync's connection in the middle of an object: the object fails
// and nothing of it is stored; the next transaction reconnects, takes the sync lock
// again and commits.
TEST_P(PgStoreTest, ConnectionLostMidObjectThenResumed) {
  auto s = open(OpenOptions{.exclusive = true});
  ASSERT_TRUE(s);
  std::vector<model::Host> first = {host("a"), host("b")};
  {
    auto tx = s->begin().value();
    ASSERT_TRUE(s->upsert(ctx(1, true), std::span<const model::Host>(first)));
    admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = "
        "'mdesync/" +
        m_schema + "'");
    std::vector<model::Host> more = {host("c")};
    auto lost = s->upsert(ctx(1, true), std::span<const model::Host>(more));
    ASSERT_FALSE(lost);
    EXPECT_EQ(lost.error().code, util::ErrorCode::store);
    EXPECT_FALSE(tx.commit());
  }
  EXPECT_FALSE(s->find_host("a").value().has_value());  // reconnected: nothing was stored
  auto refused = open_store(url(), OpenOptions{.exclusive = true});
  ASSERT_FALSE(refused) << "the sync lock was taken again";
  EXPECT_EQ(refused.error().code, util::ErrorCode::store_locked);
  {
    auto tx = s->begin().value();
    ASSERT_TRUE(s->upsert(ctx(2, true), std::span<const model::Host>(first)));
    ASSERT_TRUE(tx.commit());
  }
  EXPECT_EQ(s->find_host("a").value()->meta.last_run_id, 2);
}

// Without `schema=` in the URL the tenant id names the schema: mdesync_<tenant>.
TEST_P(PgStoreTest, TheTenantIdNamesTheSchema) {
  const std::string tenant = "T" + std::to_string(::getpid()) + "-" + m_schema;
  const std::string schema = "mdesync_t" + std::to_string(::getpid()) + "_" + m_schema;
  m_other_schemas.push_back(schema);
  {
    auto s = open_store(m_base, OpenOptions{.tenant = tenant});
    ASSERT_TRUE(s) << s.error().message;
  }
  EXPECT_EQ(admin("SELECT count(*) FROM pg_tables WHERE schemaname = '" + schema +
                  "' AND tablename = 'vulnerability_finding'"),
            "1");
}

// The PostgreSQL example queries of docs/schema.md run as printed against a store with a
// row in each view.
TEST_P(PgStoreTest, SchemaDocsExampleQueriesRun) {
  {
    auto s = open();
    ASSERT_TRUE(s);
    std::vector<model::Vulnerability> v = {vuln(
        "dev1_acme_viewer_1.0_CVE-2025-40001", VulnerabilityStatus::fixed, "2025-06-01T00:00:00Z")};
    v[0].first_found = at("2025-05-01T00:00:00Z");
    model::InstalledPackage p;
    p.uid = "dev1_mozilla-_-firefox";
    p.type = "mozilla-_-firefox";
    p.targets = "dev1";
    p.version = {"128.0"};
    std::vector<model::Host> h = {host("dev1")};
    h[0].private_ip_addresses = {"10.0.0.1"};
    ASSERT_TRUE(s->upsert(ctx(1), std::span<const model::Vulnerability>(v)));
    ASSERT_TRUE(s->upsert(ctx(1), std::span<const model::InstalledPackage>(&p, 1)));
    ASSERT_TRUE(s->upsert(ctx(1), std::span<const model::Host>(h)));
  }
  std::ifstream in(std::string(MDESYNC_SOURCE_DIR) + "/docs/schema.md");
  const std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  int n = 0;
  for (auto open_at = doc.find("```postgresql\n"); open_at != std::string::npos;
       open_at = doc.find("```postgresql\n", open_at + 1)) {
    const auto body = open_at + 14;
    const std::string sql = doc.substr(body, doc.find("```", body) - body);
    SCOPED_TRACE(sql);
    scalar(sql);  // a failing query fails the test (pg_scalar)
    ++n;
  }
  EXPECT_GE(n, 9);
  EXPECT_EQ(scalar("SELECT count(*) FROM vulnerability v JOIN host h ON h.uid = v.targets"), "1");
}

// check() finds a store that lacks a table, view or unique index of its version, and one
// at a version this mdesync does not know; a whole store passes.
TEST_P(PgStoreTest, CheckFindsAnIncompleteStore) {
  {
    auto s = open(OpenOptions{.exclusive = true});
    ASSERT_TRUE(s);
    EXPECT_TRUE(s->check());
  }
  admin("DROP INDEX " + m_schema + ".vulnerability_key_idx; DROP VIEW " + m_schema +
        ".installed_package");
  auto s = open(OpenOptions{.read_only = true});
  ASSERT_TRUE(s);
  auto damaged = s->check();
  ASSERT_FALSE(damaged);
  EXPECT_EQ(damaged.error().code, util::ErrorCode::store);
  EXPECT_NE(damaged.error().message.find("lacks installed_package, vulnerability_key_idx"),
            std::string::npos)
      << damaged.error().message;
  admin("DELETE FROM " + m_schema + ".schema_version");
  auto unknown = s->check();
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("version 0"), std::string::npos)
      << unknown.error().message;
}

// The versions of the devices a sync skipped are read in the devices' order, a window of
// them per query (not a query per device): counted by the server's scans of the table,
// after the store's session has ended and reported them. The values stay exact across
// windows, for devices without versions, out of order, after a put and a rollback.
TEST_P(PgStoreTest, VersionsOfSkippedDevicesAreReadAWindowAtATime) {
  constexpr int k_devices = 2000;
  auto id = [](int i) { return fmt::format("dev{:05}", i); };
  auto versions = [](int i) {
    return i % 500 == 7 ? std::nullopt : std::optional<std::string>("v" + std::to_string(i));
  };
  {
    auto s = open(OpenOptions{.exclusive = true});
    ASSERT_TRUE(s);
    auto tx = s->begin().value();
    std::vector<InventoryDigest> rows;
    for (int i = 0; i < k_devices; ++i) rows.push_back({id(i), "d", versions(i)});
    ASSERT_TRUE(s->put_inventory_digests(rows));
    ASSERT_TRUE(tx.commit());
  }
  auto scans = [&] {
    // The store's backend reports its counts when its session ends.
    for (int i = 0; i < 200; ++i) {
      if (admin("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'mdesync/" +
                m_schema + "'") == "0") {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return std::stoll(
        admin("SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_user_tables WHERE "
              "schemaname = '" +
              m_schema + "' AND relname = 'inventory_versions'"));
  };
  const auto before = scans();
  {
    auto s = open(OpenOptions{.exclusive = true});
    ASSERT_TRUE(s);
    EXPECT_EQ(s->inventory_versions("a-before-all").value(), std::nullopt);
    for (int i = 0; i < k_devices; ++i) {
      ASSERT_EQ(s->inventory_versions(id(i)).value(), versions(i)) << id(i);
      if (i == 700) {
        EXPECT_EQ(s->inventory_versions(id(i) + "x").value(), std::nullopt);
      }
    }
    EXPECT_EQ(s->inventory_versions("zz-after-all").value(), std::nullopt);
  }
  // About four windows, and a query for each of the seven ids asked for that have no
  // versions (a sync asks only for devices that have them); a query per device: 2,000.
  EXPECT_LE(scans() - before, 16);
  auto s = open(OpenOptions{.exclusive = true});
  ASSERT_TRUE(s);
  EXPECT_EQ(s->inventory_versions(id(1999)).value(), versions(1999));
  EXPECT_EQ(s->inventory_versions(id(1)).value(), versions(1));
  {
    auto tx = s->begin().value();
    EXPECT_EQ(s->inventory_versions(id(2)).value(), versions(2));
    const std::vector<InventoryDigest> put = {{id(2), "d", std::string("new")}};
    ASSERT_TRUE(s->put_inventory_digests(put));
    EXPECT_EQ(s->inventory_versions(id(2)).value(), std::optional<std::string>("new"));
    ASSERT_TRUE(s->erase_inventory_digest(id(4)));
    EXPECT_EQ(s->inventory_versions(id(4)).value(), std::nullopt);
  }
  // Rolled back.
  EXPECT_EQ(s->inventory_versions(id(2)).value(), versions(2));
  EXPECT_EQ(s->inventory_versions(id(4)).value(), versions(4));
}

// The installed packages of a later full read (ADR 0106): with WriteContext::hold the
// store merges the rows of many upserts (one device each, as the inventory read hands
// them) in a few statements, not one per upsert; counted by a statement trigger on the
// table. The counts, returned by the upserts and flush_upserts together, stay exact; a
// device read twice keeps its later rows; a rollback drops what was held.
TEST_P(PgStoreTest, HeldInstalledPackagesAreMergedInFewStatements) {
  constexpr int k_devices = 300;
  constexpr int k_software = 40;
  // Run 1 (a first load), then run 2: every 10th device has a new version of one
  // software and one more software; device 20 comes again at the end with its rows of run 1.
  auto device_rows = [&](int d, int run) {
    std::vector<model::InstalledPackage> rows;
    for (int sw = 0; sw < k_software; ++sw) {
      rows.push_back(installed(d, sw, run == 2 && d % 10 == 0 && sw == 3 ? "2.0" : "1.0"));
    }
    if (run == 2 && d % 10 == 0) rows.push_back(installed(d, k_software, "1.0"));
    return rows;
  };
  auto s = open(OpenOptions{.exclusive = true});
  ASSERT_TRUE(s);
  {
    auto tx = s->begin().value();
    for (int d = 0; d < k_devices; ++d) {
      const auto rows = device_rows(d, 1);
      ASSERT_TRUE(s->upsert(ctx(1, true), std::span<const model::InstalledPackage>(rows)));
    }
    ASSERT_TRUE(tx.commit());
  }
  ASSERT_TRUE(s->sweep(ObjectType::installed_package, ctx(1), at("2025-06-01T00:00:00Z")));
  count_installed_merges();
  const WriteContext hold = held_read(2);
  UpsertCounts counts;
  auto add = [&](const UpsertCounts& c) { add_counts(counts, c); };
  {
    // Rolled back: nothing held reaches the table.
    auto tx = s->begin().value();
    const auto rows = device_rows(10, 2);
    ASSERT_TRUE(s->upsert(hold, std::span<const model::InstalledPackage>(rows)));
  }
  EXPECT_EQ(scalar("SELECT count(*) FROM installed_package_entry"),
            std::to_string(k_devices * k_software));
  {
    auto tx = s->begin().value();
    for (int d = 0; d < k_devices; ++d) {
      const auto rows = device_rows(d, 2);
      add(s->upsert(hold, std::span<const model::InstalledPackage>(rows)).value());
    }
    const auto again = device_rows(20, 1);
    add(s->upsert(hold, std::span<const model::InstalledPackage>(again)).value());
    add(s->flush_upserts().value());
    EXPECT_EQ(s->sweep(ObjectType::installed_package, ctx(2), at("2025-06-02T00:00:00Z"))->closed,
              0);
    ASSERT_TRUE(tx.commit());
  }
  // 30 devices changed one row and added one; device 20 came again, one row changed back.
  EXPECT_EQ(counts.written, 61);
  EXPECT_EQ(counts.unchanged, k_devices * k_software - 30 + k_software - 1);
  // One statement per upsert was 301; two here: the repeated device merges what was held
  // before its rows are held, and flush_upserts the rest.
  EXPECT_LE(std::stoi(scalar("SELECT count(*) FROM merges")), 2);
  EXPECT_EQ(scalar("SELECT count(*) FROM installed_package_entry"),
            std::to_string(k_devices * k_software + 30));
  std::map<std::string, std::string> versions;
  ASSERT_TRUE(s->scan(RowVisitor<model::InstalledPackage>([&](const model::InstalledPackage& r) {
    versions[r.uid] = r.version.empty() ? "" : r.version.front();
    return true;
  })));
  EXPECT_EQ(versions["dev0010_sw003"], "2.0");
  EXPECT_EQ(versions["dev0010_sw040"], "1.0");
  EXPECT_EQ(versions["dev0011_sw003"], "1.0");
  EXPECT_EQ(versions["dev0020_sw003"], "1.0");  // the later rows win
  EXPECT_EQ(versions["dev0020_sw040"], "1.0");
  EXPECT_EQ(versions.size(), static_cast<std::size_t>(k_devices * k_software + 30));
}

// A full read that holds many installed packages loads the stored id and hash of every
// row into the client (ADR 0113): from then on only new and changed rows reach the
// server; the unchanged ones only go to the run's seen set. Rows the read merged are
// merged again when given again (the later row wins), and a Removed row (no stored
// hash) given again is written.
TEST_P(PgStoreTest, ALargeFullReadSendsOnlyChangedInstalledPackagesOnceItHasTheStoredHashes) {
  constexpr int k_devices = 1500;
  constexpr int k_software = 40;  // 60,000 rows: the index loads after 20,000 held
  auto device_rows = [&](int d, std::string_view changed_version, bool without_sw5) {
    std::vector<model::InstalledPackage> rows;
    for (int sw = 0; sw < k_software; ++sw) {
      if (without_sw5 && sw == 5) continue;
      rows.push_back(installed(d, sw, sw == 3 ? std::string(changed_version) : "1.0"));
    }
    return rows;
  };
  auto s = open(OpenOptions{.exclusive = true});
  ASSERT_TRUE(s);
  {
    auto tx = s->begin().value();
    for (int d = 0; d < k_devices; ++d) {
      const auto rows = device_rows(d, "1.0", false);
      ASSERT_TRUE(s->upsert(ctx(1, true), std::span<const model::InstalledPackage>(rows)));
    }
    ASSERT_TRUE(tx.commit());
  }
  ASSERT_TRUE(s->sweep(ObjectType::installed_package, ctx(1), at("2025-06-01T00:00:00Z")));
  count_installed_merges();
  auto full_read = [&](RunId run, auto&& each_device, auto&& after) {
    const WriteContext hold = held_read(run);
    UpsertCounts counts;
    auto add = [&](const UpsertCounts& c) { add_counts(counts, c); };
    auto tx = s->begin().value();
    for (int d = 0; d < k_devices; ++d) {
      const auto rows = each_device(d);
      add(s->upsert(hold, std::span<const model::InstalledPackage>(rows)).value());
    }
    add(s->flush_upserts().value());
    after(hold, add);
    add(s->flush_upserts().value());
    const auto closed =
        s->sweep(ObjectType::installed_package, ctx(run), at("2025-06-02T00:00:00Z"));
    EXPECT_TRUE(tx.commit());
    return std::pair{counts, closed ? closed->closed : -1};
  };
  // Run 2: device 100 (held before the index loads) and device 1400 (after) have a new
  // version of sw003, devices 7 (before) and 1300 (after) lost sw005; then device 1400
  // comes again with its old rows.
  const auto [counts2, closed2] = full_read(
      2,
      [&](int d) {
        return device_rows(d, d == 100 || d == 1400 ? "2.0" : "1.0", d == 7 || d == 1300);
      },
      [&](const WriteContext& hold, auto& add) {
        const auto again = device_rows(1400, "1.0", false);
        add(s->upsert(hold, std::span<const model::InstalledPackage>(again)).value());
      });
  EXPECT_EQ(counts2.written, 3);  // 100's and 1400's sw003, then 1400's back to 1.0
  EXPECT_EQ(counts2.unchanged, k_devices * k_software - 2 - 2 + (k_software - 1));
  EXPECT_EQ(closed2, 2);  // devices 7's and 1300's sw005
  // Three merges: what was held when the index loaded (about 20,000 rows), device 1400's
  // changed row at the first flush, its old row at the second. The 40,000 rows after the
  // index were unchanged and never staged (without the index: two more merges).
  EXPECT_EQ(std::stoi(scalar("SELECT count(*) FROM merges")), 3);
  std::map<std::string, std::pair<std::string, bool>> stored;  // uid -> version, removed
  auto scan_all = [&] {
    stored.clear();
    ASSERT_TRUE(s->scan(RowVisitor<model::InstalledPackage>([&](const model::InstalledPackage& r) {
      stored[r.uid] = {r.version.empty() ? "" : r.version.front(),
                       r.status == model::InstalledPackageStatus::removed};
      return true;
    })));
  };
  scan_all();
  EXPECT_EQ(stored["dev0100_sw003"].first, "2.0");
  EXPECT_EQ(stored["dev1400_sw003"].first, "1.0");  // the later row wins
  EXPECT_EQ(stored["dev0101_sw003"].first, "1.0");
  EXPECT_TRUE(stored["dev0007_sw005"].second);
  EXPECT_TRUE(stored["dev1300_sw005"].second);
  EXPECT_FALSE(stored["dev1300_sw004"].second);
  EXPECT_FALSE(stored["dev1301_sw005"].second);
  EXPECT_EQ(stored.size(), static_cast<std::size_t>(k_devices * k_software));

  // Run 3: every row as in run 1. The Removed rows have no stored hash: written.
  admin("TRUNCATE " + m_schema + ".merges");
  const auto [counts3, closed3] = full_read(
      3, [&](int d) { return device_rows(d, "1.0", false); }, [](const WriteContext&, auto&) {});
  EXPECT_EQ(counts3.written, 3);  // 100's sw003, 7's and 1300's sw005
  EXPECT_EQ(counts3.unchanged, k_devices * k_software - 3);
  EXPECT_EQ(closed3, 0);
  scan_all();
  EXPECT_EQ(stored["dev0100_sw003"].first, "1.0");
  EXPECT_FALSE(stored["dev0007_sw005"].second);
  EXPECT_FALSE(stored["dev1300_sw005"].second);
}

INSTANTIATE_TEST_SUITE_P(Backends, PgStoreTest, ::testing::Values("postgresql"),
                         [](const auto& p) { return p.param; });

}  // namespace
}  // namespace mdesync::store
