#pragma once

// The end-to-end fixtures: mdesim in-process, syncs run by the engine (SyncE2E) or by the
// mdesync binary as a user runs it (CliE2E), and comparisons of the stores they leave.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <pty.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>
#include "config/config.hpp"
#include "defender/client.hpp"
#include "simulator.hpp"
#include "store/open.hpp"
#include "store/store.hpp"
#include "store_dump.hpp"
#include "sync/engine.hpp"
#include "temp_dir.hpp"
#include "util/clock.hpp"

namespace mdesync {
namespace {

namespace fs = std::filesystem;
using testing_support::dump_table;
using testing_support::query_int;
using testing_support::query_strings;

const std::vector<std::string> k_tables = {"host", "package", "installed_package", "vulnerability",
                                           "vulnerability_definition"};

mdesim::Options sim_options(std::uint32_t machines = 40, std::uint64_t seed = 11) {
  mdesim::Options o;
  o.world.machines = machines;
  o.world.seed = seed;
  o.world.cves = 150;
  o.world.rows_per_file = 400;  // several export files even for a small tenant
  o.odata_page_size = 25;       // nextLink paging on the OData lists
  return o;                     // start() puts the export file cache in the test's own folder
}

// The PostgreSQL test cluster's URL (CTest fixture pg_cluster), or MDESYNC_TEST_PG_URL.
inline std::string test_pg_url() {
  if (const char* env = std::getenv("MDESYNC_TEST_PG_URL"); env != nullptr && *env != '\0') {
    return env;
  }
  std::string url;
  std::ifstream f(std::string(MDESYNC_BINARY_DIR) + "/pg-cluster/url");
  std::getline(f, url);
  return url;
}

// Drops a schema of the test cluster (a test's PostgreSQL store).
inline void drop_pg_schema(const std::string& url, const std::string& schema) {
  PGconn* c = PQconnectdb(url.c_str());
  PQclear(PQexec(
      c,
      ("SET client_min_messages = warning; DROP SCHEMA IF EXISTS " + schema + " CASCADE").c_str()));
  PQfinish(c);
}

class SyncE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    make_dir(std::string("mdesync-e2e-") +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  void TearDown() override {
    if (m_sim) m_sim->stop();
    // MDESYNC_KEEP_TEST_DIR=1 keeps the stores of a test to look into after it.
    m_tmp.reset();
  }

  // The test's own folder (TempDir: unique, removed after the test).
  void make_dir(const std::string& prefix) {
    m_tmp.emplace(prefix);
    m_dir = m_tmp->path();
  }

  // The simulator's export file cache is the test's own, unless `options` names one.
  void start(mdesim::Options options = sim_options()) {
    if (options.cache_dir.empty()) options.cache_dir = (m_dir / "sim-cache").string();
    auto sim = mdesim::Simulator::start(options);
    ASSERT_TRUE(sim) << sim.error().message;
    m_sim = std::move(*sim);
  }

  std::string db(const std::string& name) const { return (m_dir / (name + ".db")).string(); }

  config::Config config_for(const std::string& db_path,
                            const std::string& strategy = "export") const {
    config::Config c;
    c.api_url = m_sim->base_url();
    c.login_url = m_sim->base_url();
    c.tenant_id = m_sim->credentials().tenant_id;
    c.client_id = m_sim->credentials().client_id;
    c.client_secret = config::Secret(m_sim->credentials().client_secret);
    c.store = "sqlite:" + db_path;
    c.strategy = strategy;
    c.mode = "auto";
    c.download_concurrency = 3;
    c.rate_limit_scale = 0;  // the in-process simulator enforces no quotas
    return c;
  }
  // config_for, a full sync whatever the store holds.
  config::Config full_config_for(const std::string& db_path,
                                 const std::string& strategy = "export") const {
    config::Config c = config_for(db_path, strategy);
    c.mode = "full";
    return c;
  }

  // Runs one sync in-process; retries wait on a fake sleeper so faults cost no time.
  sync::RunSummary run(const config::Config& c, const util::CancelToken* cancel = nullptr,
                       std::function<void(const sync::Progress&)> progress = {}) {
    auto store = store::open_store(c.store, {true, false});
    EXPECT_TRUE(store) << store.error().message;
    if (!store) return {};
    util::FakeSleeper sleeper;
    defender::ClientDeps deps;
    deps.sleeper = &sleeper;
    deps.cancel = cancel;
    auto client = defender::Client::create(c, deps);
    EXPECT_TRUE(client) << client.error().message;
    if (!client) return {};
    sync::Engine engine(c, {store->get(), client->get(), nullptr, std::move(progress), cancel});
    auto summary = engine.run();
    EXPECT_TRUE(summary) << summary.error().message;
    return summary ? *summary : sync::RunSummary{};
  }

  static std::string describe(const sync::RunSummary& s) { return sync::to_table(s); }

  void expect_ground_truth(const std::string& path) {
    const auto truth = m_sim->truth();
    EXPECT_EQ(query_int(path, "SELECT count(*) FROM host WHERE status <> 'Removed'"),
              static_cast<long long>(truth.machines));
    EXPECT_EQ(query_int(path, "SELECT count(*) FROM package WHERE status <> 'Removed'"),
              static_cast<long long>(truth.software));
    EXPECT_EQ(query_int(path, "SELECT count(*) FROM vulnerability_definition"),
              static_cast<long long>(truth.definitions));
    const auto installed = query_strings(
        path, "SELECT uid FROM installed_package WHERE status = 'Installed' ORDER BY uid");
    EXPECT_EQ(installed, truth.installed_software_keys);
    const auto open = query_strings(
        path, "SELECT uid FROM vulnerability WHERE status_category = 'Open' ORDER BY uid");
    EXPECT_EQ(open.size(), truth.open_finding_keys.size());
    EXPECT_EQ(open, truth.open_finding_keys);
  }

  // Every model table of two stores, attribute by attribute (connector-managed columns
  // and those in `ignore` aside).
  void expect_same_rows(const std::string& a, const std::string& b,
                        const std::map<std::string, std::set<std::string>>& ignore = {}) {
    for (const auto& table : k_tables) {
      auto it = ignore.find(table);
      const auto rows_a =
          dump_table(a, table, it == ignore.end() ? std::set<std::string>{} : it->second);
      const auto rows_b =
          dump_table(b, table, it == ignore.end() ? std::set<std::string>{} : it->second);
      EXPECT_EQ(rows_a.size(), rows_b.size()) << table;
      std::size_t shown = 0;
      for (const auto& [uid, row] : rows_a) {
        auto other = rows_b.find(uid);
        if (other == rows_b.end()) {
          if (shown++ < 3) ADD_FAILURE() << table << " " << uid << " only in " << a;
        } else if (other->second != row && shown++ < 3) {
          ADD_FAILURE() << table << " " << uid << " differs:" << field_diff(row, other->second);
        }
      }
    }
  }

  // The columns whose values differ, as "\n  column: a | b".
  static std::string field_diff(const std::string& a, const std::string& b) {
    auto split = [](const std::string& row) {
      std::vector<std::string> fields;
      std::size_t start = 0;
      for (std::size_t bar = row.find('|'); bar != std::string::npos; bar = row.find('|', start)) {
        fields.push_back(row.substr(start, bar - start));
        start = bar + 1;
      }
      return fields;
    };
    const auto fa = split(a);
    const auto fb = split(b);
    std::string out;
    for (std::size_t i = 0; i < std::min(fa.size(), fb.size()); ++i) {
      if (fa[i] != fb[i])
        out += "\n  " + fa[i].substr(0, 200) + "  <>  " + fb[i].substr(fb[i].find('=') + 1, 200);
    }
    return out;
  }

  std::optional<::testing_support::TempDir> m_tmp;
  fs::path m_dir;
  std::unique_ptr<mdesim::Simulator> m_sim;
};

// --- the CLI as a user runs it ---------------------------------------------------------

struct Process {
  int status = -1;
  std::string out;
  std::string err;
};

class CliE2E : public SyncE2E {
 protected:
  std::vector<std::string> base_args(const std::string& db_path) const {
    return {MDESYNC_BINARY,
            "sync",
            "--api-url",
            m_sim->base_url(),
            "--login-url",
            m_sim->base_url(),
            "--tenant-id",
            m_sim->credentials().tenant_id,
            "--client-id",
            m_sim->credentials().client_id,
            "--store",
            "sqlite:" + db_path,
            "--rate-limit-scale",
            "0"};
  }

  // What a forked child needs to run the CLI, prepared before the fork: the child of a
  // process with threads (the in-process simulator's) may only make async-signal-safe
  // calls, so it must not allocate (under ASan a lock another thread held at the fork
  // made such a child spin for ever).
  struct Exec {
    std::vector<std::string> env_text;
    std::vector<char*> argv;
    std::vector<char*> envp;
  };
  static Exec prepare_exec(const std::vector<std::string>& args, const std::string& secret) {
    Exec e;
    for (char** v = environ; *v != nullptr; ++v) {
      if (std::string_view(*v).rfind("AZURE_CLIENT_SECRET=", 0) != 0) e.env_text.emplace_back(*v);
    }
    e.env_text.push_back("AZURE_CLIENT_SECRET=" + secret);
    for (const auto& a : args) e.argv.push_back(const_cast<char*>(a.c_str()));
    e.argv.push_back(nullptr);
    for (auto& v : e.env_text) e.envp.push_back(v.data());
    e.envp.push_back(nullptr);
    return e;
  }

  // Starts the CLI with AZURE_CLIENT_SECRET=`secret`; output goes to files. `in_child`
  // (with `arg`), when given, runs in the forked child before the exec: system calls only.
  pid_t spawn(const std::vector<std::string>& args, const std::string& secret,
              void (*in_child)(const void*) = nullptr, const void* arg = nullptr) {
    const auto out = (m_dir / "out.txt").string();
    const auto err = (m_dir / "err.txt").string();
    const Exec e = prepare_exec(args, secret);
    const int out_fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const int err_fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const pid_t pid = fork();
    if (pid == 0) {
      ::dup2(out_fd, STDOUT_FILENO);
      ::dup2(err_fd, STDERR_FILENO);
      if (in_child != nullptr) in_child(arg);
      exec_cli(e);
    }
    ::close(out_fd);
    ::close(err_fd);
    return pid;
  }

  // In a forked child: runs the prepared CLI; never returns.
  [[noreturn]] static void exec_cli(const Exec& e) {
    ::execve(e.argv[0], e.argv.data(), e.envp.data());
    std::_Exit(127);
  }

  Process wait_for(pid_t pid) {
    Process p;
    int status = 0;
    ::waitpid(pid, &status, 0);
    p.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    auto slurp = [](const fs::path& f) {
      std::ifstream in(f);
      return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    };
    p.out = slurp(m_dir / "out.txt");
    p.err = slurp(m_dir / "err.txt");
    return p;
  }

  Process cli(const std::vector<std::string>& args, const std::string& secret) {
    return wait_for(spawn(args, secret));
  }
};

}  // namespace
}  // namespace mdesync
