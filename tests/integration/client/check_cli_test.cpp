// `mdesync check` end to end: the real executable against mdesim.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

#include "simulator.hpp"

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

}  // namespace
