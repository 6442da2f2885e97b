// Counts that add up (issue 29, item 4): in every run summary, every record an object read
// has exactly one counted outcome (count_identity.hpp). Each test drives mdesim through a
// history (first full, repeat full of an unchanged tenant, deltas, a full a day later,
// findings read in full instead of a delta) under one condition (strategy, filters,
// faults, store) and checks the identity on the JSON of every summary. The fault matrix
// checks it on every one of its cases too.

#include <sstream>

#include "count_identity.hpp"
#include "e2e_fixture.hpp"
#include "sync/summary.hpp"

namespace mdesync {
namespace {

using testing_support::count_identity_faults;
using testing_support::expect_counts_add_up;

// Each count summed over the objects of several runs, by "object key".
using Totals = std::map<std::string, std::int64_t>;

class CountsE2E : public SyncE2E {
 protected:
  // Runs one sync, checks its counts, and adds them to the totals.
  sync::RunSummary sync_and_check(const config::Config& c, const std::string& what) {
    const auto s = run(c);
    EXPECT_EQ(s.outcome, "success") << what << "\n" << describe(s);
    const auto j = nlohmann::json::parse(sync::to_json(s));
    expect_counts_add_up(j, what + "\n" + describe(s));
    for (const auto& o : j["objects"]) {
      for (const auto& [key, n] : o.items()) {
        if (n.is_number_integer()) {
          m_totals[o["object"].get<std::string>() + " " + key] += n.get<std::int64_t>();
        }
      }
    }
    return s;
  }

  // First full, repeat full, a delta 24 hours later, a full a day after it, and a delta
  // after 15 days (the findings read in full instead).
  void history(const config::Config& base) {
    auto full = base;
    full.mode = "full";
    auto autom = base;
    autom.mode = "auto";
    sync_and_check(full, "first full sync");
    // Unchanged lines are not decoded: their devices' rows stand (ADR 0060, 0068).
    const auto repeat = sync_and_check(full, "repeat full sync of an unchanged tenant");
    for (const auto& o : repeat.objects) {
      if (base.strategy == "export" && m_expect_reuse &&
          (o.object == "vulnerability" || o.object == "installed_package")) {
        EXPECT_GT(o.reused, 0) << o.object << describe(repeat);
      }
    }
    ASSERT_GT(m_sim->advance(24).events, 0U);
    const auto delta = sync_and_check(autom, "delta 24 hours later");
    EXPECT_EQ(delta.mode, "delta");
    ASSERT_GT(m_sim->advance(24).events, 0U);
    sync_and_check(full, "full sync a day later");
    ASSERT_GT(m_sim->advance(15 * 24).events, 0U);
    const auto late = sync_and_check(autom, "delta 15 days later: findings read in full");
    for (const auto& o : late.objects) {
      // (The api strategy's snapshot is the local time of its read: not 15 days old.)
      if (o.object == "vulnerability" && base.strategy == "export") {
        EXPECT_EQ(o.mode, "full") << describe(late);
      }
    }
  }

  std::int64_t total(const std::string& object, const std::string& key) const {
    auto it = m_totals.find(object + " " + key);
    return it == m_totals.end() ? 0 : it->second;
  }

  Totals m_totals;
  // The repeat full reuses lines (false when the first read's lines were faulted).
  bool m_expect_reuse = true;
};

// The export strategy into SQLite, every kind of outcome met at least once; then the api
// strategy (JSON pages, one call per software, nothing reused) over the world's next days.
TEST_F(CountsE2E, EveryRecordReadHasOneCountedOutcomeOverAHistory) {
  start();
  history(config_for(db("history")));
  const auto reused = total("vulnerability", "reused");
  history(config_for(db("api"), "api"));
  EXPECT_EQ(total("vulnerability", "reused"), reused) << "the api strategy reuses no lines";
  // The outcomes this history must meet, or the test would prove less than it says.
  EXPECT_GT(total("vulnerability", "skipped"), 0) << "rows without cveId";
  EXPECT_GT(total("vulnerability", "paired"), 0) << "device-group moves in the feed";
  EXPECT_GT(total("vulnerability", "reusedWithoutRow"), 0)
      << "rows without cveId of devices not decoded";
  EXPECT_GT(total("installed_package", "reused"), 0);
}

// Filtered-out rows are skipped when decoded and stand behind reused lines when not.
TEST_F(CountsE2E, FilteredRowsAreCountedDecodedOrNot) {
  start();
  auto c = config_for(db("filtered"));
  c.filters["vulnerability"]["severity"] = {"Critical", "High"};
  c.filters["installed_package"]["vendor"] = {"microsoft"};
  c.filters["machine"]["healthStatus"] = {"Active"};
  c.filters["package"]["vendor"] = {"microsoft"};
  c.filters["vulnerability_definition"]["cvssV3"] = {"7.0"};
  history(c);
  EXPECT_GT(total("installed_package", "reusedWithoutRow"), 0) << "filtered-out inventory lines";
  EXPECT_GT(total("vulnerability", "reusedWithoutRow"), 0) << "filtered-out finding lines";
}

// Rows the service repeats, a device's row out of its block, PascalCase names and
// unknown members, in full reads and in deltas.
TEST_F(CountsE2E, RepeatedStrayAndPascalCaseRowsAreCounted) {
  start();
  const auto path = db("faults");
  auto full = full_config_for(path);
  sync_and_check(full, "first full sync");
  mdesim::Faults f;
  f.duplicate_rows = 1000;
  f.stray_row = 1000;
  f.pascal_case_keys = 1000;
  f.extra_fields = 1000;
  m_sim->add_faults(f);
  sync_and_check(full, "repeat full sync with faults");
  ASSERT_GT(m_sim->advance(12).events, 0U);
  auto delta = config_for(path);
  delta.mode = "delta";
  sync_and_check(delta, "delta with faults");
  ASSERT_GT(m_sim->advance(24).events, 0U);
  sync_and_check(full, "full a day later with faults");
  m_sim->clear_faults();
  // Repeated inventory lines of one uid are merged into the row before them.
  EXPECT_GT(total("installed_package", "merged"), 0);
}

// The PostgreSQL store counts its writes in batches of its own: the same identity.
TEST_F(CountsE2E, PostgresqlCountsAddUp) {
  const std::string base = test_pg_url();
  ASSERT_FALSE(base.empty()) << "no PostgreSQL test cluster (ctest fixture pg_cluster)";
  const std::string schema = "counts_" + std::to_string(::getpid());
  drop_pg_schema(base, schema);
  start();
  auto c = config_for(db("unused"));
  c.store = base + (base.find('?') == std::string::npos ? "?" : "&") + "schema=" + schema;
  // The first load's repeated lines (the bulk load merges them after the batch).
  mdesim::Faults f;
  f.duplicate_rows = 2;
  m_sim->add_faults(f);
  m_expect_reuse = false;  // every device's lines were repeated the first time
  history(c);
  EXPECT_GT(total("installed_package", "merged"), 0);
  EXPECT_GT(total("vulnerability", "reusedWithoutRow"), 0);
  if (std::getenv("MDESYNC_KEEP_TEST_DIR") == nullptr) drop_pg_schema(base, schema);
}

// The helper finds what it should: a summary whose counts do not add up.
TEST(CountIdentity, FindsARowThatDisappeared) {
  const auto ok = nlohmann::json::parse(R"({"objects": [{"object": "vulnerability",
      "mode": "full", "outcome": "ok", "read": 10, "written": 3, "unchanged": 2, "skipped": 1,
      "skippedReasons": {"row without cveId": 1}, "merged": 1, "stale": 0, "paired": 1,
      "reused": 4, "reusedWithoutRow": 2}]})");
  EXPECT_TRUE(count_identity_faults(ok).empty());
  auto lost = ok;
  lost["objects"][0]["read"] = 11;
  EXPECT_EQ(count_identity_faults(lost).size(), 1U);
  auto failed = lost;
  failed["objects"][0]["outcome"] = "failed";
  EXPECT_TRUE(count_identity_faults(failed).empty()) << "rows in flight when it failed";
  failed["objects"][0]["read"] = 9;
  EXPECT_EQ(count_identity_faults(failed).size(), 1U) << "more outcomes than rows read";
  auto reasons = ok;
  reasons["objects"][0]["skippedReasons"]["filtered out"] = 1;
  EXPECT_EQ(count_identity_faults(reasons).size(), 1U);
  const auto tenants = nlohmann::json{{"tenants", {{"a", {{"summary", lost}}}}}};
  EXPECT_EQ(count_identity_faults(tenants).size(), 1U);
}

// The CLI's table: read = written + unchanged + skipped + other on each object's line, and
// the kinds of "other" named below it.
TEST_F(CliE2E, TheSummaryTableAddsUpAndNamesEachKind) {
  start();
  const auto path = db("cli");
  auto args = base_args(path);
  args.insert(args.end(), {"--mode", "full", "-q"});
  const auto secret = m_sim->credentials().client_secret;
  ASSERT_EQ(cli(args, secret).status, 0);
  ASSERT_GT(m_sim->advance(24).events, 0U);
  auto json_args = base_args(path);
  json_args.insert(json_args.end(), {"--mode", "delta", "--json"});
  const auto d = cli(json_args, secret);
  ASSERT_EQ(d.status, 0) << d.err;
  expect_counts_add_up(d.out, "mdesync sync --json, a delta");
  ASSERT_GT(m_sim->advance(24).events, 0U);
  const auto p = cli(args, secret);
  ASSERT_EQ(p.status, 0) << p.err;
  std::istringstream lines(p.out);
  std::string line;
  int objects = 0;
  while (std::getline(lines, line)) {
    // object (mode)  outcome  read written unchanged closed skipped other calls ...
    std::istringstream row(line);
    std::string object, mode, outcome;
    long long read = 0, written = 0, unchanged = 0, closed = 0, skipped = 0, other = 0;
    if (!(row >> object >> mode >> outcome >> read >> written >> unchanged >> closed >> skipped >>
          other) ||
        mode.front() != '(') {
      continue;
    }
    ++objects;
    EXPECT_EQ(read, written + unchanged + skipped + other) << line << "\n" << p.out;
  }
  EXPECT_EQ(objects, 5) << p.out;
  EXPECT_NE(p.out.find("of those not decoded made no row of their own"), std::string::npos)
      << p.out;
}

}  // namespace
}  // namespace mdesync
