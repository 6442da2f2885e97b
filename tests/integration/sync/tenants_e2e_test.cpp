// Several tenants in one run (issue 28, item 1): `mdesync sync --all` over a config of
// [[tenants]] tables, each tenant its own mdesim instance. One tenant's failure (a wrong
// secret, an outage) leaves the others' stores exactly as a fault-free sync of their
// own leaves them; the summary, exit code, metrics and logs say which tenant failed.

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <regex>

#include "e2e_fixture.hpp"
#include "json_lines.hpp"

namespace mdesync {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

using testing_support::json_lines;

// The value of one sample line "name{labels} value" of a metrics file, NaN when absent.
double metric(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return std::nan("");
}

class TenantsE2E : public CliE2E {
 protected:
  // Starts one simulator per tenant, each with its own world and tenant id.
  void start_tenants(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      auto o = sim_options(20, 31 + i);
      o.credentials.tenant_id = fmt::format("7b0c{}e1a-0000-4000-8000-00000000000{}", i, i);
      o.cache_dir = (m_dir / "sim-cache").string();
      auto sim = mdesim::Simulator::start(o);
      ASSERT_TRUE(sim) << sim.error().message;
      m_sims.push_back(std::move(*sim));
    }
  }
  void TearDown() override {
    for (auto& s : m_sims) s->stop();
    CliE2E::TearDown();
  }

  // A [[tenants]] table for simulator `i`.
  std::string tenant_table(const std::string& name, std::size_t i, const std::string& extra = "",
                           const std::string& secret = "") const {
    const auto& sim = *m_sims[i];
    return fmt::format(
        "\n[[tenants]]\nname = \"{}\"\ntenant_id = \"{}\"\nclient_id = \"{}\"\n"
        "client_secret = \"{}\"\napi_url = \"{}\"\nlogin_url = \"{}\"\n{}",
        name, sim.credentials().tenant_id, sim.credentials().client_id,
        secret.empty() ? sim.credentials().client_secret : secret, sim.base_url(), sim.base_url(),
        extra);
  }

  std::string write_config(const std::string& text) {
    const auto path = (m_dir / "mdesync.toml").string();
    std::ofstream(path) << text;
    return path;
  }

  Process mdesync(std::vector<std::string> args) {
    args.insert(args.begin(), MDESYNC_BINARY);
    return cli(args, "");
  }

  // A fault-free sync of simulator `i` on its own (the engine in-process), the reference
  // its tenant's store must equal.
  std::string reference(std::size_t i) {
    const auto path = db("reference-" + std::to_string(i));
    config::Config c;
    c.api_url = m_sims[i]->base_url();
    c.login_url = m_sims[i]->base_url();
    c.tenant_id = m_sims[i]->credentials().tenant_id;
    c.client_id = m_sims[i]->credentials().client_id;
    c.client_secret = config::Secret(m_sims[i]->credentials().client_secret);
    c.store = "sqlite:" + path;
    c.rate_limit_scale = 0;
    const auto s = run(c);
    EXPECT_EQ(s.outcome, "success") << describe(s);
    return path;
  }

  // The message that logs the end of a tenant's run.
  static bool is_end(const std::string& message) {
    return (message.rfind("sync run ", 0) == 0 && message.find(" ended: ") != std::string::npos) ||
           message.rfind("sync refused before it began", 0) == 0;
  }

  // The most tenants whose syncs overlapped, from the JSON log lines: a tenant runs from
  // its "sync started" message to the message that logs its end.
  static int most_at_once(const std::vector<nlohmann::json>& lines) {
    int running = 0;
    int most = 0;
    for (const auto& l : lines) {
      const std::string message = l.value("message", "");
      if (!l.contains("tenant")) continue;
      if (message.find(": sync started") != std::string::npos) {
        most = std::max(most, ++running);
      } else if (is_end(message)) {
        --running;
      }
    }
    return most;
  }

  // Requests a simulator answered (with `status`, or any when 0).
  static std::uint64_t requests(const mdesim::Simulator& sim, int status = 0) {
    std::uint64_t n = 0;
    for (const auto& [endpoint, stats] : sim.stats()) {
      if (status == 0) {
        n += stats.total;
      } else if (auto it = stats.by_status.find(status); it != stats.by_status.end()) {
        n += it->second;
      }
    }
    return n;
  }

  std::vector<std::unique_ptr<mdesim::Simulator>> m_sims;
};

// Three tenants: one signs in with a wrong secret, one meets an outage (503 on every API
// endpoint, max_retries = 0 for it alone). The third tenant's store equals its
// fault-free reference; the exit code is the worst (4, sign-in); the summary, metrics
// and JSON logs say which tenant failed and why; at most tenant_concurrency at once.
TEST_F(TenantsE2E, OneTenantsFailureLeavesTheOthersAloneAndTheSummarySaysWhich) {
  start_tenants(3);
  const auto ref = reference(0);
  mdesim::Faults outage;
  outage.errors.push_back({"*", 503, 100000, 0});
  m_sims[2]->add_faults(outage);

  const std::string store = "sqlite:" + (m_dir / "{tenant}.db").string();
  const auto config = write_config(
      fmt::format("store = \"{}\"\nrate_limit_scale = 0\ntenant_concurrency = 1\n", store) +
      tenant_table("good", 0) + tenant_table("wrongsecret", 1, "", "not-the-secret") +
      tenant_table("outage", 2, "max_retries = 0\n"));
  const auto prom = (m_dir / "mdesync.prom").string();
  const auto p = mdesync({"sync", "--config", config, "--all", "--json", "--log-format", "json",
                          "--metrics-file", prom});
  EXPECT_EQ(p.status, 4) << p.out << p.err;

  // The good tenant's store is what a sync of its own leaves; the failed tenants'.
  expect_same_rows(ref, (m_dir / "good.db").string());
  EXPECT_FALSE(fs::exists(m_dir / "wrongsecret.db")) << "a refused sign-in writes nothing";
  EXPECT_FALSE(fs::exists(m_dir / "{tenant}.db"));

  const auto summary = nlohmann::json::parse(p.out);
  EXPECT_EQ(summary["exitCode"], 4);
  const auto& t = summary["tenants"];
  ASSERT_EQ(t.size(), 3U) << p.out;
  EXPECT_EQ(t["good"]["exitCode"], 0);
  EXPECT_EQ(t["good"]["outcome"], "success");
  EXPECT_TRUE(t["good"]["error"].is_null());
  EXPECT_EQ(t["good"]["summary"]["objects"].size(), 5U);
  EXPECT_EQ(t["wrongsecret"]["exitCode"], 4);
  EXPECT_EQ(t["wrongsecret"]["outcome"], "refused");
  EXPECT_NE(t["wrongsecret"]["error"].get<std::string>().find("sync not started"),
            std::string::npos)
      << t["wrongsecret"];
  EXPECT_EQ(t["outage"]["exitCode"], 7);
  EXPECT_EQ(t["outage"]["outcome"], "failed");
  EXPECT_NE(t["outage"]["error"].get<std::string>().find("503"), std::string::npos) << t["outage"];
  EXPECT_EQ(p.out.find("not-the-secret"), std::string::npos);
  EXPECT_EQ(p.err.find("not-the-secret"), std::string::npos);

  // The metrics: every tenant's series, labelled with its name.
  const auto m = slurp(prom);
  EXPECT_EQ(metric(m, "mdesync_last_run_exit_code{tenant=\"good\"}"), 0) << m;
  EXPECT_EQ(metric(m, "mdesync_last_run_exit_code{tenant=\"wrongsecret\"}"), 4);
  EXPECT_EQ(metric(m, "mdesync_last_run_exit_code{tenant=\"outage\"}"), 7);
  EXPECT_EQ(metric(m, "mdesync_last_run_outcome{tenant=\"outage\",outcome=\"failed\"}"), 1);
  EXPECT_EQ(metric(m, "mdesync_last_run_outcome{tenant=\"wrongsecret\",outcome=\"refused\"}"), 1);
  EXPECT_EQ(metric(m, "mdesync_object_last_run_success{tenant=\"good\",object=\"vulnerability\"}"),
            1);
  EXPECT_EQ(
      metric(m, "mdesync_object_last_run_success{tenant=\"outage\",object=\"vulnerability\"}"), 0);
  EXPECT_GT(
      metric(m,
             "mdesync_object_last_success_timestamp_seconds{tenant=\"good\",object=\"machine\"}"),
      0);

  // JSON logs: each tenant's lines carry its name; one ran at a time.
  const auto lines = json_lines(p.err);
  std::map<std::string, int> ended;
  for (const auto& l : lines) {
    const std::string message = l.value("message", "");
    if (is_end(message)) {
      ASSERT_TRUE(l.contains("tenant")) << l;
      ended[l["tenant"].get<std::string>()] = l["exit_code"].get<int>();
    }
  }
  EXPECT_EQ(ended, (std::map<std::string, int>{{"good", 0}, {"wrongsecret", 4}, {"outage", 7}}));
  EXPECT_EQ(most_at_once(lines), 1);
  // The outage was the outage tenant's own: its simulator answered 503s, the good one's
  // none.
  EXPECT_GT(requests(*m_sims[2], 503), 0U);
  EXPECT_EQ(requests(*m_sims[0], 503), 0U);
}

// The table across tenants names each tenant, its outcome and why it failed; the default
// tenant_concurrency (2) runs two at once; --tenant picks tenants by name.
TEST_F(TenantsE2E, SummaryTableConcurrencyAndTenantSelection) {
  start_tenants(3);
  const std::string store = "sqlite:" + (m_dir / "{tenant}.db").string();
  const auto config =
      write_config(fmt::format("store = \"{}\"\nrate_limit_scale = 0\n", store) +
                   tenant_table("a", 0) + tenant_table("b", 1) + tenant_table("c", 2, "", "wrong"));
  auto p = mdesync({"sync", "--config", config, "--all", "--log-format", "json"});
  EXPECT_EQ(p.status, 4) << p.out << p.err;
  EXPECT_EQ(most_at_once(json_lines(p.err)), 2);
  const std::regex row_a(R"(\na +success +5 +0 +[1-9][0-9]* +[0-9.]+ +0  \n)");
  EXPECT_TRUE(std::regex_search(p.out, row_a)) << p.out;
  const std::regex row_c(R"(\nc +refused +0 +5 +0 +[0-9.]+ +4  sync not started)");
  EXPECT_TRUE(std::regex_search(p.out, row_c)) << p.out;
  EXPECT_NE(p.out.find("\ntenant a: sync run "), std::string::npos) << p.out;
  EXPECT_NE(p.out.find("\ntenant b: sync run "), std::string::npos) << p.out;

  // --tenant, repeatable: only those tenants run.
  fs::remove(m_dir / "a.db");
  p = mdesync({"sync", "--config", config, "--tenant", "a", "--tenant", "b", "--json"});
  EXPECT_EQ(p.status, 0) << p.out << p.err;
  const auto j = nlohmann::json::parse(p.out);
  EXPECT_EQ(j["tenants"].size(), 2U);
  EXPECT_TRUE(fs::exists(m_dir / "a.db"));
  EXPECT_FALSE(fs::exists(m_dir / "c.db"));

  // status and export read one tenant's store.
  const auto status = mdesync({"status", "--config", config, "--tenant", "b"});
  EXPECT_EQ(status.status, 0) << status.err;
  EXPECT_NE(status.out.find((m_dir / "b.db").string()), std::string::npos) << status.out;
  const auto exported = mdesync({"export", "host", "--config", config, "--tenant", "a"});
  EXPECT_EQ(exported.status, 0) << exported.err;
  const auto direct = mdesync({"export", "host", "--store", "sqlite:" + (m_dir / "a.db").string()});
  EXPECT_EQ(exported.out, direct.out);
  EXPECT_FALSE(exported.out.empty());
  const auto none = mdesync({"status", "--config", config});
  EXPECT_EQ(none.status, 3);
  EXPECT_NE(none.err.find("3 tenants (a, b, c)"), std::string::npos) << none.err;
}

// PostgreSQL: each tenant in its own schema, mdesync_<tenant id>, as a lone tenant's;
// a tenant whose API fails leaves the other's schema as a sync of its own does.
TEST_F(TenantsE2E, PostgresqlTenantsEachInTheirOwnSchema) {
  const std::string url = test_pg_url();
  ASSERT_FALSE(url.empty()) << "no PostgreSQL test cluster (ctest fixture pg_cluster)";
  start_tenants(2);
  auto schema = [&](std::size_t i) {
    std::string s = "mdesync_" + m_sims[i]->credentials().tenant_id;
    std::replace(s.begin(), s.end(), '-', '_');
    return s;
  };
  for (std::size_t i = 0; i < 2; ++i) drop_pg_schema(url, schema(i));
  const auto ref = reference(0);
  mdesim::Faults outage;
  outage.errors.push_back({"*", 503, 100000, 0});
  m_sims[1]->add_faults(outage);
  const auto config =
      write_config(fmt::format("store = \"{}\"\nrate_limit_scale = 0\nmax_retries = 0\n", url) +
                   tenant_table("one", 0) + tenant_table("two", 1));
  const auto p = mdesync({"sync", "--config", config, "--all"});
  EXPECT_EQ(p.status, 7) << p.out << p.err;
  for (const char* object :
       {"host", "package", "installed_package", "vulnerability", "vulnerability_definition"}) {
    const auto a = mdesync({"export", object, "--config", config, "--tenant", "one"});
    const auto b = mdesync({"export", object, "--store", "sqlite:" + ref});
    ASSERT_EQ(a.status, 0) << a.err;
    EXPECT_FALSE(a.out.empty()) << object;
    EXPECT_TRUE(a.out == b.out) << object << ": the PostgreSQL tenant differs from its reference";
  }
  PGconn* c = PQconnectdb(url.c_str());
  auto rows = [&](const std::string& s) {
    PGresult* r = PQexec(c, ("SELECT count(*) FROM " + s + ".host").c_str());
    const long n = PQresultStatus(r) == PGRES_TUPLES_OK ? std::atol(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    return n;
  };
  EXPECT_EQ(rows(schema(0)), query_int(ref, "SELECT count(*) FROM host"));
  EXPECT_LE(rows(schema(1)), 0) << "the failed tenant's schema holds nothing";
  PQfinish(c);
  for (std::size_t i = 0; i < 2; ++i) drop_pg_schema(url, schema(i));
}

// Configuration errors stop the run before any tenant starts, with exit 3 and a message
// that names the problem.
TEST_F(TenantsE2E, ConfigurationErrorsNameTheProblem) {
  start_tenants(2);
  const std::string tmpl = "store = \"sqlite:" + (m_dir / "{tenant}.db").string() + "\"\n";
  const std::string shared = "store = \"sqlite:" + (m_dir / "shared.db").string() + "\"\n";
  struct Case {
    std::string config;
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {tmpl + tenant_table("a", 0) + tenant_table("a", 1),
       {"--all"},
       "name 'a' is used by an earlier [[tenants]] table too"},
      {shared + tenant_table("a", 0) + tenant_table("b", 1),
       {"--all"},
       "tenants 'a' and 'b' would share the SQLite store"},
      {tmpl + tenant_table("a", 0) + tenant_table("b", 1),
       {"--tenant", "nosuch"},
       "--tenant nosuch: no such tenant in the configuration (its tenants: a, b)"},
      {tmpl + tenant_table("a", 0) + tenant_table("b", 1),
       {},
       "the configuration has 2 tenants (a, b): choose"},
      {tmpl + tenant_table("a", 0, "tenant_concurrency = 3\n") + tenant_table("b", 1),
       {"--all"},
       "'tenant_concurrency' is shared by every tenant"},
      {tmpl + "[[tenants]]\ntenant_id = \"x\"\n", {"--all"}, "name missing"},
      {tmpl + "tenant_id = \"x\"\n" + tenant_table("a", 0),
       {"--all"},
       "tenant_id belongs in each [[tenants]] table"},
      {tmpl + "tenant_id = \"x\"\n", {}, "{tenant} names a tenant of [[tenants]] tables"},
      {tmpl + tenant_table("a b", 0), {"--all"}, "name 'a b': expected"},
  };
  for (const auto& c : cases) {
    const auto config = write_config(c.config);
    std::vector<std::string> args = {"sync", "--config", config};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const auto p = mdesync(args);
    EXPECT_EQ(p.status, 3) << c.message << "\n" << p.err;
    EXPECT_NE(p.err.find(c.message), std::string::npos) << c.message << "\n" << p.err;
    EXPECT_EQ(p.err.find(m_sims[0]->credentials().client_secret), std::string::npos);
  }
  EXPECT_FALSE(fs::exists(m_dir / "a.db"));
  for (const auto& s : m_sims) EXPECT_EQ(requests(*s), 0U) << "no request was made";
}

}  // namespace
}  // namespace mdesync
