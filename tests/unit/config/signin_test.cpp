// The sign-in settings: the credential that `auth` picks or that follows from what is
// configured, the conflicts (exit 3 errors naming both settings), and the cloud and region
// presets with their explicit overrides.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include "config/load.hpp"
#include "config/signin.hpp"
#include "temp_dir.hpp"

namespace mdesync::config {
namespace {

namespace fs = std::filesystem;

class Signin : public testing::Test {
 protected:
  void SetUp() override {
    m_dir = m_tmp
                .emplace(std::string("mdesync-signin-test-") +
                         ::testing::UnitTest::GetInstance()->current_test_info()->name())
                .path();
  }
  void TearDown() override { m_tmp.reset(); }
  std::string write(const std::string& name, const std::string& content) {
    const auto path = m_dir / name;
    std::ofstream(path) << content;
    return path.string();
  }
  util::Result<Config> run(const std::string& toml = {}) {
    Overrides o = m_overrides;
    if (!toml.empty()) o.config_file = write("c.toml", toml);
    return load(o, [this](const std::string& name) -> std::optional<std::string> {
      auto it = m_env.find(name);
      if (it == m_env.end()) return std::nullopt;
      return it->second;
    });
  }
  std::optional<::testing_support::TempDir> m_tmp;  // the test's own folder
  fs::path m_dir;
  std::map<std::string, std::string> m_env;
  Overrides m_overrides;
};

TEST_F(Signin, TheCredentialFollowsWhatIsConfigured) {
  auto none = run();
  ASSERT_TRUE(none);
  EXPECT_EQ(none->auth, "client_secret");

  m_env["AZURE_CLIENT_SECRET"] = "s";
  EXPECT_EQ(run()->auth, "client_secret");

  m_env.clear();
  m_env["AZURE_CLIENT_CERTIFICATE_PATH"] = "/etc/mdesync/cert.pem";
  m_env["AZURE_CLIENT_CERTIFICATE_PASSWORD"] = "Pass-Phrase-Value";
  auto cert = run();
  ASSERT_TRUE(cert);
  EXPECT_EQ(cert->auth, "certificate");
  EXPECT_EQ(cert->client_certificate_path, "/etc/mdesync/cert.pem");
  EXPECT_EQ(cert->client_certificate_password.reveal(), "Pass-Phrase-Value");

  m_env.clear();
  m_env["IDENTITY_ENDPOINT"] = "http://127.0.0.1:41741/msi/token";
  m_env["IDENTITY_HEADER"] = "hdr";
  auto mi = run();
  ASSERT_TRUE(mi);
  EXPECT_EQ(mi->auth, "managed_identity");
  EXPECT_EQ(mi->identity_endpoint, "http://127.0.0.1:41741/msi/token");
  EXPECT_EQ(mi->identity_header.reveal(), "hdr");
  // A configured credential wins over the platform's identity endpoint.
  m_env["AZURE_CLIENT_SECRET"] = "s";
  EXPECT_EQ(run()->auth, "client_secret");
}

TEST_F(Signin, ASecretAndACertificateTogetherAreAConflictNamingBoth) {
  m_env["AZURE_CLIENT_SECRET"] = "Secret-Value-1";
  auto c = run("client_certificate_path = \"/k.pem\"\n");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, util::ErrorCode::config);
  const auto& m = c.error().message;
  EXPECT_NE(m.find("client_secret from environment variable AZURE_CLIENT_SECRET"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("client_certificate_path from config file"), std::string::npos) << m;
  EXPECT_NE(m.find("set auth = "), std::string::npos) << m;
  EXPECT_EQ(m.find("Secret-Value-1"), std::string::npos);

  // auth settles it only when nothing of the other credential is left over.
  auto picked = run("auth = \"certificate\"\nclient_certificate_path = \"/k.pem\"\n");
  ASSERT_FALSE(picked);
  EXPECT_NE(picked.error().message.find(
                "auth = \"certificate\" (from config file " + (m_dir / "c.toml").string() +
                ") conflicts with client_secret (from environment variable AZURE_CLIENT_SECRET)"),
            std::string::npos)
      << picked.error().message;
  m_env.clear();
  auto ok = run("auth = \"certificate\"\nclient_certificate_path = \"/k.pem\"\n");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->auth, "certificate");
  m_overrides.values["auth"] = "managed_identity";
  auto mi = run("client_certificate_path = \"/k.pem\"\n");
  ASSERT_FALSE(mi);
  EXPECT_NE(mi.error().message.find("auth = \"managed_identity\" (from flag --auth) conflicts "
                                    "with client_certificate_path"),
            std::string::npos)
      << mi.error().message;
}

TEST_F(Signin, RequireCredentialsFollowsTheCredential) {
  m_overrides.values["auth"] = "certificate";
  auto cert = run("tenant_id = \"t\"\nclient_id = \"c\"\n");
  ASSERT_TRUE(cert);
  auto st = require_credentials(*cert);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("AZURE_CLIENT_CERTIFICATE_PATH"), std::string::npos);
  EXPECT_EQ(st.error().message.find("AZURE_CLIENT_SECRET"), std::string::npos);
  m_overrides.values["auth"] = "managed_identity";
  auto mi = run("tenant_id = \"t\"\n");
  ASSERT_TRUE(mi);
  EXPECT_TRUE(require_credentials(*mi));  // a system-assigned identity needs no client id
}

TEST_F(Signin, CloudPresetsSetTheThreeHostsTogether) {
  struct Case {
    std::string cloud, api, login, audience;
  };
  const std::vector<Case> cases = {
      {"public", "https://api.securitycenter.microsoft.com", "https://login.microsoftonline.com",
       "https://api.securitycenter.microsoft.com"},
      {"gcc", "https://api-gcc.securitycenter.microsoft.us", "https://login.microsoftonline.com",
       "https://api-gcc.securitycenter.microsoft.us"},
      {"gcc-high", "https://api-gov.securitycenter.microsoft.us",
       "https://login.microsoftonline.us", "https://api-gov.securitycenter.microsoft.us"},
      {"dod", "https://api-gov.securitycenter.microsoft.us", "https://login.microsoftonline.us",
       "https://api-gov.securitycenter.microsoft.us"},
  };
  for (const auto& k : cases) {
    auto c = run("cloud = \"" + k.cloud + "\"\n");
    ASSERT_TRUE(c) << k.cloud;
    EXPECT_EQ(c->api_url, k.api) << k.cloud;
    EXPECT_EQ(c->login_url, k.login) << k.cloud;
    EXPECT_EQ(c->audience, k.audience) << k.cloud;
  }
  auto bad = run("cloud = \"china\"\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("one of public, gcc, gcc-high, dod, got 'china'"),
            std::string::npos)
      << bad.error().message;
}

TEST_F(Signin, RegionPicksThePublicRegionalHostAndExplicitUrlsWin) {
  auto eu = run("region = \"eu\"\n");
  ASSERT_TRUE(eu);
  EXPECT_EQ(eu->api_url, "https://eu.api.security.microsoft.com");
  EXPECT_EQ(eu->login_url, "https://login.microsoftonline.com");
  EXPECT_EQ(eu->audience, "https://api.securitycenter.microsoft.com");

  auto gov = run("region = \"eu\"\ncloud = \"gcc-high\"\n");
  ASSERT_FALSE(gov);
  EXPECT_NE(gov.error().message.find("region = \"eu\""), std::string::npos);
  EXPECT_NE(gov.error().message.find("cloud = \"gcc-high\""), std::string::npos);

  m_overrides.values["api_url"] = "http://127.0.0.1:8080";
  m_env["MDESYNC_AUDIENCE"] = "https://custom.example";
  auto over = run("cloud = \"dod\"\n");
  ASSERT_TRUE(over);
  EXPECT_EQ(over->api_url, "http://127.0.0.1:8080");
  EXPECT_EQ(over->login_url, "https://login.microsoftonline.us");
  EXPECT_EQ(over->audience, "https://custom.example");
  EXPECT_FALSE(run("region = \"mars\"\n"));
}

TEST_F(Signin, IdentityEndpointsMustBeLocal) {
  m_overrides.values["managed_identity_endpoint"] =
      "http://10.0.0.1/metadata/identity/oauth2/token";
  auto c = run();
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("169.254.169.254"), std::string::npos);
  m_overrides.values["managed_identity_endpoint"] = "http://127.0.0.1:5000/x";
  EXPECT_TRUE(run());
  m_overrides.values.clear();
  EXPECT_EQ(run()->managed_identity_endpoint,
            "http://169.254.169.254/metadata/identity/oauth2/token");
  m_env["IDENTITY_ENDPOINT"] = "http://evil.example/msi/token";
  EXPECT_FALSE(run());
}

TEST_F(Signin, ThePassphraseComesFromAFileAndHasNoFlag) {
  const auto pass = write("pass.txt", "file-pass\n");
  auto c = run("client_certificate_path = \"/k.p12\"\nclient_certificate_password_file = \"" +
               pass + "\"\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->client_certificate_password.reveal(), "file-pass");
  EXPECT_EQ(c->auth, "certificate");
  CLI::App app;
  Overrides o;
  add_flags(app, o, {true, true, true});
  EXPECT_THROW(app.get_option("--client-certificate-password"), CLI::OptionNotFound);
}

}  // namespace
}  // namespace mdesync::config
