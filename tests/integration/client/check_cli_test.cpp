// `mdesync check` end to end: the real executable against mdesim.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

#include "simulator.hpp"
#include "temp_dir.hpp"

namespace {

struct Run {
  int status = -1;
  std::string out;
};

Run run_check(const mdesim::Simulator& sim, const std::string& extra = {},
              const std::string& secret = "") {
  const auto cred = sim.credentials();
  const std::string exe = std::string(MDESYNC_BINARY_DIR) + "/src/cli/mdesync";
  const std::string cmd = "AZURE_TENANT_ID='" + cred.tenant_id + "' AZURE_CLIENT_ID='" +
                          cred.client_id + "' AZURE_CLIENT_SECRET='" +
                          (secret.empty() ? cred.client_secret : secret) + "' MDESYNC_CONFIG= '" +
                          exe + "' check --api-url " + sim.base_url() + " --login-url " +
                          sim.base_url() + " " + extra + " 2>&1";
  Run r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), static_cast<int>(buf.size()), p) != nullptr) r.out += buf.data();
  const int raw = ::pclose(p);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return r;
}

// `mdesync sync` into a new store in a folder of its own; output as run_check's.
Run run_sync(const mdesim::Simulator& sim, const std::string& store_path) {
  const auto cred = sim.credentials();
  const std::string exe = std::string(MDESYNC_BINARY_DIR) + "/src/cli/mdesync";
  const std::string cmd = "AZURE_TENANT_ID='" + cred.tenant_id + "' AZURE_CLIENT_ID='" +
                          cred.client_id + "' AZURE_CLIENT_SECRET='" + cred.client_secret +
                          "' MDESYNC_CONFIG= '" + exe + "' sync --api-url " + sim.base_url() +
                          " --login-url " + sim.base_url() + " --store 'sqlite:" + store_path +
                          "' --rate-limit-scale 0 2>&1";
  Run r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), static_cast<int>(buf.size()), p) != nullptr) r.out += buf.data();
  const int raw = ::pclose(p);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return r;
}

class CheckCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(std::string(MDESYNC_BINARY_DIR) + "/src/cli/mdesync")) {
      GTEST_SKIP() << "the mdesync executable is not built";
    }
    mdesim::Options o;
    o.world.machines = 8;
    o.world.software_per_machine = 4;
    o.cache_dir = (std::filesystem::path(MDESYNC_BINARY_DIR) / "mdesim-cache-check").string();
    auto sim = mdesim::Simulator::start(o);
    ASSERT_TRUE(sim) << sim.error().message;
    m_sim = std::move(*sim);
  }
  std::unique_ptr<mdesim::Simulator> m_sim;
};

TEST_F(CheckCli, AllGrantedPasses) {
  const auto r = run_check(*m_sim, "--strategy api --include-non-cpe");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("check passed"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("FAIL"), std::string::npos) << r.out;
}

TEST_F(CheckCli, MissingRoleExitsWithTheAuthStatus) {
  m_sim->set_roles({"Machine.Read.All", "Software.Read.All"});
  const auto r = run_check(*m_sim);
  EXPECT_EQ(r.status, 4) << r.out;
  EXPECT_NE(r.out.find("Vulnerability.Read.All             NO"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("GET /api/machines?$top=1"), std::string::npos);
}

TEST_F(CheckCli, WrongSecretExitsWithTheAuthStatusAndExplains) {
  const auto r = run_check(*m_sim, "", "not-the-secret");
  EXPECT_EQ(r.status, 4) << r.out;
  EXPECT_NE(r.out.find("AADSTS7000215"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("not-the-secret"), std::string::npos) << r.out;
}

// max_retries (5 by default) bounds the token request of a sync like any other (issue 27,
// item 4): five throttled answers are survived and counted in the summary's retries, a
// sixth fails the run the way any token service outage does (exit 7, the run recorded),
// with an error that names the token service and its throttling, and no seventh request.
TEST_F(CheckCli, SyncSurvivesFiveThrottledTokenAnswersAndFailsClearlyOnSix) {
  const ::testing_support::TempDir tmp("mdesync-token-retries");
  const auto& dir = tmp.path();
  auto token_requests = [&] {
    const auto stats = m_sim->stats();
    auto it = stats.find("token.v2");
    return it == stats.end() ? std::uint64_t{0} : it->second.total;
  };

  mdesim::Faults five;
  five.errors.push_back({"token", 429, 5, 0});
  m_sim->add_faults(five);
  const auto ok = run_sync(*m_sim, (dir / "five.db").string());
  EXPECT_EQ(ok.status, 0) << ok.out;
  EXPECT_EQ(token_requests(), 6U);
  // The run's line counts every retry, those of the token request before the first
  // object included.
  EXPECT_NE(ok.out.find(", 5 retries, 5 429s"), std::string::npos) << ok.out;

  m_sim->reset_stats();
  mdesim::Faults six;
  six.errors.push_back({"token", 429, 6, 0});
  m_sim->add_faults(six);
  const auto failed = run_sync(*m_sim, (dir / "six.db").string());
  EXPECT_EQ(failed.status, 7) << failed.out;
  EXPECT_EQ(token_requests(), 6U) << "a token request beyond 1 + max_retries attempts";
  EXPECT_TRUE(m_sim->pending_faults().errors.empty());
  EXPECT_NE(failed.out.find("token service is throttling"), std::string::npos) << failed.out;
  EXPECT_NE(failed.out.find("gave up after 6 attempts; last answer HTTP 429"), std::string::npos)
      << failed.out;
  EXPECT_NE(failed.out.find("failed in"), std::string::npos) << failed.out;
}

}  // namespace
