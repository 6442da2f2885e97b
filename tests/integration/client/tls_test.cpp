// TLS: verification is on by default, a custom CA bundle is honoured, and only the
// explicit insecure switch skips verification. The certificate is generated per run.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include <unistd.h>

#include "defender/client.hpp"
#include "simulator.hpp"
#include "temp_dir.hpp"

namespace mdesync::defender {
namespace {

namespace fs = std::filesystem;

class ClientTls : public ::testing::Test {
 protected:
  void SetUp() override {
    m_dir = m_tmp.emplace("mdesync-client-tls-test").path();
    const std::string cmd =
        "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
        "-addext subjectAltName=IP:127.0.0.1 -keyout '" +
        (m_dir / "key.pem").string() + "' -out '" + (m_dir / "cert.pem").string() +
        "' >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) GTEST_SKIP() << "openssl is not available";
    mdesim::Options o;
    o.world.machines = 5;
    o.world.software_per_machine = 3;
    o.tls_cert = (m_dir / "cert.pem").string();
    o.tls_key = (m_dir / "key.pem").string();
    o.cache_dir = (m_dir / "cache").string();
    auto sim = mdesim::Simulator::start(o);
    ASSERT_TRUE(sim) << sim.error().message;
    m_sim = std::move(*sim);
    ASSERT_EQ(m_sim->base_url().rfind("https://", 0), 0U);
  }

  util::Status list(const config::Config& c) {
    auto client = Client::create(c);
    if (!client) return util::fail(client.error());
    auto r = (*client)->for_each_machine({}, [](Machine&&) { return util::Status{}; });
    if (!r) return util::fail(r.error());
    return {};
  }

  config::Config config() const {
    config::Config c;
    c.api_url = m_sim->base_url();
    c.login_url = m_sim->base_url();
    c.tenant_id = m_sim->credentials().tenant_id;
    c.client_id = m_sim->credentials().client_id;
    c.client_secret = config::Secret(m_sim->credentials().client_secret);
    c.max_retries = 0;
    return c;
  }

  void TearDown() override {
    m_sim.reset();
    m_tmp.reset();
  }

  std::optional<::testing_support::TempDir> m_tmp;  // the test's own folder
  fs::path m_dir;
  std::unique_ptr<mdesim::Simulator> m_sim;
};

TEST_F(ClientTls, UntrustedCertificateIsRefusedByDefault) {
  auto c = config();
  c.max_retries = 5;  // a certificate failure must not spend them
  const auto started = std::chrono::steady_clock::now();
  auto st = list(c);
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(st);
  // The token request is the first to fail, at once and with its own code.
  EXPECT_EQ(st.error().code, util::ErrorCode::tls_certificate) << st.error().message;
  EXPECT_NE(st.error().message.find("127.0.0.1"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("certificate"), std::string::npos) << st.error().message;
  EXPECT_LT(took, std::chrono::seconds{5});
}

TEST_F(ClientTls, CaBundleIsHonoured) {
  auto c = config();
  c.ca_bundle = (m_dir / "cert.pem").string();
  auto st = list(c);
  EXPECT_TRUE(st) << st.error().message;
}

TEST_F(ClientTls, InsecureSwitchSkipsVerification) {
  auto c = config();
  c.insecure_skip_tls_verify = true;
  auto st = list(c);
  EXPECT_TRUE(st) << st.error().message;
}

}  // namespace
}  // namespace mdesync::defender
