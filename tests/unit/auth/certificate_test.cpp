// The certificate credential: key files, the client assertion's contents and signature
// (checked here with OpenSSL), its use on the token endpoints, expiry and refresh on a
// fake clock, and the explanations of Entra's certificate errors.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <optional>

#include <nlohmann/json.hpp>

#include "auth/client_certificate.hpp"
#include "auth/client_secret_credential.hpp"
#include "auth/credentials.hpp"
#include "auth/jwt.hpp"
#include "http/fake_http_client.hpp"
#include "temp_dir.hpp"
#include "test_certificate.hpp"

namespace mdesync::auth {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;
using testing::TestCertificate;

// One key pair for the whole file: RSA key generation is slow.
const TestCertificate& test_cert() {
  static const TestCertificate c = TestCertificate::make();
  return c;
}

class CertificateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m_dir = m_tmp
                .emplace(std::string("mdesync-cert-test-") +
                         ::testing::UnitTest::GetInstance()->current_test_info()->name())
                .path();
  }
  void TearDown() override { m_tmp.reset(); }
  std::string path(const std::string& name) const { return (m_dir / name).string(); }
  std::string pem(const std::string& pass = {}) {
    const auto p = path(pass.empty() ? "key.pem" : "key-enc.pem");
    test_cert().write_pem(p, pass);
    ::chmod(p.c_str(), 0600);
    return p;
  }
  std::optional<::testing_support::TempDir> m_tmp;  // the test's own folder
  fs::path m_dir;
};

struct Jwt {
  nlohmann::json header;
  nlohmann::json claims;
  std::string signing_input;
  std::string signature;
};

Jwt split(const std::string& jwt) {
  const auto d1 = jwt.find('.');
  const auto d2 = jwt.find('.', d1 + 1);
  Jwt out;
  out.header = nlohmann::json::parse(*base64url_decode(jwt.substr(0, d1)));
  out.claims = nlohmann::json::parse(*base64url_decode(jwt.substr(d1 + 1, d2 - d1 - 1)));
  out.signing_input = jwt.substr(0, d2);
  out.signature = *base64url_decode(jwt.substr(d2 + 1));
  return out;
}

TEST_F(CertificateTest, AssertionHasTheHeaderAndClaimsEntraExpectsAndAValidSignature) {
  auto cert = ClientCertificate::load(pem(), config::Secret{});
  ASSERT_TRUE(cert) << cert.error().message;
  AssertionOptions o;
  o.client_id = "client-1";
  o.audience = "https://login.example/tenant-1/oauth2/v2.0/token";
  const util::SystemTime now{seconds{1'767'225'600}};
  for (auto alg : {AssertionAlgorithm::rs256, AssertionAlgorithm::ps256}) {
    o.algorithm = alg;
    auto a = (*cert)->assertion(o, now);
    ASSERT_TRUE(a) << a.error().message;
    const Jwt j = split(*a);
    const std::string name = alg == AssertionAlgorithm::rs256 ? "RS256" : "PS256";
    EXPECT_EQ(j.header["alg"], name);
    EXPECT_EQ(j.header["typ"], "JWT");
    EXPECT_EQ(j.header["x5t#S256"], test_cert().thumbprint_s256());
    EXPECT_FALSE(j.header.contains("x5c"));
    EXPECT_EQ(j.claims["aud"], o.audience);
    EXPECT_EQ(j.claims["iss"], "client-1");
    EXPECT_EQ(j.claims["sub"], "client-1");
    EXPECT_EQ(j.claims["iat"], 1'767'225'600);
    EXPECT_EQ(j.claims["nbf"], 1'767'225'600);
    EXPECT_GT(j.claims["exp"].get<long long>(), 1'767'225'600);
    EXPECT_LE(j.claims["exp"].get<long long>(), 1'767'225'600 + 600);
    EXPECT_EQ(j.claims["jti"].get<std::string>().size(), 36U);
    EXPECT_TRUE(test_cert().verify(name, j.signing_input, j.signature)) << name;
    // The other algorithm does not verify it: the padding really differs.
    EXPECT_FALSE(
        test_cert().verify(name == "RS256" ? "PS256" : "RS256", j.signing_input, j.signature));
    // Altering the claims breaks the signature.
    std::string tampered = j.signing_input;
    tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
    EXPECT_FALSE(test_cert().verify(name, tampered, j.signature));
  }
  // Every assertion has its own jti.
  EXPECT_NE(split(*(*cert)->assertion(o, now)).claims["jti"],
            split(*(*cert)->assertion(o, now)).claims["jti"]);
  o.include_x5c = true;
  const Jwt with_chain = split(*(*cert)->assertion(o, now));
  ASSERT_TRUE(with_chain.header["x5c"].is_array());
  EXPECT_EQ(with_chain.header["x5c"][0], (*cert)->certificate_base64());
}

TEST_F(CertificateTest, LoadsEncryptedPemCertificateFirstAndPkcs12) {
  const auto enc = pem("pem pass");
  EXPECT_TRUE(ClientCertificate::load(enc, config::Secret("pem pass")));
  const auto no_pass = ClientCertificate::load(enc, config::Secret{});
  ASSERT_FALSE(no_pass);
  EXPECT_EQ(no_pass.error().code, util::ErrorCode::config);
  EXPECT_NE(no_pass.error().message.find(enc), std::string::npos);
  EXPECT_NE(no_pass.error().message.find("no passphrase is set"), std::string::npos);
  const auto wrong = ClientCertificate::load(enc, config::Secret("Wr0ngPassphrase"));
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message.find("passphrase right"), std::string::npos);
  EXPECT_EQ(wrong.error().message.find("Wr0ngPassphrase"), std::string::npos);

  const auto reversed = path("reversed.pem");
  test_cert().write_pem(reversed, {}, true);
  auto r = ClientCertificate::load(reversed, config::Secret{});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)->thumbprint_sha256(), test_cert().thumbprint_s256());

  const auto p12 = path("key.p12");
  test_cert().write_pkcs12(p12, "p12 pass");
  auto loaded = ClientCertificate::load(p12, config::Secret("p12 pass"));
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ((*loaded)->thumbprint_sha256(), test_cert().thumbprint_s256());
  const auto bad = ClientCertificate::load(p12, config::Secret("Wr0ngPassphrase"));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find(p12), std::string::npos);
  EXPECT_EQ(bad.error().message.find("Wr0ngPassphrase"), std::string::npos);
}

TEST_F(CertificateTest, UnusableFilesAreConfigErrorsThatNameTheFileAndTheProblem) {
  const auto missing = ClientCertificate::load(path("none.pem"), config::Secret{});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("none.pem: cannot open"), std::string::npos);

  const auto cert_only = path("cert-only.pem");
  test_cert().write_certificate(cert_only);
  const auto no_key = ClientCertificate::load(cert_only, config::Secret{});
  ASSERT_FALSE(no_key);
  EXPECT_NE(no_key.error().message.find("holds no private key"), std::string::npos);

  // A key whose certificate is another key's.
  const auto other = TestCertificate::make("other", 1024);
  const auto mismatched = path("mismatched.pem");
  {
    std::unique_ptr<FILE, decltype(&std::fclose)> f(std::fopen(mismatched.c_str(), "wb"),
                                                    std::fclose);
    PEM_write_PKCS8PrivateKey(f.get(), test_cert().key.get(), nullptr, nullptr, 0, nullptr,
                              nullptr);
    PEM_write_X509(f.get(), other.cert.get());
  }
  const auto mm = ClientCertificate::load(mismatched, config::Secret{});
  ASSERT_FALSE(mm);
  EXPECT_NE(mm.error().message.find("no certificate that matches its private key"),
            std::string::npos);

  const auto garbage = path("garbage.bin");
  std::ofstream(garbage) << "not a certificate";
  const auto g = ClientCertificate::load(garbage, config::Secret{});
  ASSERT_FALSE(g);
  EXPECT_NE(g.error().message.find("neither PEM nor PKCS#12"), std::string::npos);
}

TEST_F(CertificateTest, AKeyFileOthersCanReadIsWarnedAboutByName) {
  const auto p = pem();
  EXPECT_FALSE(key_file_permission_warning(p));
  ::chmod(p.c_str(), 0644);
  const auto w = key_file_permission_warning(p);
  ASSERT_TRUE(w);
  EXPECT_NE(w->find(p), std::string::npos);
  EXPECT_NE(w->find("chmod 600"), std::string::npos);
  ::chmod(p.c_str(), 0640);
  EXPECT_TRUE(key_file_permission_warning(p));
}

struct TokenFixture {
  util::FakeClock clock;
  util::FakeSleeper sleeper{&clock};
  http::RetryPolicy policy;
  http::FakeHttpClient fake;
  http::RetryContext retry() {
    http::RetryContext ctx;
    ctx.policy = &policy;
    ctx.clock = &clock;
    ctx.sleeper = &sleeper;
    ctx.random = [] { return 0.0; };
    return ctx;
  }
};

std::map<std::string, std::string> form_of(const std::string& body) {
  std::map<std::string, std::string> out;
  std::size_t pos = 0;
  while (pos < body.size()) {
    auto amp = body.find('&', pos);
    if (amp == std::string::npos) amp = body.size();
    const auto part = body.substr(pos, amp - pos);
    const auto eq = part.find('=');
    std::string value = part.substr(eq + 1);
    std::string decoded;
    for (std::size_t i = 0; i < value.size(); ++i) {
      if (value[i] == '%' && i + 2 < value.size() + 1) {
        decoded += static_cast<char>(std::stoi(value.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        decoded += value[i] == '+' ? ' ' : value[i];
      }
    }
    out[part.substr(0, eq)] = decoded;
    pos = amp + 1;
  }
  return out;
}

TEST_F(CertificateTest, TokenRequestsCarryAFreshAssertionForTheEndpointInsteadOfASecret) {
  for (const std::string version : {"v2", "v1"}) {
    TokenFixture f;
    config::Config c;
    c.auth = "certificate";
    c.login_url = "https://login.example";
    c.tenant_id = "tenant-1";
    c.client_id = "client-1";
    c.token_version = version;
    c.client_certificate_path = pem();
    int n = 0;
    f.fake.set_handler([&](const http::Request&) {
      return http::FakeHttpClient::json(
          200, R"({"token_type":"Bearer","expires_in":3600,"access_token":"tok)" +
                   std::to_string(++n) + "\"}");
    });
    auto cred = make_credential(c, f.fake, f.clock, f.sleeper, f.retry());
    ASSERT_TRUE(cred) << cred.error().message;
    EXPECT_EQ(*cred->provider->token(), "tok1");
    // Cached until five minutes before expiry, then a new request with a new assertion.
    f.clock.advance(seconds{3600 - 301});
    EXPECT_EQ(*cred->provider->token(), "tok1");
    f.clock.advance(seconds{1});
    EXPECT_EQ(*cred->provider->token(), "tok2");
    EXPECT_EQ(cred->fetch_count(), 2);
    const auto reqs = f.fake.requests();
    ASSERT_EQ(reqs.size(), 2U);
    const std::string url = version == "v2" ? "https://login.example/tenant-1/oauth2/v2.0/token"
                                            : "https://login.example/tenant-1/oauth2/token";
    std::string first_jti;
    for (std::size_t i = 0; i < reqs.size(); ++i) {
      EXPECT_EQ(reqs[i].url, url);
      auto form = form_of(reqs[i].body);
      EXPECT_EQ(form.count("client_secret"), 0U);
      EXPECT_EQ(form["grant_type"], "client_credentials");
      EXPECT_EQ(form["client_id"], "client-1");
      EXPECT_EQ(form["client_assertion_type"],
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
      const Jwt j = split(form["client_assertion"]);
      EXPECT_EQ(j.claims["aud"], url);
      EXPECT_TRUE(test_cert().verify(j.header["alg"], j.signing_input, j.signature));
      // Issued at the (fake) time of the request.
      const auto now =
          std::chrono::duration_cast<seconds>(
              (i == 0 ? f.clock.now() - seconds{3600 - 300} : f.clock.now()).time_since_epoch())
              .count();
      EXPECT_EQ(j.claims["iat"], now);
      if (i == 0) first_jti = j.claims["jti"];
      if (i == 1) {
        EXPECT_NE(j.claims["jti"], first_jti);
      }
      if (version == "v2") {
        EXPECT_EQ(form["scope"], "https://api.securitycenter.microsoft.com/.default");
      } else {
        EXPECT_EQ(form["resource"], "https://api.securitycenter.microsoft.com");
      }
    }
  }
}

TEST_F(CertificateTest, AnUnusableCertificateFailsBeforeAnyRequest) {
  TokenFixture f;
  config::Config c;
  c.auth = "certificate";
  c.tenant_id = "t";
  c.client_id = "c";
  c.client_certificate_path = path("missing.pem");
  auto cred = make_credential(c, f.fake, f.clock, f.sleeper, f.retry());
  ASSERT_FALSE(cred);
  EXPECT_EQ(cred.error().code, util::ErrorCode::config);
  EXPECT_TRUE(f.fake.requests().empty());
}

TEST(CertificateErrors, EntrasCertificateErrorsAreExplained) {
  TokenFixture f;
  CredentialOptions o;
  o.login_url = "https://login.example";
  o.tenant_id = "t";
  o.client_id = "c";
  o.client_assertion = [](const std::string&, util::SystemTime) {
    return util::Result<std::string>("header.payload.Sig-Secret-Assertion");
  };
  const std::vector<std::pair<int, std::string>> cases = {
      {700027, "not (or no longer) registered"},
      {700024, "valid time range; check the system clock"},
      {700023, "audience is not this tenant's token endpoint"},
      {700021, "another application; check client_id"},
      {7000274, "certificate has expired"},
      {90002, "cloud = \"gcc-high\""}};
  for (const auto& [code, words] : cases) {
    f.fake.set_handler([code = code](const http::Request&) {
      return http::FakeHttpClient::json(
          401, R"({"error":"invalid_client","error_description":"AADSTS)" + std::to_string(code) +
                   R"(: text","error_codes":[)" + std::to_string(code) + "]}");
    });
    ClientSecretCredential cred(o, f.fake, f.clock, f.retry());
    auto t = cred.token();
    ASSERT_FALSE(t);
    EXPECT_EQ(t.error().code, util::ErrorCode::auth);
    EXPECT_NE(t.error().message.find("AADSTS" + std::to_string(code)), std::string::npos);
    EXPECT_NE(t.error().message.find(words), std::string::npos) << t.error().message;
    EXPECT_EQ(t.error().message.find("Sig-Secret-Assertion"), std::string::npos);
  }
}

}  // namespace
}  // namespace mdesync::auth
