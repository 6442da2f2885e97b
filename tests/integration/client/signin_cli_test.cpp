// Signing in end to end: the real mdesync executable against mdesim with each credential
// type (client secret, certificate, managed identity on the instance metadata and App
// Service endpoints) and each cloud preset; every rejection exits 4 with a message that
// says what to fix; `check` with each role missing in turn; and no secret of any of them
// in the output or the store.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>

#include "simulator.hpp"
#include "temp_dir.hpp"
#include "test_certificate.hpp"

namespace {

namespace fs = std::filesystem;
using mdesync::testing::TestCertificate;

struct CliRun {
  int status = -1;
  std::string out;
};

const TestCertificate& registered() {
  static const TestCertificate c = TestCertificate::make("mdesync-registered");
  return c;
}

constexpr const char* k_passphrase = "Key-Pass-Phrase-7";

class Signin : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(std::string(MDESYNC_BINARY_DIR) + "/src/cli/mdesync")) {
      GTEST_SKIP() << "the mdesync executable is not built";
    }
    m_dir = m_tmp
                .emplace(std::string("mdesync-signin-") +
                         ::testing::UnitTest::GetInstance()->current_test_info()->name())
                .path();
    registered().write_certificate(path("registered.crt"));
    registered().write_pem(path("key.pem"), k_passphrase);
    ::chmod(path("key.pem").c_str(), 0600);
  }
  void TearDown() override {
    m_sim.reset();
    m_tmp.reset();
  }
  void start(const std::string& cloud = "public") {
    mdesim::Options o;
    o.world.machines = 8;
    o.world.software_per_machine = 4;
    o.cloud = cloud;
    o.credentials.client_certificates = {path("registered.crt")};
    o.cache_dir = (fs::path(MDESYNC_BINARY_DIR) / "mdesim-cache-check").string();
    auto sim = mdesim::Simulator::start(o);
    ASSERT_TRUE(sim) << sim.error().message;
    m_sim = std::move(*sim);
  }
  std::string path(const std::string& name) const { return (m_dir / name).string(); }

  // `env` are VAR='value' assignments; tenant and (unless `env` sets it) client id come
  // from the simulator; no client secret unless `env` has one.
  CliRun cli(const std::string& env, const std::string& command, const std::string& extra = {}) {
    const auto cred = m_sim->credentials();
    const std::string exe = std::string(MDESYNC_BINARY_DIR) + "/src/cli/mdesync";
    const std::string client = env.find("AZURE_CLIENT_ID=") == std::string::npos
                                   ? "AZURE_CLIENT_ID='" + cred.client_id + "' "
                                   : std::string();
    const std::string cmd =
        "env -u AZURE_CLIENT_SECRET -u AZURE_CLIENT_CERTIFICATE_PATH -u "
        "AZURE_CLIENT_CERTIFICATE_PASSWORD -u IDENTITY_ENDPOINT -u IDENTITY_HEADER "
        "AZURE_TENANT_ID='" +
        cred.tenant_id + "' " + client + env + " MDESYNC_CONFIG= '" + exe + "' " + command +
        " --api-url " + m_sim->base_url() + " --login-url " +
        (m_login_url.empty() ? m_sim->base_url() : m_login_url) + " " + extra + " 2>&1";
    CliRun r;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) return r;
    std::array<char, 4096> buf{};
    while (std::fgets(buf.data(), static_cast<int>(buf.size()), p) != nullptr) r.out += buf.data();
    const int raw = ::pclose(p);
    r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    return r;
  }
  CliRun sync(const std::string& env, const std::string& store, const std::string& extra = {}) {
    return cli(env, "sync", "--store 'sqlite:" + path(store) + "' --rate-limit-scale 0 " + extra);
  }
  std::string certificate_env() const {
    return "AZURE_CLIENT_CERTIFICATE_PATH='" + path("key.pem") +
           "' AZURE_CLIENT_CERTIFICATE_PASSWORD='" + k_passphrase + "'";
  }
  std::string imds_env() const {
    return "MDESYNC_MANAGED_IDENTITY_ENDPOINT='" + m_sim->base_url() +
           "/metadata/identity/oauth2/token'";
  }
  std::string read(const std::string& name) const {
    std::ifstream in(path(name), std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  std::uint64_t calls(const std::string& endpoint) const {
    const auto stats = m_sim->stats();
    auto it = stats.find(endpoint);
    return it == stats.end() ? 0 : it->second.total;
  }
  // No token, assertion, passphrase, identity header or key in `text`.
  static void expect_no_secrets(const std::string& text) {
    EXPECT_EQ(text.find("eyJ"), std::string::npos) << "a JWT (token or assertion) leaked";
    EXPECT_EQ(text.find(k_passphrase), std::string::npos);
    EXPECT_EQ(text.find("PRIVATE KEY"), std::string::npos);
    EXPECT_EQ(text.find("mdesim-identity-header"), std::string::npos);
    EXPECT_EQ(text.find("mdesim-secret-value"), std::string::npos);
  }

  std::optional<::testing_support::TempDir> m_tmp;  // the test's own folder
  fs::path m_dir;
  std::unique_ptr<mdesim::Simulator> m_sim;
  std::string m_login_url;  // instead of the simulator's own URL
};

TEST_F(Signin, CertificateSyncsAndChecks) {
  start();
  const auto s = sync(certificate_env(), "cert.db");
  ASSERT_EQ(s.status, 0) << s.out;
  EXPECT_GE(calls("token.v2"), 1U);
  const auto c = cli(certificate_env(), "check");
  EXPECT_EQ(c.status, 0) << c.out;
  EXPECT_NE(c.out.find("credential: certificate (client " + m_sim->credentials().client_id),
            std::string::npos)
      << c.out;
  EXPECT_NE(c.out.find("cloud public"), std::string::npos) << c.out;
  // The v1 endpoint takes the same assertion (with its own audience).
  const auto v1 = cli(certificate_env(), "check", "--token-version v1");
  EXPECT_EQ(v1.status, 0) << v1.out;
  EXPECT_GE(calls("token.v1"), 1U);
  expect_no_secrets(s.out + c.out + v1.out + read("cert.db"));
}

TEST_F(Signin, APkcs12FileAndAPassphraseFileWork) {
  start();
  registered().write_pkcs12(path("key.p12"), k_passphrase);
  ::chmod(path("key.p12").c_str(), 0600);
  std::ofstream(path("pass.txt")) << k_passphrase << "\n";
  const auto r = cli("", "check",
                     "--client-certificate-path '" + path("key.p12") +
                         "' --client-certificate-password-file '" + path("pass.txt") + "'");
  EXPECT_EQ(r.status, 0) << r.out;
  expect_no_secrets(r.out);
}

TEST_F(Signin, AKeyFileOthersCanReadIsWarnedAboutByName) {
  start();
  ::chmod(path("key.pem").c_str(), 0644);
  const auto r = cli(certificate_env(), "check");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find(path("key.pem") + " can be read by other users"), std::string::npos)
      << r.out;
}

TEST_F(Signin, CertificateRejectionsExitFourAndSayWhatToFix) {
  start();
  // A certificate that was never registered on the application.
  TestCertificate::make("unregistered", 2048).write_pem(path("other.pem"));
  ::chmod(path("other.pem").c_str(), 0600);
  const auto unknown =
      sync("AZURE_CLIENT_CERTIFICATE_PATH='" + path("other.pem") + "'", "unknown.db");
  EXPECT_EQ(unknown.status, 4) << unknown.out;
  EXPECT_NE(unknown.out.find("AADSTS700027"), std::string::npos) << unknown.out;
  EXPECT_NE(unknown.out.find("upload the certificate"), std::string::npos) << unknown.out;
  EXPECT_FALSE(fs::exists(path("unknown.db")));

  // An assertion for another token endpoint (the login URL names another host).
  std::string other_host = m_sim->base_url();
  other_host.replace(other_host.find("127.0.0.1"), 9, "localhost");
  m_login_url = other_host;
  const auto audience = cli(certificate_env(), "check", "--auth certificate");
  m_login_url.clear();
  EXPECT_EQ(audience.status, 4) << audience.out;
  EXPECT_NE(audience.out.find("AADSTS700023"), std::string::npos) << audience.out;
  EXPECT_NE(audience.out.find("check tenant_id and login_url"), std::string::npos) << audience.out;

  // Another application's client id.
  const auto client =
      cli(certificate_env() + " AZURE_CLIENT_ID='00000000-0000-0000-0000-000000000001'", "check");
  EXPECT_EQ(client.status, 4) << client.out;
  EXPECT_NE(client.out.find("AADSTS700016"), std::string::npos) << client.out;

  // A wrong passphrase is a configuration error that names the file.
  const auto pass = cli("AZURE_CLIENT_CERTIFICATE_PATH='" + path("key.pem") +
                            "' AZURE_CLIENT_CERTIFICATE_PASSWORD='Wrong-Pass-9'",
                        "check");
  EXPECT_EQ(pass.status, 3) << pass.out;
  EXPECT_NE(pass.out.find(path("key.pem")), std::string::npos) << pass.out;
  EXPECT_EQ(pass.out.find("Wrong-Pass-9"), std::string::npos) << pass.out;
  expect_no_secrets(unknown.out + audience.out + client.out + pass.out);
}

TEST_F(Signin, ManagedIdentitySyncsThroughTheMetadataServiceAndAppService) {
  start();
  const auto imds = sync(imds_env() + " AZURE_CLIENT_ID=", "imds.db", "--auth managed_identity");
  ASSERT_EQ(imds.status, 0) << imds.out;
  EXPECT_GE(calls("identity.imds"), 1U);
  EXPECT_EQ(calls("token.v2"), 0U);

  const auto user =
      cli(imds_env() + " AZURE_CLIENT_ID='" + m_sim->credentials().managed_identity_client_id + "'",
          "check", "--auth managed_identity");
  EXPECT_EQ(user.status, 0) << user.out;
  EXPECT_NE(user.out.find("managed identity (user-assigned, client " +
                          m_sim->credentials().managed_identity_client_id),
            std::string::npos)
      << user.out;

  // App Service: the platform's variables alone select the identity.
  const std::string app = "IDENTITY_ENDPOINT='" + m_sim->base_url() +
                          "/msi/token' IDENTITY_HEADER='mdesim-identity-header' AZURE_CLIENT_ID=";
  const auto service = sync(app, "app.db");
  ASSERT_EQ(service.status, 0) << service.out;
  EXPECT_GE(calls("identity.appservice"), 1U);
  expect_no_secrets(imds.out + user.out + service.out + read("imds.db") + read("app.db"));
}

TEST_F(Signin, ManagedIdentityRejectionsExitFourAndSayWhatToFix) {
  start();
  const auto wrong = cli(imds_env() + " AZURE_CLIENT_ID='11111111-2222-3333-4444-555555555555'",
                         "check", "--auth managed_identity");
  EXPECT_EQ(wrong.status, 4) << wrong.out;
  EXPECT_NE(wrong.out.find("Identity not found"), std::string::npos) << wrong.out;
  EXPECT_NE(wrong.out.find("check that client_id"), std::string::npos) << wrong.out;

  // Nothing listens: a clear error, without retries. (A closed loopback port, never the
  // real link-local address.)
  const auto none =
      cli("MDESYNC_MANAGED_IDENTITY_ENDPOINT='http://127.0.0.1:1/metadata/identity/oauth2/token' "
          "AZURE_CLIENT_ID=",
          "check", "--auth managed_identity");
  EXPECT_EQ(none.status, 4) << none.out;
  EXPECT_NE(none.out.find("no managed identity endpoint answered"), std::string::npos) << none.out;

  // The metadata service setting up an identity: 503s are waited out.
  mdesim::Faults f;
  f.errors.push_back({"identity", 503, 2, 0});
  m_sim->add_faults(f);
  m_sim->reset_stats();
  const auto busy = cli(imds_env() + " AZURE_CLIENT_ID=", "check", "--auth managed_identity");
  EXPECT_EQ(busy.status, 0) << busy.out;
  EXPECT_EQ(calls("identity.imds"), 3U) << "two 503s, then a token";

  const auto header = cli("IDENTITY_ENDPOINT='" + m_sim->base_url() +
                              "/msi/token' IDENTITY_HEADER='Not-The-Header' AZURE_CLIENT_ID=",
                          "check");
  EXPECT_EQ(header.status, 4) << header.out;
  EXPECT_EQ(header.out.find("Not-The-Header"), std::string::npos) << header.out;
}

TEST_F(Signin, GovernmentCloudPresetsSyncAndCheck) {
  for (const std::string cloud : {"gcc", "gcc-high", "dod"}) {
    start(cloud);
    const std::string env = "AZURE_CLIENT_SECRET='" + m_sim->credentials().client_secret + "'";
    const auto c = cli(env, "check", "--cloud " + cloud);
    EXPECT_EQ(c.status, 0) << cloud << c.out;
    EXPECT_NE(c.out.find("cloud " + cloud), std::string::npos) << c.out;
    const auto s = sync(certificate_env(), cloud + ".db", "--cloud " + cloud);
    EXPECT_EQ(s.status, 0) << cloud << s.out;
    // The public cloud's audience against a government tenant.
    const auto pub = cli(env, "check");
    EXPECT_EQ(pub.status, 4) << cloud << pub.out;
    if (cloud != "gcc") {
      EXPECT_NE(pub.out.find("AADSTS90002"), std::string::npos) << pub.out;
      EXPECT_NE(pub.out.find("set cloud = \"gcc-high\" or \"dod\""), std::string::npos) << pub.out;
    }
    m_sim.reset();
  }
}

TEST_F(Signin, CheckReportsEachMissingRoleForTheObjectsThatNeedIt) {
  start();
  const std::string env = "AZURE_CLIENT_SECRET='" + m_sim->credentials().client_secret + "'";
  const std::vector<std::pair<std::string, std::vector<std::string>>> roles = {
      {"Machine.Read.All", {"machine"}},
      {"Software.Read.All", {"package", "installed_package"}},
      {"Vulnerability.Read.All", {"vulnerability", "vulnerability_definition"}},
      {"SecurityRecommendation.Read.All", {"vulnerability_definition"}}};
  for (const auto& [missing, objects] : roles) {
    std::vector<std::string> granted;
    for (const auto& [role, ignored] : roles) {
      if (role != missing) granted.push_back(role);
    }
    m_sim->set_roles(granted);
    const auto r = cli(env, "check");
    EXPECT_EQ(r.status, 4) << missing << r.out;
    EXPECT_NE(r.out.find("check FAILED"), std::string::npos) << r.out;
    for (const auto& object : objects) {
      EXPECT_NE(r.out.find(object +
                           " cannot be synced: this endpoint needs the application "
                           "permission " +
                           missing + " (the token grants: "),
                std::string::npos)
          << missing << " " << object << r.out;
    }
    EXPECT_NE(r.out.find("Add it to the app registration and grant admin consent"),
              std::string::npos);
  }
  m_sim->set_roles({"Machine.Read.All", "Software.Read.All", "Vulnerability.Read.All",
                    "SecurityRecommendation.Read.All"});
  const auto ok = cli(env, "check");
  EXPECT_EQ(ok.status, 0) << ok.out;
  EXPECT_NE(ok.out.find("GET /api/recommendations?$top=1"), std::string::npos) << ok.out;
}

TEST_F(Signin, DryRunPrintsTheCloudHostsAndCredential) {
  start();
  const auto r = cli(certificate_env(), "sync",
                     "--dry-run --store 'sqlite:" + path("dry.db") + "' --cloud gcc-high");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("cloud gcc-high"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("login host 127.0.0.1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("audience https://api-gov.securitycenter.microsoft.us"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("credential: certificate"), std::string::npos) << r.out;
}

}  // namespace
