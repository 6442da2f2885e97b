// The managed identity credential against a fake identity endpoint: the request shapes of
// the instance metadata service and of App Service, its own retry rules on a fake clock,
// caching and refresh, and the errors for a missing endpoint or identity.
#include <gtest/gtest.h>

#include "auth/managed_identity_credential.hpp"
#include "http/fake_http_client.hpp"
#include "util/cancel.hpp"

namespace mdesync::auth {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

struct Fixture {
  util::FakeClock clock;
  util::FakeSleeper sleeper{&clock};
  http::FakeHttpClient fake;
  ManagedIdentityOptions options;
  Fixture() { options.imds_endpoint = "http://127.0.0.1:9/metadata/identity/oauth2/token"; }
  ManagedIdentityCredential make() {
    return ManagedIdentityCredential(options, fake, clock, sleeper);
  }
};

http::Response ok(const std::string& token, long long expires_in = 3599) {
  return http::FakeHttpClient::json(200, R"({"access_token":")" + token + R"(","expires_in":")" +
                                             std::to_string(expires_in) +
                                             R"(","token_type":"Bearer"})");
}

TEST(ManagedIdentity, InstanceMetadataRequestShape) {
  Fixture f;
  f.options.audience = "https://api-gov.securitycenter.microsoft.us/";
  f.fake.set_handler([](const http::Request&) { return ok("tok"); });
  auto cred = f.make();
  ASSERT_EQ(*cred.token(), "tok");
  const auto req = f.fake.requests().at(0);
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.url,
            "http://127.0.0.1:9/metadata/identity/oauth2/token?api-version=2018-02-01&resource="
            "https%3A%2F%2Fapi-gov.securitycenter.microsoft.us");
  EXPECT_EQ(http::find_header(req.headers, "Metadata"), "true");
  EXPECT_FALSE(http::find_header(req.headers, "X-IDENTITY-HEADER"));
}

TEST(ManagedIdentity, UserAssignedIdentityAndAppService) {
  Fixture f;
  f.options.client_id = "mi-client";
  f.options.identity_endpoint = "http://127.0.0.1:8081/msi/token";
  f.options.identity_header = config::Secret("hdr-secret");
  f.fake.set_handler([](const http::Request&) { return ok("tok"); });
  auto cred = f.make();
  ASSERT_TRUE(cred.token());
  const auto req = f.fake.requests().at(0);
  EXPECT_EQ(req.url,
            "http://127.0.0.1:8081/msi/token?api-version=2019-08-01&resource="
            "https%3A%2F%2Fapi.securitycenter.microsoft.com&client_id=mi-client");
  EXPECT_EQ(http::find_header(req.headers, "X-IDENTITY-HEADER"), "hdr-secret");
  EXPECT_FALSE(http::find_header(req.headers, "Metadata"));
}

TEST(ManagedIdentity, CachedAndRefreshedBeforeExpiryFromExpiresOn) {
  Fixture f;
  int n = 0;
  f.fake.set_handler([&](const http::Request&) {
    const auto now = std::chrono::duration_cast<seconds>(f.clock.now().time_since_epoch()).count();
    return http::FakeHttpClient::json(200, R"({"access_token":"tok)" + std::to_string(++n) +
                                               R"(","expires_on":")" + std::to_string(now + 3600) +
                                               "\"}");
  });
  auto cred = f.make();
  EXPECT_EQ(*cred.token(), "tok1");
  f.clock.advance(seconds{3600 - 301});
  EXPECT_EQ(*cred.token(), "tok1");
  f.clock.advance(seconds{1});
  EXPECT_EQ(*cred.token(), "tok2");
  cred.invalidate("tok2");
  EXPECT_EQ(*cred.token(), "tok3");
  EXPECT_EQ(cred.fetch_count(), 3);
}

// While an identity is being set up the metadata service answers 404, 410, 429 and 5xx:
// retried with doubling waits (Retry-After when longer), then a token.
TEST(ManagedIdentity, RetriesTheMetadataServicesTransientAnswers) {
  Fixture f;
  const std::vector<int> statuses = {404, 410, 429, 500, 503};
  std::size_t i = 0;
  f.fake.set_handler([&](const http::Request&) -> util::Result<http::Response> {
    if (i < statuses.size()) {
      auto r = http::FakeHttpClient::json(statuses[i], R"({"error":"busy"})");
      if (statuses[i] == 429) r.headers.emplace_back("Retry-After", "30");
      ++i;
      return r;
    }
    return ok("tok");
  });
  auto cred = f.make();
  auto t = cred.token();
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(cred.fetch_count(), 6);
  const std::vector<milliseconds> want = {milliseconds{2000}, milliseconds{4000},
                                          milliseconds{30000}, milliseconds{16000},
                                          milliseconds{32000}};
  EXPECT_EQ(f.sleeper.delays(), want);
}

TEST(ManagedIdentity, GivesUpAfterMaxRetriesAndDoesNotAskAgain) {
  Fixture f;
  f.options.max_retries = 2;
  f.fake.set_handler(
      [](const http::Request&) { return http::FakeHttpClient::json(503, R"({"error":"x"})"); });
  auto cred = f.make();
  auto t = cred.token();
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, util::ErrorCode::retries_exhausted);
  EXPECT_NE(t.error().message.find("gave up after 3 attempts; last answer HTTP 503"),
            std::string::npos)
      << t.error().message;
  EXPECT_FALSE(cred.token());
  EXPECT_EQ(cred.fetch_count(), 3);
}

TEST(ManagedIdentity, NoEndpointIsAClearAuthErrorWithoutRetries) {
  Fixture f;
  f.fake.set_handler([](const http::Request&) -> util::Result<http::Response> {
    return util::fail(util::ErrorCode::transport, "connection refused");
  });
  auto cred = f.make();
  auto t = cred.token();
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, util::ErrorCode::auth);
  EXPECT_NE(t.error().message.find("no managed identity endpoint answered at "
                                   "http://127.0.0.1:9/metadata/identity/oauth2/token"),
            std::string::npos)
      << t.error().message;
  EXPECT_NE(t.error().message.find("auth = \"certificate\""), std::string::npos);
  EXPECT_EQ(cred.fetch_count(), 1);
}

TEST(ManagedIdentity, UnknownUserAssignedIdentityIsExplainedWithoutTheHeader) {
  Fixture f;
  f.options.client_id = "wrong-mi";
  f.options.identity_endpoint = "http://127.0.0.1:8081/msi/token";
  f.options.identity_header = config::Secret("Hdr-Secret-Value");
  f.fake.set_handler([](const http::Request&) {
    return http::FakeHttpClient::json(
        400, R"({"error":"invalid_request","error_description":"Identity not found"})");
  });
  auto cred = f.make();
  auto t = cred.token();
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, util::ErrorCode::auth);
  EXPECT_NE(t.error().message.find("user-assigned managed identity wrong-mi"), std::string::npos);
  EXPECT_NE(t.error().message.find("Identity not found"), std::string::npos);
  EXPECT_NE(t.error().message.find("check that client_id"), std::string::npos);
  EXPECT_EQ(t.error().message.find("Hdr-Secret-Value"), std::string::npos);
  EXPECT_EQ(cred.fetch_count(), 1);
}

// A signal during the wait between attempts ends it at once (no further request), and
// the retries it made count with the client's.
TEST(ManagedIdentity, ACancelEndsTheWaitBetweenAttemptsAndRetriesAreCounted) {
  Fixture f;
  f.fake.set_handler([](const http::Request&) { return http::FakeHttpClient::json(429, "{}"); });
  http::RetryCounters counters;
  f.options.counters = &counters;
  {
    auto cred = f.make();
    auto r = cred.token();
    ASSERT_FALSE(r);
    EXPECT_EQ(counters.retries.load(), 5U);
    EXPECT_EQ(counters.throttled.load(), 5U);
  }
  util::CancelToken cancel;
  cancel.cancel();
  f.options.cancel = &cancel;
  const auto sent = f.fake.requests().size();
  auto cred = f.make();
  auto r = cred.token();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::cancelled) << r.error().message;
  EXPECT_EQ(f.fake.requests().size(), sent + 1);
}

}  // namespace
}  // namespace mdesync::auth
