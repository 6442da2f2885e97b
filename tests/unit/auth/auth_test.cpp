#include <gtest/gtest.h>

#include "auth/client_secret_credential.hpp"
#include "auth/jwt.hpp"
#include "http/fake_http_client.hpp"

namespace mdesync::auth {
namespace {

using std::chrono::seconds;

std::string b64url(const std::string& in) {
  static constexpr char k[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  unsigned int val = 0;
  int bits = -6;
  for (char ch : in) {
    val = (val << 8U) + static_cast<unsigned char>(ch);
    bits += 8;
    while (bits >= 0) {
      out.push_back(k[(val >> static_cast<unsigned int>(bits)) & 0x3FU]);
      bits -= 6;
    }
  }
  if (bits > -6) out.push_back(k[((val << 8U) >> static_cast<unsigned int>(bits + 8)) & 0x3FU]);
  return out;
}

std::string jwt(const std::string& payload) {
  return b64url(R"({"alg":"RS256","typ":"JWT"})") + "." + b64url(payload) + ".c2ln";
}

struct Fixture {
  util::FakeClock clock;
  util::FakeSleeper sleeper{&clock};
  http::RetryPolicy policy;
  http::FakeHttpClient fake;
  CredentialOptions options;
  Fixture() {
    options.login_url = "https://login.example/";
    options.tenant_id = "tenant-1";
    options.client_id = "client-1";
    options.client_secret = config::Secret("s3cr3t value&");
    policy.max_retries = 2;
  }
  ClientSecretCredential make() {
    http::RetryContext ctx;
    ctx.policy = &policy;
    ctx.clock = &clock;
    ctx.sleeper = &sleeper;
    ctx.random = [] { return 0.0; };
    return ClientSecretCredential(options, fake, clock, ctx);
  }
};

std::string token_body(const std::string& token, const std::string& expires_in) {
  return R"({"token_type":"Bearer","expires_in":)" + expires_in + R"(,"access_token":")" + token +
         "\"}";
}

TEST(Credential, V2RequestShape) {
  Fixture f;
  f.fake.set_handler([](const http::Request&) {
    return http::FakeHttpClient::json(200, token_body("tok1", "3599"));
  });
  auto cred = f.make();
  auto t = cred.token();
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, "tok1");
  const auto reqs = f.fake.requests();
  ASSERT_EQ(reqs.size(), 1U);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].url, "https://login.example/tenant-1/oauth2/v2.0/token");
  EXPECT_EQ(reqs[0].body,
            "grant_type=client_credentials&client_id=client-1&client_secret=s3cr3t%20value%26"
            "&scope=https%3A%2F%2Fapi.securitycenter.microsoft.com%2F.default");
  EXPECT_EQ(http::find_header(reqs[0].headers, "content-type"),
            "application/x-www-form-urlencoded");
}

TEST(Credential, V1UsesResourceAndStringExpiry) {
  Fixture f;
  f.options.v1 = true;
  f.options.audience = "https://api-gov.securitycenter.microsoft.us";
  f.fake.set_handler([](const http::Request&) {
    return http::FakeHttpClient::json(200, token_body("tok", "\"600\""));
  });
  auto cred = f.make();
  ASSERT_TRUE(cred.token());
  const auto req = f.fake.requests().at(0);
  EXPECT_EQ(req.url, "https://login.example/tenant-1/oauth2/token");
  EXPECT_NE(req.body.find("resource=https%3A%2F%2Fapi-gov.securitycenter.microsoft.us"),
            std::string::npos);
  EXPECT_EQ(req.body.find("scope="), std::string::npos);
  // 600 s lifetime: margin is min(300 s, 300 s) -> refresh after 300 s.
  f.clock.advance(seconds{299});
  ASSERT_TRUE(cred.token());
  EXPECT_EQ(cred.fetch_count(), 1);
  f.clock.advance(seconds{1});
  ASSERT_TRUE(cred.token());
  EXPECT_EQ(cred.fetch_count(), 2);
}

TEST(Credential, CachedUntilFiveMinutesBeforeExpiry) {
  Fixture f;
  int n = 0;
  f.fake.set_handler([&](const http::Request&) {
    return http::FakeHttpClient::json(200, token_body("tok" + std::to_string(++n), "3600"));
  });
  auto cred = f.make();
  EXPECT_EQ(*cred.token(), "tok1");
  f.clock.advance(seconds{3600 - 300 - 1});
  EXPECT_EQ(*cred.token(), "tok1");
  f.clock.advance(seconds{1});
  EXPECT_EQ(*cred.token(), "tok2");
  EXPECT_EQ(cred.fetch_count(), 2);
}

TEST(Credential, InvalidateDropsOnlyThatToken) {
  Fixture f;
  int n = 0;
  f.fake.set_handler([&](const http::Request&) {
    return http::FakeHttpClient::json(200, token_body("tok" + std::to_string(++n), "3600"));
  });
  auto cred = f.make();
  EXPECT_EQ(*cred.token(), "tok1");
  cred.invalidate("other");
  EXPECT_EQ(*cred.token(), "tok1");
  cred.invalidate("tok1");
  EXPECT_EQ(*cred.token(), "tok2");
}

TEST(Credential, WrongSecretExplainedWithoutTheSecret) {
  Fixture f;
  f.fake.set_handler([](const http::Request&) {
    return http::FakeHttpClient::json(
        401,
        R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x","error_codes":[7000215]})");
  });
  auto cred = f.make();
  auto t = cred.token();
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, util::ErrorCode::auth);
  EXPECT_NE(t.error().message.find("AADSTS7000215"), std::string::npos) << t.error().message;
  EXPECT_NE(t.error().message.find("not its Secret ID"), std::string::npos);
  EXPECT_EQ(t.error().message.find("s3cr3t"), std::string::npos);
  EXPECT_EQ(f.fake.requests().size(), 1U);  // 401 is not retried
}

TEST(Credential, UnknownTenantAndConsent) {
  Fixture f;
  f.fake.set_handler([](const http::Request&) {
    return http::FakeHttpClient::json(
        400,
        R"({"error":"invalid_request","error_description":"AADSTS90002: Tenant 'x' not found."})");
  });
  auto t = f.make().token();
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message.find("AADSTS90002"), std::string::npos);
  EXPECT_NE(t.error().message.find("tenant was not found"), std::string::npos);
  EXPECT_NE(explain_aadsts(65001).find("consent"), std::string::npos);
  EXPECT_NE(explain_aadsts(700016).find("client_id"), std::string::npos);
}

TEST(Credential, TransientTokenServiceErrorsRetry) {
  Fixture f;
  int n = 0;
  f.fake.set_handler([&](const http::Request&) -> util::Result<http::Response> {
    if (++n == 1) return util::fail(util::ErrorCode::transport, "reset");
    if (n == 2) return http::FakeHttpClient::json(503, "{}", {{"Retry-After", "3"}});
    return http::FakeHttpClient::json(200, token_body("tok", "3599"));
  });
  auto cred = f.make();
  ASSERT_TRUE(cred.token());
  EXPECT_EQ(f.sleeper.delays(),
            (std::vector<std::chrono::milliseconds>{std::chrono::milliseconds{0},
                                                    std::chrono::milliseconds{3000}}));
}

// One token request makes at most 1 + max_retries attempts, and a caller that asks
// again after it failed gets its error without a further request (issue 27, item 4).
TEST(Credential, ThrottledTokenRequestStopsAfterMaxRetriesAndIsNotSentAgain) {
  Fixture f;
  f.policy.max_retries = 3;
  f.fake.set_handler([](const http::Request&) {
    return http::FakeHttpClient::json(
        429, R"({"error":"temporarily_unavailable","error_codes":[90055]})",
        {{"Retry-After", "1"}});
  });
  auto cred = f.make();
  auto first = cred.token();
  ASSERT_FALSE(first);
  EXPECT_EQ(first.error().code, util::ErrorCode::rate_limited);
  EXPECT_EQ(first.error().http_status, 429);
  EXPECT_EQ(cred.fetch_count(), 4);
  EXPECT_EQ(f.sleeper.delays(), std::vector<std::chrono::milliseconds>(3, seconds{1}));
  EXPECT_NE(first.error().message.find("token service is throttling"), std::string::npos)
      << first.error().message;
  EXPECT_NE(first.error().message.find("client client-1 in tenant tenant-1"), std::string::npos)
      << first.error().message;
  EXPECT_EQ(first.error().message.find("s3cr3t"), std::string::npos);

  f.clock.advance(seconds{60});
  auto again = cred.token();
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, util::ErrorCode::rate_limited);
  EXPECT_EQ(again.error().message, first.error().message);
  EXPECT_EQ(cred.fetch_count(), 4);
  EXPECT_EQ(f.fake.requests().size(), 4U);
}

TEST(Credential, ExhaustedOutageNamesTheTokenService) {
  Fixture f;
  f.fake.set_handler([](const http::Request&) -> util::Result<http::Response> {
    return http::FakeHttpClient::json(503, "{}");
  });
  auto cred = f.make();
  auto t = cred.token();
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, util::ErrorCode::retries_exhausted);
  EXPECT_EQ(cred.fetch_count(), 3);
  EXPECT_NE(t.error().message.find("token service did not issue a token"), std::string::npos)
      << t.error().message;
  EXPECT_NE(t.error().message.find("gave up after 3 attempts; last answer HTTP 503"),
            std::string::npos)
      << t.error().message;
}

TEST(Credential, MissingSettingsAreConfigErrors) {
  Fixture f;
  f.options.client_secret = config::Secret();
  auto t = f.make().token();
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, util::ErrorCode::config);
  EXPECT_TRUE(f.fake.requests().empty());
}

TEST(Jwt, DecodesRolesWithoutSignatureCheck) {
  auto c = decode_claims(jwt(
      R"({"aud":"https://api.securitycenter.microsoft.com","tid":"t","roles":["Machine.Read.All","Vulnerability.Read.All"],"exp":1767229200})"));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->roles, (std::vector<std::string>{"Machine.Read.All", "Vulnerability.Read.All"}));
  EXPECT_EQ(c->audience, "https://api.securitycenter.microsoft.com");
  EXPECT_EQ(c->expires_at, 1767229200);
  auto none = decode_claims(jwt(R"({"aud":"x"})"));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->roles.empty());
  EXPECT_FALSE(decode_claims("not-a-jwt"));
  EXPECT_FALSE(decode_claims("a.!!!.c"));
}

}  // namespace
}  // namespace mdesync::auth
