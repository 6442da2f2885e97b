#include "http/retry.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <future>

#include "http/fake_http_client.hpp"

namespace mdesync::http {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

struct Fixture {
  util::FakeClock clock;
  util::FakeSleeper sleeper{&clock};
  RetryPolicy policy;
  RetryCounters counters;
  RetryContext ctx() {
    RetryContext c;
    c.policy = &policy;
    c.clock = &clock;
    c.sleeper = &sleeper;
    c.random = [] { return 0.5; };
    c.counters = &counters;
    c.error_code = [](const Response& r) { return r.body; };
    return c;
  }
};

Attempt scripted(std::deque<util::Result<Response>>& script) {
  return [&script]() -> util::Result<Response> {
    auto r = std::move(script.front());
    script.pop_front();
    return r;
  };
}

TEST(RetryableStatus, Classification) {
  for (int s : {408, 429, 500, 502, 503, 504, 599}) EXPECT_TRUE(is_retryable_status(s)) << s;
  for (int s : {200, 201, 204, 301, 400, 401, 403, 404, 409, 501})
    EXPECT_FALSE(is_retryable_status(s)) << s;
}

TEST(Backoff, FullJitterExponentialCapped) {
  RetryPolicy p;
  p.base_delay = milliseconds{1000};
  p.max_delay = milliseconds{8000};
  EXPECT_EQ(backoff_delay(p, 0, 0.5), milliseconds{500});
  EXPECT_EQ(backoff_delay(p, 1, 0.5), milliseconds{1000});
  EXPECT_EQ(backoff_delay(p, 2, 0.5), milliseconds{2000});
  EXPECT_EQ(backoff_delay(p, 3, 0.5), milliseconds{4000});
  EXPECT_EQ(backoff_delay(p, 4, 0.5), milliseconds{4000});  // capped at 8 s * 0.5
  EXPECT_EQ(backoff_delay(p, 40, 0.999), milliseconds{7992});
  EXPECT_EQ(backoff_delay(p, 3, 0.0), milliseconds{0});
}

TEST(RetryAfter, SecondsAndHttpDates) {
  const util::SystemTime now = std::chrono::sys_days{std::chrono::year{1994} / 11 / 6} +
                               std::chrono::hours{8} + std::chrono::minutes{49};
  EXPECT_EQ(parse_retry_after("30", now), seconds{30});
  EXPECT_EQ(parse_retry_after(" 0 ", now), seconds{0});
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), seconds{37});
  EXPECT_EQ(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now), seconds{37});
  EXPECT_EQ(parse_retry_after("Sun Nov  6 08:49:37 1994", now), seconds{37});
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now), seconds{0});  // past
  EXPECT_FALSE(parse_retry_after("soon", now));
  EXPECT_FALSE(parse_retry_after("-5", now));
  EXPECT_FALSE(parse_retry_after("", now));
}

TEST(RunWithRetry, ExactBackoffSequenceThenSuccess) {
  Fixture f;
  f.policy.max_retries = 5;
  std::deque<util::Result<Response>> script;
  script.emplace_back(Response{503, {}, ""});
  script.emplace_back(util::fail(util::ErrorCode::transport, "GET http://h/p: reset"));
  script.emplace_back(Response{500, {}, ""});
  script.emplace_back(Response{200, {}, "ok"});
  auto r = run_with_retry(f.ctx(), "GET x", scripted(script));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "ok");
  EXPECT_EQ(f.sleeper.delays(),
            (std::vector<milliseconds>{milliseconds{500}, milliseconds{1000}, milliseconds{2000}}));
  EXPECT_EQ(f.counters.attempts.load(), 4U);
  EXPECT_EQ(f.counters.retries.load(), 3U);
}

TEST(RunWithRetry, RetryAfterWinsOverBackoff) {
  Fixture f;
  std::deque<util::Result<Response>> script;
  script.emplace_back(Response{429, {{"Retry-After", "7"}}, ""});
  script.emplace_back(Response{503, {{"retry-after", "Thu, 01 Jan 2026 00:00:03 GMT"}}, ""});
  script.emplace_back(Response{200, {}, ""});
  auto r = run_with_retry(f.ctx(), "GET x", scripted(script));
  ASSERT_TRUE(r);
  // FakeClock starts at 2026-01-01T00:00:00Z; after 7 s the date is 3 s in the past -> 0.
  EXPECT_EQ(f.sleeper.delays(), (std::vector<milliseconds>{milliseconds{7000}, milliseconds{0}}));
  EXPECT_EQ(f.counters.throttled.load(), 1U);
}

TEST(RunWithRetry, HttpDateInTheFuture) {
  Fixture f;
  std::deque<util::Result<Response>> script;
  script.emplace_back(Response{503, {{"Retry-After", "Thu, 01 Jan 2026 00:00:12 GMT"}}, ""});
  script.emplace_back(Response{200, {}, ""});
  ASSERT_TRUE(run_with_retry(f.ctx(), "GET x", scripted(script)));
  EXPECT_EQ(f.sleeper.delays(), (std::vector<milliseconds>{milliseconds{12000}}));
}

TEST(RunWithRetry, ExhaustedNamesAttemptsStatusAndCode) {
  Fixture f;
  f.policy.max_retries = 2;
  std::deque<util::Result<Response>> script;
  for (int i = 0; i < 3; ++i) script.emplace_back(Response{503, {}, "ServiceUnavailable"});
  auto r = run_with_retry(f.ctx(), "GET https://api/x", scripted(script));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::retries_exhausted);
  EXPECT_EQ(r.error().http_status, 503);
  EXPECT_NE(r.error().message.find("3 attempts"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("HTTP 503 ServiceUnavailable"), std::string::npos);
  EXPECT_EQ(f.sleeper.delays().size(), 2U);
}

TEST(RunWithRetry, ThrottledToTheEndIsRateLimited) {
  Fixture f;
  f.policy.max_retries = 1;
  std::deque<util::Result<Response>> script;
  script.emplace_back(Response{429, {{"Retry-After", "2"}}, "TooManyRequests"});
  script.emplace_back(Response{429, {{"Retry-After", "2"}}, "TooManyRequests"});
  auto r = run_with_retry(f.ctx(), "GET x", scripted(script));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::rate_limited);
  EXPECT_EQ(r.error().retry_after, seconds{2});
}

TEST(RunWithRetry, ZeroRetriesMeansOneAttempt) {
  Fixture f;
  f.policy.max_retries = 0;
  std::deque<util::Result<Response>> script;
  script.emplace_back(Response{500, {}, ""});
  EXPECT_FALSE(run_with_retry(f.ctx(), "GET x", scripted(script)));
  EXPECT_TRUE(f.sleeper.delays().empty());
}

TEST(RunWithRetry, NonRetryableStatusAndErrorsReturnAtOnce) {
  Fixture f;
  std::deque<util::Result<Response>> script;
  script.emplace_back(Response{501, {}, ""});
  auto r = run_with_retry(f.ctx(), "GET x", scripted(script));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 501);
  script.emplace_back(util::fail(util::ErrorCode::parse, "bad"));
  auto e = run_with_retry(f.ctx(), "GET x", scripted(script));
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code, util::ErrorCode::parse);
  EXPECT_TRUE(f.sleeper.delays().empty());
}

// A certificate the client does not trust will not become trusted by waiting: the
// loop must end at the first attempt instead of spending its backoff (issue 17, item 6).
TEST(RunWithRetry, TlsCertificateFailureIsNotRetried) {
  Fixture f;
  std::deque<util::Result<Response>> script;
  script.emplace_back(util::fail(util::ErrorCode::tls_certificate, "GET https://h/p: untrusted"));
  script.emplace_back(Response{200, {}, "must not be reached"});
  auto r = run_with_retry(f.ctx(), "GET x", scripted(script));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::tls_certificate);
  EXPECT_EQ(script.size(), 1U);
  EXPECT_TRUE(f.sleeper.delays().empty());
  EXPECT_EQ(f.counters.retries.load(), 0U);
}

TEST(RunWithRetry, HugeRetryAfterFailsFastWithTheValue) {
  Fixture f;
  std::deque<util::Result<Response>> script;
  script.emplace_back(Response{429, {{"Retry-After", "3600"}}, ""});
  auto r = run_with_retry(f.ctx(), "GET x", scripted(script));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::rate_limited);
  EXPECT_EQ(r.error().retry_after, seconds{3600});
  EXPECT_TRUE(f.sleeper.delays().empty());
}

// A wait of the loop held in fake time (a blocking sleeper) ends at once when the run is
// cancelled: the loop returns `cancelled` without a further attempt, and no fake time
// passes. `answer` is what every attempt gets.
void expect_cancel_ends_the_wait(const Response& answer, milliseconds expected_wait) {
  util::FakeClock clock;
  const auto start = clock.now();
  util::FakeSleeper sleeper(&clock, true);
  util::CancelToken cancel;
  RetryPolicy policy;
  policy.base_delay = seconds{60};
  policy.max_delay = seconds{600};
  RetryContext ctx;
  ctx.policy = &policy;
  ctx.clock = &clock;
  ctx.sleeper = &sleeper;
  ctx.random = [] { return 0.5; };
  ctx.cancel = &cancel;
  int attempts = 0;
  auto run = std::async(std::launch::async, [&] {
    return run_with_retry(ctx, "GET x", [&]() -> util::Result<Response> {
      ++attempts;
      return answer;
    });
  });
  ASSERT_TRUE(sleeper.wait_until_sleeping(1, seconds{60}));
  cancel.cancel();
  if (run.wait_for(seconds{60}) != std::future_status::ready) {
    // The wait ignored the cancellation: let it run out before failing.
    for (int i = 0; i < 10 && run.wait_for(milliseconds{100}) != std::future_status::ready; ++i)
      sleeper.advance(seconds{3600});
    FAIL() << "the wait did not end on cancel";
  }
  auto r = run.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::cancelled) << r.error().message;
  EXPECT_EQ(attempts, 1);
  EXPECT_EQ(sleeper.delays(), std::vector<milliseconds>{expected_wait});
  EXPECT_EQ(clock.now(), start);
}

TEST(RunWithRetry, CancelDuringA120SecondRetryAfterReturnsAtOnce) {
  expect_cancel_ends_the_wait(Response{429, {{"Retry-After", "120"}}, ""}, seconds{120});
}

TEST(RunWithRetry, CancelDuringABackoffReturnsAtOnce) {
  expect_cancel_ends_the_wait(Response{503, {}, ""}, seconds{30});  // 60 s * 2^0 * 0.5
}

TEST(RunWithRetry, CancelledBeforeTheFirstAttemptSendsNothing) {
  Fixture f;
  util::CancelToken cancel;
  cancel.cancel();
  auto ctx = f.ctx();
  ctx.cancel = &cancel;
  int attempts = 0;
  auto r = run_with_retry(ctx, "POST token", [&]() -> util::Result<Response> {
    ++attempts;
    return Response{200, {}, ""};
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, util::ErrorCode::cancelled);
  EXPECT_EQ(attempts, 0);
}

TEST(RetryingHttpClient, RetriesThroughTheSeam) {
  Fixture f;
  int calls = 0;
  FakeHttpClient fake([&](const Request&) -> util::Result<Response> {
    return Response{++calls < 3 ? 502 : 200, {}, "body"};
  });
  RetryingHttpClient client(fake, f.ctx());
  std::string got;
  auto r = client.stream(Request{"GET", "http://h/x", {}, "", {}}, [&](std::string_view c) {
    got += c;
    return util::Status{};
  });
  ASSERT_TRUE(r);
  EXPECT_EQ(got, "body");
  EXPECT_EQ(calls, 3);
}

}  // namespace
}  // namespace mdesync::http
