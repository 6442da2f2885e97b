// The removal guard (issue 27, item 1): a full read that would mark more than
// `removal_guard` of an object's active rows Removed or Fixed fails that object and keeps
// its rows, until a run accepts the removals. Against the in-process simulator, through
// the engine and through the mdesync binary.

#include <cmath>

#include <fmt/format.h>

#include "e2e_fixture.hpp"
#include "store/open.hpp"

namespace mdesync {
namespace {

class RemovalGuardE2E : public CliE2E {
 protected:
  // The machine listing answers 404 to every request: what a tenant without machines
  // answers, and what a transient fault of the service looks like.
  void machines_not_found() {
    mdesim::Faults f;
    f.errors.push_back({"machines.list", 404, 1000, 0});
    m_sim->add_faults(f);
  }

  const sync::ObjectSummary* find(const sync::RunSummary& s, const std::string& object) {
    for (const auto& o : s.objects) {
      if (o.object == object) return &o;
    }
    ADD_FAILURE() << object << " not in the summary:\n" << describe(s);
    return nullptr;
  }

  static long long open_findings(const std::string& path) {
    return query_int(path, "SELECT count(*) FROM vulnerability WHERE status_category = 'Open'");
  }
  static long long open_critical_findings(const std::string& path) {
    return query_int(path,
                     "SELECT count(*) FROM vulnerability WHERE status_category = 'Open' AND "
                     "severity = 'Critical'");
  }

  // A full findings read narrowed to critical findings: it closes the others.
  config::Config critical_only(const std::string& path) const {
    auto c = config_for(path);
    c.objects = {"machine", "vulnerability"};
    c.mode = "full";
    c.filters["vulnerability"]["severity"] = {"Critical"};
    return c;
  }

  std::map<std::string, std::map<std::string, std::string>> dump_all(const std::string& path) {
    std::map<std::string, std::map<std::string, std::string>> all;
    for (const auto& t : k_tables) all[t] = dump_table(path, t);
    return all;
  }
};

TEST_F(RemovalGuardE2E, AMachineListingThatAnswers404KeepsEveryHostInFullAndDeltaRuns) {
  start();
  const auto path = db("guard404");
  ASSERT_EQ(run(config_for(path)).outcome, "success");
  const auto active = query_int(path, "SELECT count(*) FROM host WHERE status <> 'Removed'");
  ASSERT_GT(active, 0);

  for (const std::string mode : {"full", "delta"}) {
    SCOPED_TRACE(mode);
    m_sim->advance(6);
    const auto hosts_before = dump_table(path, "host");
    machines_not_found();
    auto c = config_for(path);
    c.mode = mode;
    const auto s = run(c);
    m_sim->clear_faults();
    EXPECT_EQ(s.outcome, "partial") << describe(s);
    const auto* host = find(s, "machine");
    ASSERT_NE(host, nullptr);
    EXPECT_EQ(host->outcome, "failed");
    EXPECT_EQ(host->error_code, "removal_guard");
    EXPECT_NE(host->error.find(fmt::format("every one of the {} active hosts", active)),
              std::string::npos)
        << host->error;
    EXPECT_NE(host->error.find("--accept-removals"), std::string::npos) << host->error;
    // The other objects read their own endpoints and were stored.
    for (const auto& o : s.objects) {
      if (o.object != "machine") {
        EXPECT_EQ(o.outcome, "ok") << o.object << ": " << o.error;
      }
    }
    EXPECT_EQ(dump_table(path, "host"), hosts_before);
    EXPECT_EQ(query_int(path, "SELECT count(*) FROM host WHERE status = 'Removed'"), 0);
  }

  // The next good read needs nothing special.
  const auto good = run(config_for(path));
  EXPECT_EQ(good.outcome, "success") << describe(good);
  expect_ground_truth(path);
}

TEST_F(RemovalGuardE2E, AcceptedRemovalsGoThroughForOneRun) {
  start();
  const auto path = db("accepted");
  ASSERT_EQ(run(config_for(path)).outcome, "success");
  const auto active = query_int(path, "SELECT count(*) FROM host WHERE status <> 'Removed'");
  machines_not_found();
  auto c = config_for(path);
  c.accept_removals = true;
  const auto s = run(c);
  EXPECT_EQ(s.outcome, "success") << describe(s);
  const auto* host = find(s, "machine");
  ASSERT_NE(host, nullptr);
  EXPECT_EQ(host->closed, active);
  EXPECT_EQ(query_int(path, "SELECT count(*) FROM host WHERE status <> 'Removed'"), 0);
  // Nothing is left to remove: the same empty listing passes the guard from now on.
  const auto again = run(config_for(path));
  EXPECT_EQ(again.outcome, "success") << describe(again);
}

// Narrowing a filter is the everyday way to remove most of an object at once: the guard
// asks for it to be confirmed, counts the share against the active rows, and lets a
// removal under the share or under the minimum count through.
TEST_F(RemovalGuardE2E, TheShareAndTheMinimumDecideForFindings) {
  start();
  const auto path = db("share");
  ASSERT_EQ(run(config_for(path)).outcome, "success");
  const auto open = open_findings(path);
  const auto kept = open_critical_findings(path);
  const auto fixed = open - kept;
  ASSERT_GT(kept, 0);
  ASSERT_GT(fixed * 2, open) << "the test needs a filter that closes more than half";
  const auto before = dump_all(path);

  const auto narrowed = critical_only(path);
  const auto s = run(narrowed);
  EXPECT_EQ(s.outcome, "partial") << describe(s);
  const auto* v = find(s, "vulnerability");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->error_code, "removal_guard") << v->error;
  const auto pct =
      static_cast<int>(std::lround(100.0 * static_cast<double>(fixed) / static_cast<double>(open)));
  EXPECT_NE(
      v->error.find(fmt::format("mark {} of the {} open findings Fixed ({}%)", fixed, open, pct)),
      std::string::npos)
      << v->error;
  EXPECT_EQ(dump_all(path), before);

  // A share above the removal: through.
  auto wider = narrowed;
  wider.removal_guard = static_cast<double>(fixed) / static_cast<double>(open) + 0.01;
  EXPECT_EQ(run(wider).outcome, "success");
  EXPECT_EQ(open_findings(path), kept);
}

TEST_F(RemovalGuardE2E, RemovalsUnderTheMinimumCountPass) {
  start();
  const auto path = db("minimum");
  ASSERT_EQ(run(config_for(path)).outcome, "success");
  const auto open = open_findings(path);
  const auto kept = open_critical_findings(path);
  auto c = critical_only(path);
  c.removal_guard_min_rows = open - kept + 1;
  const auto s = run(c);
  EXPECT_EQ(s.outcome, "success") << describe(s);
  EXPECT_EQ(open_findings(path), kept);
}

// The same on PostgreSQL: the count runs inside the object's transaction there too.
TEST_F(RemovalGuardE2E, PostgresqlKeepsTheHostsToo) {
  start();
  const std::string schema = "guard_" + std::to_string(::getpid());
  const std::string url = test_pg_url();
  ASSERT_FALSE(url.empty()) << "no PostgreSQL test cluster";
  drop_pg_schema(url, schema);
  auto c = config_for(db("unused"));
  c.store = url + (url.find('?') == std::string::npos ? "?" : "&") + "schema=" + schema;
  ASSERT_EQ(run(c).outcome, "success");
  machines_not_found();
  const auto s = run(c);
  m_sim->clear_faults();
  const auto* host = find(s, "machine");
  ASSERT_NE(host, nullptr);
  EXPECT_EQ(host->error_code, "removal_guard") << describe(s);
  auto store = store::open_store(c.store, {.read_only = true});
  ASSERT_TRUE(store) << store.error().message;
  auto active = store::count_active(**store, model::ObjectType::host);
  ASSERT_TRUE(active) << active.error().message;
  EXPECT_EQ(*active, static_cast<std::int64_t>(m_sim->truth().machines));
  drop_pg_schema(url, schema);
}

TEST_F(RemovalGuardE2E, TheCliExitsFiveAndSaysHowToAccept) {
  start();
  const auto path = db("cli");
  auto args = base_args(path);
  ASSERT_EQ(cli(args, m_sim->credentials().client_secret).status, 0);
  machines_not_found();
  const auto guarded = cli(args, m_sim->credentials().client_secret);
  EXPECT_EQ(guarded.status, 5) << guarded.err;
  EXPECT_NE(guarded.err.find("machine: removal guard"), std::string::npos) << guarded.err;
  EXPECT_NE(guarded.err.find("--accept-removals"), std::string::npos) << guarded.err;
  EXPECT_NE(guarded.out.find("removal"), std::string::npos) << guarded.out;

  // Only the hosts synced: the one object failed, and it is still 5, not 7.
  auto only_hosts = args;
  only_hosts.insert(only_hosts.end(), {"--objects", "machine"});
  EXPECT_EQ(cli(only_hosts, m_sim->credentials().client_secret).status, 5);

  auto percent = args;
  percent.insert(percent.end(), {"--removal-guard", "101%"});
  const auto bad = cli(percent, m_sim->credentials().client_secret);
  EXPECT_EQ(bad.status, 3) << bad.err;
  EXPECT_NE(bad.err.find("removal_guard"), std::string::npos) << bad.err;

  auto accept = args;
  accept.push_back("--accept-removals");
  const auto accepted = cli(accept, m_sim->credentials().client_secret);
  EXPECT_EQ(accepted.status, 0) << accepted.err;
  EXPECT_EQ(query_int(path, "SELECT count(*) FROM host WHERE status <> 'Removed'"), 0);
}

}  // namespace
}  // namespace mdesync
