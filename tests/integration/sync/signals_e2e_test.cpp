// SIGINT and SIGTERM during `mdesync sync`, through the mdesync binary against mdesim
// (issue 27, item 3): whatever the run waits for (the first token request, a listing
// page, a Retry-After, the client's rate limiter, an export file download), a signal
// stops it within 2 s with exit 130, the run is recorded as interrupted, the store keeps
// its last good state, and a second signal ends a stop that cannot finish at once.

#include <fcntl.h>

#include <functional>

#include "e2e_fixture.hpp"

namespace mdesync {
namespace {

using namespace std::chrono_literals;

// The product's promise: a signal ends the run within this.
constexpr auto k_stop_limit = 2s;

using Tables = std::map<std::string, std::map<std::string, std::string>>;

struct Ended {
  bool exited = false;  // exited (rather than killed by a signal, or still running)
  int code = -1;        // exit status, or the signal that killed it
  std::chrono::duration<double> took{};
};

class SignalsE2E : public CliE2E {
 protected:
  // Waits (real time, at most 60 s) until `ready` holds.
  static bool eventually(const std::function<bool()>& ready) {
    for (int i = 0; i < 6000; ++i) {
      if (ready()) return true;
      std::this_thread::sleep_for(10ms);
    }
    return ready();
  }

  // Answers of the simulator to `endpoint` so far (of `status` only when given).
  std::uint64_t answered(const std::string& endpoint, int status = 0) const {
    const auto stats = m_sim->stats();
    auto it = stats.find(endpoint);
    if (it == stats.end()) return 0;
    if (status == 0) return it->second.total;
    auto s = it->second.by_status.find(status);
    return s == it->second.by_status.end() ? 0 : s->second;
  }

  // Sends `sig` to `pid` and waits for its end (at most `limit`; then it is killed and
  // reported as not exited).
  static Ended signal_and_wait(pid_t pid, int sig, std::chrono::seconds limit = 30s) {
    Ended e;
    const auto t0 = std::chrono::steady_clock::now();
    ::kill(pid, sig);
    int status = 0;
    for (;;) {
      const pid_t r = ::waitpid(pid, &status, WNOHANG);
      e.took = std::chrono::steady_clock::now() - t0;
      if (r == pid) break;
      if (e.took > limit) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        e.code = -1;
        return e;
      }
      std::this_thread::sleep_for(5ms);
    }
    e.exited = WIFEXITED(status);
    e.code = e.exited ? WEXITSTATUS(status) : WTERMSIG(status);
    return e;
  }

  std::string secret() const { return m_sim->credentials().client_secret; }

  // `base_args` with the client's rate limiting scaled by `scale`.
  std::vector<std::string> args(const std::string& path, const std::string& scale = "0") const {
    auto a = base_args(path);
    auto it = std::find(a.begin(), a.end(), "--rate-limit-scale");
    *(it + 1) = scale;
    a.push_back("--max-retries");
    a.push_back("5");
    return a;
  }

  static Tables dump(const std::string& path) {
    Tables t;
    for (const auto& table : k_tables) t[table] = dump_table(path, table);
    return t;
  }

  // A good first sync; returns the store's content.
  Tables good_sync(const std::string& path) {
    const auto first = cli(args(path), secret());
    EXPECT_EQ(first.status, 0) << first.err;
    return dump(path);
  }

  static std::string last_outcome(const std::string& path) {
    const auto v = query_strings(path,
                                 "SELECT coalesce(outcome, '(none)') FROM sync_run ORDER BY "
                                 "id DESC LIMIT 1");
    return v.empty() ? "(no run)" : v.front();
  }

  // Runs a sync after a good one, waits until `reached` says it waits where the test
  // wants it, sends `sig`, and checks the promise: exit 130 within 2 s, the run recorded
  // as interrupted, the store as the good sync left it, `status` fine afterwards.
  void expect_clean_stop(const mdesim::Faults& faults, const std::function<bool()>& reached,
                         int sig, const std::string& scale = "0") {
    const auto path = db("store");
    const Tables before = good_sync(path);
    ASSERT_FALSE(before.at("host").empty());
    const auto runs = query_int(path, "SELECT count(*) FROM sync_run");
    m_sim->reset_stats();
    m_sim->add_faults(faults);

    const pid_t pid = spawn(args(path, scale), secret());
    ASSERT_TRUE(eventually(reached)) << "the sync never reached the phase under test";
    std::this_thread::sleep_for(300ms);  // into the wait that follows
    const Ended e = signal_and_wait(pid, sig);
    const Process p = wait_for_files();
    EXPECT_TRUE(e.exited) << "ended by signal " << e.code << "\n" << p.err;
    EXPECT_EQ(e.code, 130) << p.err;
    EXPECT_LT(e.took, k_stop_limit) << p.err;

    EXPECT_EQ(query_int(path, "SELECT count(*) FROM sync_run"), runs + 1);
    EXPECT_EQ(last_outcome(path), "interrupted");
    const Tables after = dump(path);
    for (const auto& table : k_tables) {
      EXPECT_EQ(after.at(table), before.at(table)) << table << " changed";
    }
    const auto status = cli({MDESYNC_BINARY, "status", "--store", "sqlite:" + path}, "");
    EXPECT_EQ(status.status, 0) << status.err;
    EXPECT_NE(status.out.find("interrupted"), std::string::npos) << status.out;
  }

  // The output files of the last spawned process (which has ended).
  Process wait_for_files() const {
    Process p;
    auto slurp = [](const fs::path& f) {
      std::ifstream in(f);
      return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    };
    p.out = slurp(m_dir / "out.txt");
    p.err = slurp(m_dir / "err.txt");
    return p;
  }
};

// The slowed body of `endpoint`: its pieces 60 s apart (the simulator cuts the pause
// short when it stops).
// `count`: how many answers of `endpoint` go slowly (every one of a kind the sync makes
// several of, so that the one in flight at the signal is slow whichever it is).
mdesim::Faults slow(const std::string& endpoint, std::uint32_t count = 1) {
  mdesim::Faults f;
  f.slow_body = count;
  f.slow_endpoint = endpoint;
  f.slow_delay_ms = 60'000;
  return f;
}

TEST_F(SignalsE2E, SigtermDuringTheFirstTokenRequest) {
  start();
  expect_clean_stop(
      slow("token.v2"), [&] { return answered("token.v2") >= 1; }, SIGTERM);
}

TEST_F(SignalsE2E, SigintDuringTheFirstTokenRequestOfANewStoreCreatesNoStore) {
  start();
  const auto path = db("new");
  m_sim->add_faults(slow("token.v2"));
  const pid_t pid = spawn(args(path), secret());
  ASSERT_TRUE(eventually([&] { return answered("token.v2") >= 1; }));
  std::this_thread::sleep_for(300ms);
  const Ended e = signal_and_wait(pid, SIGINT);
  const Process p = wait_for_files();
  EXPECT_TRUE(e.exited) << "ended by signal " << e.code;
  EXPECT_EQ(e.code, 130) << p.err;
  EXPECT_LT(e.took, k_stop_limit);
  EXPECT_NE(p.err.find("nothing was written"), std::string::npos) << p.err;
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(fs::exists(path + ".lock"));
}

TEST_F(SignalsE2E, SigintDuringA120SecondRetryAfter) {
  start();
  mdesim::Faults f;
  f.errors.push_back({"machines.list", 429, 1, 120});
  expect_clean_stop(
      f, [&] { return answered("machines.list", 429) >= 1; }, SIGINT);
}

TEST_F(SignalsE2E, SigtermDuringAListingPage) {
  start();
  expect_clean_stop(
      slow("machines.list"), [&] { return answered("machines.list") >= 1; }, SIGTERM);
}

TEST_F(SignalsE2E, SigintDuringARateLimiterWait) {
  start();
  // 1 machines call a minute: the second page of the listing waits about a minute.
  expect_clean_stop(
      {}, [&] { return answered("machines.list") >= 1; }, SIGINT, "0.01");
}

TEST_F(SignalsE2E, SigtermDuringAnExportFileDownload) {
  start();
  expect_clean_stop(
      slow("download", 1000), [&] { return answered("download") >= 1; }, SIGTERM);
}

// The in-child hook: stdout becomes the given pipe.
void stdout_to(const void* arg) {
  ::dup2(*static_cast<const int*>(arg), STDOUT_FILENO);
}

// A clean stop that cannot finish (its summary cannot be written: stdout is a full pipe
// nobody reads) ends at once on the second signal, with 130, and the store is intact.
TEST_F(SignalsE2E, ASecondSignalEndsAStopThatCannotFinish) {
  start();
  const auto path = db("store");
  const Tables before = good_sync(path);
  int out[2] = {-1, -1};
  ASSERT_EQ(::pipe2(out, O_CLOEXEC | O_NONBLOCK), 0);
  const std::string block(4096, 'x');
  while (::write(out[1], block.data(), block.size()) > 0) {
  }
  ASSERT_EQ(::fcntl(out[1], F_SETFL, 0), 0);  // the child's writes block

  mdesim::Faults f;
  f.errors.push_back({"machines.list", 429, 1, 120});
  m_sim->reset_stats();
  m_sim->add_faults(f);
  const pid_t pid = spawn(args(path), secret(), &stdout_to, &out[1]);
  ::close(out[1]);
  ASSERT_TRUE(eventually([&] { return answered("machines.list", 429) >= 1; }));
  std::this_thread::sleep_for(300ms);
  ::kill(pid, SIGINT);
  // The first signal's stop records the run, then hangs on the summary.
  ASSERT_TRUE(eventually([&] { return last_outcome(path) == "interrupted"; }));
  std::this_thread::sleep_for(300ms);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, WNOHANG), 0) << "the stop was expected to hang";

  const Ended e = signal_and_wait(pid, SIGTERM, 10s);
  ::close(out[0]);
  const Process p = wait_for_files();
  EXPECT_TRUE(e.exited) << "ended by signal " << e.code << "\n" << p.err;
  EXPECT_EQ(e.code, 130) << p.err;
  EXPECT_LT(e.took, k_stop_limit);
  EXPECT_NE(p.err.find("stopped at once"), std::string::npos) << p.err;

  const Tables after = dump(path);
  for (const auto& table : k_tables) EXPECT_EQ(after.at(table), before.at(table)) << table;
  const auto check = query_strings(path, "PRAGMA integrity_check");
  EXPECT_EQ(check, std::vector<std::string>{"ok"});
  const auto status_cmd = cli({MDESYNC_BINARY, "status", "--store", "sqlite:" + path}, "");
  EXPECT_EQ(status_cmd.status, 0) << status_cmd.err;
  // The next sync completes.
  const auto next = cli(args(path), secret());
  EXPECT_EQ(next.status, 0) << next.err;
}

}  // namespace
}  // namespace mdesync
