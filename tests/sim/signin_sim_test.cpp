// mdesim's certificate sign-in, managed identity endpoints and government audiences,
// driven with raw HTTP and assertions signed here with OpenSSL.
#include <gtest/gtest.h>

#include <httplib.h>

#include <chrono>
#include <filesystem>
#include <optional>

#include <nlohmann/json.hpp>

#include "simulator.hpp"
#include "temp_dir.hpp"
#include "test_certificate.hpp"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using mdesync::testing::TestCertificate;

const TestCertificate& registered() {
  static const TestCertificate c = TestCertificate::make("sim-registered");
  return c;
}

long long now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class SimSignin : public ::testing::Test {
 protected:
  void SetUp() override {
    m_dir = m_tmp.emplace("mdesim-signin").path();
    registered().write_certificate((m_dir / "reg.crt").string());
  }
  void TearDown() override { m_tmp.reset(); }
  void start(const std::string& cloud = "public") {
    mdesim::Options o;
    o.world.machines = 4;
    o.world.software_per_machine = 3;
    o.cloud = cloud;
    o.credentials.client_certificates = {(m_dir / "reg.crt").string()};
    o.cache_dir = (fs::path(MDESYNC_BINARY_DIR) / "mdesim-cache-signin").string();
    auto sim = mdesim::Simulator::start(o);
    ASSERT_TRUE(sim) << sim.error().message;
    m_sim = std::move(*sim);
    m_cli = std::make_unique<httplib::Client>(m_sim->base_url());
  }
  std::string endpoint() const {
    return "/" + m_sim->credentials().tenant_id + "/oauth2/v2.0/token";
  }
  std::string assertion(const TestCertificate& cert, const std::string& alg = "PS256",
                        long long iat = 0, const std::string& aud = {}) const {
    if (iat == 0) iat = now_s();
    const json header = {{"alg", alg}, {"typ", "JWT"}, {"x5t#S256", cert.thumbprint_s256()}};
    const json claims = {{"aud", aud.empty() ? m_sim->base_url() + endpoint() : aud},
                         {"iss", m_sim->credentials().client_id},
                         {"sub", m_sim->credentials().client_id},
                         {"jti", "4f1c2d3e-0000-4000-8000-000000000001"},
                         {"nbf", iat},
                         {"iat", iat},
                         {"exp", iat + 300}};
    return cert.sign_jwt(alg, header.dump(), claims.dump());
  }
  httplib::Result post(
      const std::string& jwt,
      const std::string& scope = "https://api.securitycenter.microsoft.com/.default") {
    httplib::Params p{
        {"grant_type", "client_credentials"},
        {"client_id", m_sim->credentials().client_id},
        {"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
        {"client_assertion", jwt},
        {"scope", scope}};
    return m_cli->Post(endpoint().c_str(), p);
  }
  static int code_of(const httplib::Result& r) {
    return json::parse(r->body).at("error_codes").at(0).get<int>();
  }

  std::optional<::testing_support::TempDir> m_tmp;  // the test's own folder
  fs::path m_dir;
  std::unique_ptr<mdesim::Simulator> m_sim;
  std::unique_ptr<httplib::Client> m_cli;
};

TEST_F(SimSignin, AcceptsAValidAssertionInBothAlgorithms) {
  start();
  for (const std::string alg : {"RS256", "PS256"}) {
    auto r = post(assertion(registered(), alg));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_TRUE(json::parse(r->body).contains("access_token"));
  }
}

TEST_F(SimSignin, RejectsBadAssertionsWithEntrasCodes) {
  start();
  // Unknown thumbprint.
  const auto other = TestCertificate::make("other", 1024);
  auto unknown = post(assertion(other));
  EXPECT_EQ(unknown->status, 401);
  EXPECT_EQ(code_of(unknown), 700027);
  EXPECT_NE(unknown->body.find("The key was not found"), std::string::npos);
  // Bad signature: the registered thumbprint, another key's signature.
  const json header = {
      {"alg", "RS256"}, {"typ", "JWT"}, {"x5t#S256", registered().thumbprint_s256()}};
  const json claims = {{"aud", m_sim->base_url() + endpoint()},
                       {"iss", m_sim->credentials().client_id},
                       {"sub", m_sim->credentials().client_id},
                       {"jti", "x"},
                       {"nbf", now_s()},
                       {"exp", now_s() + 300}};
  auto forged = post(other.sign_jwt("RS256", header.dump(), claims.dump()));
  EXPECT_EQ(forged->status, 401);
  EXPECT_EQ(code_of(forged), 700027);
  EXPECT_NE(forged->body.find("signature value did not match"), std::string::npos);
  // Signed as PS256 but labelled RS256.
  std::string relabelled = assertion(registered(), "PS256");
  auto wrong_alg =
      post(TestCertificate::base64url(header.dump()) + relabelled.substr(relabelled.find('.')));
  EXPECT_EQ(code_of(wrong_alg), 700027);
  // Expired (beyond the five minutes of clock skew).
  auto expired = post(assertion(registered(), "PS256", now_s() - 900));
  EXPECT_EQ(expired->status, 401);
  EXPECT_EQ(code_of(expired), 700024);
  // Another token endpoint.
  auto audience = post(
      assertion(registered(), "PS256", 0, "https://login.microsoftonline.com/x/oauth2/v2.0/token"));
  EXPECT_EQ(audience->status, 401);
  EXPECT_EQ(code_of(audience), 700023);
  // Not a JWT.
  auto garbage = post("not-a-jwt");
  EXPECT_EQ(garbage->status, 400);
  EXPECT_EQ(code_of(garbage), 50027);
}

TEST_F(SimSignin, GovernmentTenantsTakeTheirAudienceOnly) {
  start("gcc-high");
  auto gov = post(assertion(registered()), "https://api-gov.securitycenter.microsoft.us/.default");
  EXPECT_EQ(gov->status, 200) << gov->body;
  const std::string tok = json::parse(gov->body).at("access_token");
  auto api = m_cli->Get("/api/machines?$top=1", {{"Authorization", "Bearer " + tok}});
  EXPECT_EQ(api->status, 200);
  auto pub = post(assertion(registered()));
  EXPECT_EQ(pub->status, 400);
  EXPECT_EQ(code_of(pub), 90002);
}

TEST_F(SimSignin, ServesTheManagedIdentityEndpoints) {
  start();
  const std::string q = "?api-version=2018-02-01&resource=https://api.securitycenter.microsoft.com";
  auto no_header = m_cli->Get(("/metadata/identity/oauth2/token" + q).c_str());
  EXPECT_EQ(no_header->status, 400);
  EXPECT_NE(no_header->body.find("Required metadata header"), std::string::npos);
  auto ok = m_cli->Get(("/metadata/identity/oauth2/token" + q).c_str(), {{"Metadata", "true"}});
  ASSERT_EQ(ok->status, 200) << ok->body;
  const std::string tok = json::parse(ok->body).at("access_token");
  auto api = m_cli->Get("/api/machines?$top=1", {{"Authorization", "Bearer " + tok}});
  EXPECT_EQ(api->status, 200);
  auto unknown = m_cli->Get(("/metadata/identity/oauth2/token" + q + "&client_id=nope").c_str(),
                            {{"Metadata", "true"}});
  EXPECT_EQ(unknown->status, 400);
  EXPECT_NE(unknown->body.find("Identity not found"), std::string::npos);
  auto app = m_cli->Get(("/msi/token" + q).c_str(),
                        {{"X-IDENTITY-HEADER", m_sim->credentials().identity_header}});
  EXPECT_EQ(app->status, 200) << app->body;
  auto bad = m_cli->Get(("/msi/token" + q).c_str(), {{"X-IDENTITY-HEADER", "wrong"}});
  EXPECT_EQ(bad->status, 401);
}

}  // namespace
