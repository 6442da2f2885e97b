// End-to-end: `mdesync report` over a history of several simulated days (fixes, patches
// rolled back so that findings reopen, device-group moves), synced into SQLite and
// PostgreSQL. Every figure of the JSON is checked against plain SQL over the store's
// user-facing views written here, or against the simulator's ground truth, and the two
// backends must give the same figures.

#include <nlohmann/json.hpp>

#include "e2e_fixture.hpp"
#include "sqlite_damage.hpp"

namespace mdesync {
namespace {

using Json = nlohmann::json;

class ReportE2E : public CliE2E {
 protected:
  void sync(const std::string& store, const char* mode) {
    auto args = base_args(db("unused"));
    *(std::find(args.begin(), args.end(), "--store") + 1) = store;
    args.insert(args.end(), {"--mode", mode});
    const auto p = cli(args, m_sim->credentials().client_secret);
    ASSERT_EQ(p.status, 0) << store << " " << mode << ": " << p.err;
  }

  Process report(const std::string& store, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {MDESYNC_BINARY, "report", "--store", store, "--now", m_now};
    args.insert(args.end(), extra.begin(), extra.end());
    return cli(args, "");
  }

  Json report_json(const std::string& store, std::vector<std::string> extra = {}) {
    extra.insert(extra.end(), {"--format", "json", "--out", "-"});
    const auto p = report(store, extra);
    EXPECT_EQ(p.status, 0) << p.err;
    return Json::parse(p.out, nullptr, false);
  }

  // What differs between two stores of one history by nature: their URLs and the wall
  // clock of their own runs.
  static Json figures_only(Json j) {
    j["header"].erase("store");
    for (auto& o : j["header"]["objects"]) {
      // The inventory and the vulnerability reads carry the service's snapshot time, the
      // others the time of their request.
      for (const char* k : {"completedAt", "ageHours", "stale"}) o.erase(k);
      if (o["object"] != "vulnerability" && o["object"] != "installed_package") {
        o.erase("snapshotTime");
      }
    }
    for (auto& r : j["runs"]) {
      for (const char* k : {"startedAt", "seconds"}) r.erase(k);
    }
    return j;
  }

  std::string m_now = "2026-12-07T12:00:00Z";
};

std::string sev_sum(const std::string& sev) {
  return "sum(CASE WHEN severity = '" + sev + "' THEN 1 ELSE 0 END)";
}

// Open findings at the end of `date` per current severity, from the history view: a
// finding is open when its last change up to then is New or Reopened.
long long open_at_end_of(const std::string& path, const std::string& date,
                         const std::string& severity) {
  return testing_support::query_int(
      path,
      "WITH last AS (SELECT h.vulnerability_id, h.event, row_number() OVER (PARTITION BY "
      "h.vulnerability_id ORDER BY h.event_time DESC, CASE h.event WHEN 'New' THEN 0 ELSE 1 END "
      "DESC) AS rn FROM vulnerability_history h WHERE h.event <> 'Moved' AND h.event_time < "
      "strftime('%Y-%m-%d', '" +
          date +
          "', '+1 day') || 'T00:00:00.000000Z') SELECT count(*) FROM last JOIN vulnerability v ON "
          "v.id = "
          "last.vulnerability_id WHERE last.rn = 1 AND last.event IN ('New', 'Reopened') AND "
          "v.severity = '" +
          severity + "'");
}

TEST_F(ReportE2E, FiguresMatchPlainSqlAndTheGroundTruthOnBothStores) {
  const std::string base = test_pg_url();
  ASSERT_FALSE(base.empty()) << "no PostgreSQL test cluster (ctest fixture pg_cluster)";
  const std::string schema = "report_" + std::to_string(::getpid());
  drop_pg_schema(base, schema);
  const std::string pg =
      base + (base.find('?') == std::string::npos ? "?" : "&") + "schema=" + schema;
  const std::string path = db("report");
  const std::string lite = "sqlite:" + path;
  start(sim_options(60, 5));
  const std::vector<std::string> stores = {lite, pg};
  for (const auto& s : stores) sync(s, "full");
  // Deltas over 1- and 4-day windows, a full sync, a last delta: fixes, reopenings, moves.
  // Some windows of four days: a finding patched, rolled back and patched again inside
  // one delta must leave the same history on both backends.
  for (int round = 0; round < 6; ++round) {
    ASSERT_GT(m_sim->advance(round % 2 == 0 ? 96 : 24).events, 0U);
    for (const auto& s : stores) sync(s, round == 4 ? "full" : "delta");
  }

  const Json j = report_json(lite);
  ASSERT_TRUE(j.is_object());
  const Json p = report_json(pg);
  ASSERT_TRUE(p.is_object());
  const std::string from_sqlite = figures_only(j).dump(1);
  const std::string from_pg = figures_only(p).dump(1);
  if (from_sqlite != from_pg) {
    std::ofstream(m_dir / "sqlite.json") << from_sqlite;
    std::ofstream(m_dir / "postgresql.json") << from_pg;
    ADD_FAILURE() << "SQLite and PostgreSQL reports of one history differ: "
                  << Json::diff(figures_only(j), figures_only(p)).dump().substr(0, 2000);
  }

  // Header.
  const auto truth = m_sim->truth();
  EXPECT_FALSE(j["header"]["noData"].get<bool>());
  EXPECT_EQ(j["header"]["warnings"].size(), 0U) << j["header"]["warnings"].dump();
  // A delta's checkpoint is the end of the window it read: the service's clock.
  EXPECT_EQ(j["header"]["asOf"].get<std::string>().substr(0, 16), truth.now.substr(0, 16));
  EXPECT_EQ(j["header"]["objects"].size(), 5U);

  // Headline: the ground truth and plain SQL over the vulnerability view.
  const auto& hl = j["headline"];
  EXPECT_EQ(hl["openTotal"].get<std::size_t>(), truth.open_finding_keys.size());
  for (const char* sev : {"Critical", "High", "Medium", "Low"}) {
    EXPECT_EQ(hl["open"][sev].get<long long>(),
              testing_support::query_int(path, std::string("SELECT count(*) FROM vulnerability "
                                                           "WHERE status_category = 'Open' AND "
                                                           "severity = '") +
                                                   sev + "'"))
        << sev;
  }
  EXPECT_EQ(hl["hostsWithOpenCritical"].get<long long>(),
            testing_support::query_int(path,
                                       "SELECT count(DISTINCT targets) FROM vulnerability WHERE "
                                       "status_category = 'Open' AND severity = 'Critical'"));
  EXPECT_EQ(hl["exploitInKit"].get<long long>(),
            testing_support::query_int(path,
                                       "SELECT count(*) FROM vulnerability WHERE status_category "
                                       "= 'Open' AND exploitability_level = 'ExploitIsInKit'"));
  EXPECT_EQ(hl["withExploit"].get<long long>(),
            testing_support::query_int(
                path,
                "SELECT count(*) FROM vulnerability WHERE status_category = 'Open' AND "
                "exploitability_level IN ('ExploitIsInKit', 'ExploitIsVerified', "
                "'ExploitIsPublic')"));
  // Deadlines: open findings past their deadline, from the view and the defaults.
  const std::string as_of = j["header"]["asOf"];
  const long long past = testing_support::query_int(
      path,
      "SELECT count(*) FROM vulnerability v WHERE status_category = 'Open' AND "
      "julianday('" +
          as_of +
          "') - julianday(CASE WHEN v.status = 'Reopened' THEN (SELECT max(event_time) FROM "
          "vulnerability_history h WHERE h.vulnerability_id = v.id AND h.event = 'Reopened') "
          "ELSE v.first_found END) > CASE v.severity WHEN 'Critical' THEN 15 WHEN 'High' THEN 30 "
          "WHEN 'Medium' THEN 90 WHEN 'Low' THEN 180 ELSE 1e9 END");
  EXPECT_EQ(hl["pastDeadline"].get<long long>(), past);
  long long aged = 0;
  for (const auto& bucket : j["ageing"]["buckets"]) {
    for (const auto& [sev, n] : bucket["open"].items()) aged += n.get<long long>();
  }
  EXPECT_EQ(aged, hl["openTotal"].get<long long>());

  // Trend: each day's open count from the history view; the last day is today's count.
  const auto& open = j["trend"]["open"];
  ASSERT_GE(open.size(), 6U);
  for (const auto& day : open) {
    for (const char* sev : {"Critical", "High", "Medium", "Low"}) {
      EXPECT_EQ(day["open"][sev].get<long long>(), open_at_end_of(path, day["date"], sev))
          << day["date"] << " " << sev;
    }
  }
  EXPECT_EQ(open.back()["open"], hl["open"]);
  // Flow per day (a 90-day window is weekly; ask for 30 days to get days).
  const Json daily = report_json(lite, {"--days", "30"});
  ASSERT_EQ(daily["header"]["flowBucket"], "day");
  long long fixed = 0;
  long long reopened = 0;
  for (const auto& b : daily["trend"]["flow"]) {
    const std::string d = b["start"];
    auto events = [&](const char* kind, const char* time) {
      return testing_support::query_int(
          path, std::string("SELECT count(*) FROM vulnerability_history WHERE event = '") + kind +
                    "' AND substr(" + time + ", 1, 10) = '" + d + "'");
    };
    EXPECT_EQ(b["new"].get<long long>(), events("New", "event_time")) << d;
    EXPECT_EQ(b["fixed"].get<long long>(), events("Fixed", "event_time")) << d;
    EXPECT_EQ(b["reopened"].get<long long>(), events("Reopened", "event_time")) << d;
    fixed += b["fixed"].get<long long>();
    reopened += b["reopened"].get<long long>();
  }
  EXPECT_GT(fixed, 0);
  EXPECT_GT(reopened, 0) << "the history has no reopening: the test would not test it";
  EXPECT_GT(testing_support::query_int(
                path, "SELECT count(*) FROM vulnerability_history WHERE event = 'Moved'"),
            0)
      << "the history has no device-group move";

  // Remediation: the fixes of the window and their mean time, from the view.
  for (const auto& r : daily["remediation"]["bySeverity"]) {
    const std::string sev = r["severity"];
    const std::string fixes =
        "FROM vulnerability_history h JOIN vulnerability v ON v.id = h.vulnerability_id WHERE "
        "h.event = 'Fixed' AND h.event_time >= '" +
        daily["header"]["windowStart"].get<std::string>() + "' AND v.severity = '" + sev + "'";
    EXPECT_EQ(r["fixed"].get<long long>(),
              testing_support::query_int(path, "SELECT count(*) " + fixes))
        << sev;
    if (r["fixed"].get<long long>() == 0) continue;
    const long long mean_centidays = testing_support::query_int(
        path,
        "SELECT CAST(round(avg(julianday(h.event_time) - julianday(coalesce((SELECT "
        "max(r.event_time) FROM vulnerability_history r WHERE r.vulnerability_id = "
        "h.vulnerability_id AND r.event = 'Reopened' AND r.event_time <= h.event_time), (SELECT "
        "n.event_time FROM vulnerability_history n WHERE n.vulnerability_id = h.vulnerability_id "
        "AND n.event = 'New')))) * 100) AS INTEGER) " +
            fixes);
    EXPECT_NEAR(r["meanDays"].get<double>() * 100, static_cast<double>(mean_centidays), 1.0) << sev;
  }

  // Top vulnerabilities by exposed hosts.
  const auto top = testing_support::query_strings(
      path,
      "SELECT type || ' ' || count(DISTINCT targets) || ' ' || count(*) FROM vulnerability "
      "WHERE status_category = 'Open' GROUP BY type ORDER BY count(DISTINCT targets) DESC, "
      "count(*) DESC, type LIMIT 20");
  ASSERT_EQ(j["topVulnerabilities"].size(), top.size());
  for (std::size_t i = 0; i < top.size(); ++i) {
    const auto& v = j["topVulnerabilities"][i];
    EXPECT_EQ(v["cve"].get<std::string>() + " " + std::to_string(v["hosts"].get<long long>()) +
                  " " + std::to_string(v["open"].get<long long>()),
              top[i]);
  }
  // Top hosts by open critical, then high.
  const auto hosts = testing_support::query_strings(
      path, "SELECT h.name || ' ' || " + sev_sum("Critical") + " || ' ' || " + sev_sum("High") +
                " FROM vulnerability v JOIN host h ON h.uid = v.targets WHERE "
                "v.status_category = 'Open' GROUP BY v.targets ORDER BY " +
                sev_sum("Critical") + " DESC, " + sev_sum("High") +
                " DESC, count(*) DESC, h.name, v.targets LIMIT 20");
  ASSERT_EQ(j["topHosts"].size(), hosts.size());
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    const auto& h = j["topHosts"][i];
    EXPECT_EQ(h["name"].get<std::string>() + " " + std::to_string(h["critical"].get<long long>()) +
                  " " + std::to_string(h["high"].get<long long>()),
              hosts[i]);
  }
  // Device groups: open findings per group of their device.
  for (const auto& g : j["groups"]) {
    const std::string name = g["name"];
    long long n = 0;
    for (const auto& [sev, c] : g["open"].items()) n += c.get<long long>();
    EXPECT_EQ(n, testing_support::query_int(
                     path,
                     "SELECT count(*) FROM vulnerability WHERE status_category = 'Open' AND "
                     "coalesce(nullif(rbac_group_name, ''), 'Unassigned') = '" +
                         name + "'"))
        << name;
    EXPECT_EQ(g["hosts"].get<long long>(),
              testing_support::query_int(path,
                                         "SELECT count(*) FROM host WHERE status <> 'Removed' AND "
                                         "coalesce(nullif(rbac_group_name, ''), 'Unassigned') = '" +
                                             name + "'"))
        << name;
  }
  // Software with the most open findings.
  const auto software = testing_support::query_strings(
      path,
      "SELECT software_name || ' ' || count(*) || ' ' || count(DISTINCT targets) FROM "
      "vulnerability WHERE status_category = 'Open' GROUP BY software_vendor, software_name "
      "ORDER BY count(*) DESC, " +
          sev_sum("Critical") + " DESC, software_vendor, software_name LIMIT 20");
  ASSERT_EQ(j["software"].size(), software.size());
  for (std::size_t i = 0; i < software.size(); ++i) {
    const auto& s = j["software"][i];
    EXPECT_EQ(s["name"].get<std::string>() + " " + std::to_string(s["open"].get<long long>()) +
                  " " + std::to_string(s["hosts"].get<long long>()),
              software[i]);
  }
  // Recent runs, newest first.
  EXPECT_EQ(j["runs"].size(), 7U);
  EXPECT_EQ(j["runs"][0]["mode"], "delta");
  EXPECT_EQ(j["runs"][0]["outcome"], "success");

  // One group: only its findings and hosts.
  const std::string group = j["groups"][0]["name"];
  const Json one = report_json(lite, {"--group", group});
  ASSERT_EQ(one["groups"].size(), 1U);
  EXPECT_EQ(one["headline"]["open"], j["groups"][0]["open"]);
  EXPECT_EQ(one["trend"]["open"].back()["open"], j["groups"][0]["open"]);
  if (std::getenv("MDESYNC_KEEP_TEST_DIR") == nullptr) drop_pg_schema(base, schema);
}

// The history a delta sync records is the one a full sync records of the same changes,
// each synced after every 6-hour step: the same (finding, change, day, group) rows, and
// so the same trend.
TEST_F(ReportE2E, DeltaAndFullSyncedStoresOfOneHistoryAgree) {
  start(sim_options(60, 8));
  const std::string full = "sqlite:" + db("full");
  const std::string delta = "sqlite:" + db("delta");
  for (const auto& s : {full, delta}) sync(s, "full");
  for (int step = 0; step < 10; ++step) {
    ASSERT_GT(m_sim->advance(6).events, 0U);
    sync(full, "full");
    sync(delta, "delta");
  }
  // A full read sees a device-group move, not its time (it dates it by the device's last
  // report): moves are compared without their day.
  const std::string rows =
      "SELECT uid || ' ' || event || ' ' || CASE WHEN event = 'Moved' THEN '' ELSE "
      "substr(event_time, 1, 10) END || ' ' || coalesce(rbac_group_name, '') FROM "
      "vulnerability_history ORDER BY 1";
  const auto a = testing_support::query_strings(db("full"), rows);
  const auto b = testing_support::query_strings(db("delta"), rows);
  EXPECT_EQ(a.size(), b.size());
  EXPECT_TRUE(a == b) << "the histories differ";
  for (const char* kind : {"Fixed", "Reopened", "Moved"}) {
    EXPECT_GT(
        testing_support::query_int(
            db("delta"),
            std::string("SELECT count(*) FROM vulnerability_history WHERE event = '") + kind + "'"),
        0)
        << kind;
  }
  const Json ja = report_json(full, {"--days", "30"});
  const Json jb = report_json(delta, {"--days", "30"});
  EXPECT_EQ(ja["trend"], jb["trend"]);
  EXPECT_EQ(ja["headline"]["open"], jb["headline"]["open"]);
}

// Bad input: an empty store, an unknown group, a damaged store, an unwritable --out.
TEST_F(ReportE2E, BadInputIsRefusedClearlyAndAReportIsNeverHalfWritten) {
  const std::string out = (m_dir / "report.html").string();
  const auto none = report("sqlite:" + db("none"), {"--out", out});
  EXPECT_EQ(none.status, 0) << none.err;
  std::ifstream in(out);
  const std::string html((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(html.find("No sync has run yet"), std::string::npos);
  EXPECT_FALSE(fs::exists(db("none"))) << "a report must not create a store";
  // A PostgreSQL schema no sync has written is as empty.
  const std::string base = test_pg_url();
  ASSERT_FALSE(base.empty()) << "no PostgreSQL test cluster (ctest fixture pg_cluster)";
  const auto pg_none =
      report(base + (base.find('?') == std::string::npos ? "?" : "&") + "schema=report_none",
             {"--format", "json", "--out", "-"});
  EXPECT_EQ(pg_none.status, 0) << pg_none.err;
  const Json empty = Json::parse(pg_none.out, nullptr, false);
  ASSERT_TRUE(empty.is_object()) << pg_none.out;
  EXPECT_TRUE(empty["header"]["noData"].get<bool>());
  EXPECT_NE(empty["header"]["warnings"][0].get<std::string>().find("No sync has run yet"),
            std::string::npos);

  start();
  const std::string path = db("bad");
  sync("sqlite:" + path, "full");
  const auto unknown = report("sqlite:" + path, {"--group", "No Such Group", "--out", out});
  EXPECT_EQ(unknown.status, 2);
  EXPECT_NE(unknown.err.find("unknown device group 'No Such Group'"), std::string::npos)
      << unknown.err;
  EXPECT_NE(unknown.err.find("the store knows: "), std::string::npos) << unknown.err;

  const auto unwritable = report("sqlite:" + path, {"--out", "/nonexistent-dir/report.html"});
  EXPECT_NE(unwritable.status, 0);
  EXPECT_NE(unwritable.err.find("/nonexistent-dir/report.html"), std::string::npos)
      << unwritable.err;

  // A damaged page fails the report with the store's error (exit 6), whether the check
  // before the read finds it (a small table) or the read of a large table meets it; the
  // good report stays whole and no temporary file is left.
  ASSERT_EQ(report("sqlite:" + path, {"--out", out}).status, 0);
  const auto good_size = fs::file_size(out);
  {
    sqlite3* db = nullptr;  // every page in the main file, none in the WAL
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  // A damage SQLite reads as fewer findings, without an error: the page check beside
  // the report's reads finds it.
  {
    const std::string copy = db("damaged-leaf");
    fs::copy_file(path, copy);
    testing_support::shorten_last_leaf(copy, "vulnerability_finding");
    const std::string rows = "SELECT count(*) FROM vulnerability_finding NOT INDEXED";
    ASSERT_LT(testing_support::query_int(copy, rows), testing_support::query_int(path, rows))
        << "the damage no longer shortens a read";
    const auto damaged = report("sqlite:" + copy, {"--out", out});
    EXPECT_EQ(damaged.status, 6) << damaged.err;
    EXPECT_NE(damaged.err.find("vulnerability_finding"), std::string::npos) << damaged.err;
    EXPECT_EQ(fs::file_size(out), good_size);
  }
  const long long page_size = testing_support::query_int(path, "PRAGMA page_size");
  for (const char* table : {"host", "vulnerability_finding"}) {
    const std::string copy = db(std::string("damaged-") + table);
    fs::copy_file(path, copy);
    const long long root = testing_support::query_int(
        copy, std::string("SELECT rootpage FROM sqlite_master WHERE name = '") + table + "'");
    {
      std::fstream f(copy, std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(static_cast<std::streamoff>((root - 1) * page_size));
      const std::string junk(static_cast<std::size_t>(page_size), '\x5a');
      f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
    }
    const auto damaged = report("sqlite:" + copy, {"--out", out});
    EXPECT_EQ(damaged.status, 6) << table << ": " << damaged.err;
    EXPECT_NE(damaged.err.find("malformed"), std::string::npos) << table << ": " << damaged.err;
    EXPECT_EQ(fs::file_size(out), good_size) << table;
  }
  for (const auto& e : fs::directory_iterator(m_dir)) {
    EXPECT_EQ(e.path().filename().string().rfind(".report.html.", 0), std::string::npos)
        << e.path();
  }
}

}  // namespace
}  // namespace mdesync
